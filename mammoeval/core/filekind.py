"""What kind of file a path is, told from `os.stat` alone: the check made before opening anything.

A FIFO blocks the process that opens it until a writer (or reader) appears, and a device or a
socket is no image or state file, so every reader asks here first and refuses such a path in one
line naming it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from mammoeval.core.errors import BadInputError


def file_kind_problem(path: str | Path) -> str | None:
    """Return why `path` cannot be opened as a regular file (None when it can), without opening it.

    Checked with `os.stat` only, so a FIFO, a device or a socket is never opened (opening a FIFO
    blocks until a writer appears). Reasons: symlink loop, dangling symlink, missing, a folder,
    a FIFO, a socket, a character or block device, unreadable.
    """
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        if e.errno == errno.ENOENT:
            return "dangling symlink" if os.path.islink(p) else "no such file"
        if e.errno == errno.ENAMETOOLONG:
            return "file name too long"
        return f"cannot stat ({e.strerror or e})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return f"not a regular file ({kind})"
    return "not a regular file"


def check_regular_file(path: str | Path) -> None:
    """Return when `path` is (or links to) a regular file.

    Raises:
        BadInputError: it is a symlink loop, a dangling link, missing, a folder, a FIFO, a socket or a
            device (see `file_kind_problem`).
    """
    problem = file_kind_problem(path)
    if problem is not None:
        raise BadInputError(path, problem)
