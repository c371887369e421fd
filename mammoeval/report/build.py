"""`mammoeval report`: gather a run directory or a scored pair of folders and render the report."""

from __future__ import annotations

from pathlib import Path

from mammoeval.core import rundir
from mammoeval.core.errors import ConfigError
from mammoeval.report.context import ReportOptions
from mammoeval.report.gather import gather_folders, gather_run
from mammoeval.report.html import ReportResult, render_report


def build_report(run_dir: str | Path | None = None, *, out: str | Path | None = None,
                 real: str | Path | None = None, fake: str | Path | None = None,
                 scores: str | Path | None = None, options: ReportOptions = ReportOptions(),
                 progress: bool = True) -> ReportResult:
    """Write the report of a run directory, or of a pair of image folders, and return where it is.

    Args:
        run_dir: a run directory; exclusive with `real`/`fake`.
        out: report folder; default ``RUN_DIR/report`` (run) or ``./report`` (folders).
        real, fake: the folder pair (both needed) for folder mode.
        scores: folder mode only: the scores.json of `mammoeval score --real --fake` (default: found
            inside or beside the fake folder).
        options: gallery sizes and seeds.
        progress: show progress bars.

    Raises:
        ConfigError: neither or both modes given.
        BadInputError: unreadable inputs (one line naming the file).
    """
    if run_dir is not None and (real is not None or fake is not None):
        raise ConfigError("give either RUN_DIR or --real and --fake, not both")
    if run_dir is not None:
        data = gather_run(run_dir, options=options, progress=progress)
        return render_report(data, out or Path(run_dir) / rundir.REPORT_DIR)
    if real is None or fake is None:
        raise ConfigError("give RUN_DIR, or both --real DIR and --fake DIR")
    data = gather_folders(real, fake, scores_file=scores, options=options, progress=progress)
    return render_report(data, out or Path("report"))
