"""The report in a real browser: headless Chromium renders it, every image decodes, sections are there.

Skips cleanly where Debian's `chromium` is not installed (`apt-get install -y chromium`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammoeval.report.gather import gather_run
from mammoeval.report.html import render_report
from tests.report.conftest import SMALL, PhantomGenerator, make_run

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_report_renders_in_headless_chromium(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    browser = _chromium()
    assert browser
    run = make_run(tmp_path / "run", phantom_dir_80x64)
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(), progress=False)
    res = render_report(data, tmp_path / "out")
    url = res.index.resolve().as_uri()

    dom = _run(["--virtual-time-budget=5000", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    n_images = int(re.search(r'data-images="(\d+)"', body.group(0)).group(1))
    assert n_images > 20
    assert 'data-images-loaded="ok"' in body.group(0)  # every <img> has naturalWidth > 0
    for section in ("summary", "view-CC", "view-MLO", "statistics", "training"):
        assert f'id="{section}"' in dom.stdout

    shot = tmp_path / "shot.png"
    cap = _run([f"--screenshot={shot}", "--window-size=1280,2000", url], tmp_path)
    assert cap.returncode == 0 and shot.is_file(), cap.stderr[-2000:]
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 10  # not a blank page: text, tables and mammograms
