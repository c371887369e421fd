"""`mammoeval report`: gather a run directory or a scored pair of folders and render the report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mammoeval.core import rundir
from mammoeval.core.errors import ConfigError
from mammoeval.report.context import ReportOptions
from mammoeval.report.extras import read_study
from mammoeval.report.gather import gather_folders, gather_run
from mammoeval.report.html import ReportResult, render_report


def build_report(run_dir: str | Path | None = None, *, out: str | Path | None = None,
                 real: str | Path | None = None, fake: str | Path | None = None,
                 scores: str | Path | None = None, options: ReportOptions = ReportOptions(),
                 study: str | Path | None = None, progress: bool = True) -> ReportResult:
    """Write the report of a run directory, or of a pair of image folders, and return where it is.

    Args:
        run_dir: a run directory; exclusive with `real`/`fake`.
        out: report folder; default ``RUN_DIR/report`` (run) or ``./report`` (folders).
        real, fake: the folder pair (both needed) for folder mode.
        scores: folder mode only: the scores.json of `mammoeval score --real --fake` (default: found
            inside or beside the fake folder).
        options: gallery sizes and seeds.
        study: results of `mammoeval study score` to show (default: RUN_DIR/study_results.json if present).
        progress: show progress bars.

    Raises:
        ConfigError: neither or both modes given.
        BadInputError: unreadable inputs (one line naming the file).
    """
    if run_dir is not None and (real is not None or fake is not None):
        raise ConfigError("give either RUN_DIR or --real and --fake, not both")
    study_results = read_study(study) if study is not None else None
    if run_dir is not None:
        data = gather_run(run_dir, options=options, progress=progress)
        if study_results is not None:
            data = dataclasses.replace(data, study=study_results)
        return render_report(data, out or Path(run_dir) / rundir.REPORT_DIR)
    if real is None or fake is None:
        raise ConfigError("give RUN_DIR, or both --real DIR and --fake DIR")
    data = gather_folders(real, fake, scores_file=scores, options=options, progress=progress)
    if study_results is not None:
        data = dataclasses.replace(data, study=study_results)
    return render_report(data, out or Path("report"))
