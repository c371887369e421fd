"""Regenerate the committed example report (reports/example/) and the README screenshot.

    python benchmarks/make_example_report.py [--run runs/demo] [--n-per-view 64] [--last 3]

Steps (each skipped when its output already exists, so a half-done run resumes):
1. train the `demo` preset into --run (built-in phantom data) unless it has checkpoints;
2. score its checkpoints (`mammoeval score`, incremental) unless scores.jsonl covers them;
3. write the report into reports/example/ (must stay under 5 MB);
4. screenshot it with headless Chromium into docs/report_screenshot.png (skipped without chromium).

Equivalent commands: ``mammoeval train --preset demo --out runs/demo && mammoeval score runs/demo
--n 64 --last 3 && mammoeval report runs/demo --out reports/example``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "reports" / "example"
SCREENSHOT = ROOT / "docs" / "report_screenshot.png"
MAX_BYTES = 5_000_000


def ensure_trained(run: Path) -> None:
    """Train the demo preset into `run` unless it already has checkpoints."""
    from mammoeval.core.rundir import list_checkpoints

    if list_checkpoints(run):
        return
    from mammoeval_train.config import preset
    from mammoeval_train.loop import train

    train(preset("demo"), data=None, out=run, resume=(run / "config.json").is_file(), progress=True)


def ensure_scored(run: Path, n_per_view: int, last: int) -> None:
    """Score the run's last `last` checkpoints (incremental: already scored ones are skipped)."""
    from mammoeval.score.run import score_run
    from mammoeval.score.settings import ScoreSettings

    score_run(run, settings=ScoreSettings(n_per_view=n_per_view), last=last, progress=True)


def screenshot(index: Path, png: Path) -> bool:
    """Screenshot the report's top 1280x2400 px with headless Chromium; False when chromium is absent."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium not found: screenshot skipped (apt-get install -y chromium)")
        return False
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2400",
                        "--hide-scrollbars", index.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--n-per-view", type=int, default=64)
    parser.add_argument("--last", type=int, default=3, help="score the last N checkpoints")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    ensure_trained(args.run)
    ensure_scored(args.run, args.n_per_view, args.last)

    from mammoeval.report.build import build_report

    result = build_report(args.run, out=EXAMPLE, progress=True)
    print(f"report: {result.index} ({result.size_bytes / 1e6:.2f} MB, {result.n_images} images)")
    if result.size_bytes > MAX_BYTES:
        raise SystemExit(f"example report is {result.size_bytes / 1e6:.1f} MB, over the 5 MB limit")
    if screenshot(result.index, SCREENSHOT):
        print(f"screenshot: {SCREENSHOT}")


if __name__ == "__main__":
    main()
