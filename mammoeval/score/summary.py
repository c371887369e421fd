"""The end-of-scoring summary: a rich table of score rows (SWD shown x1e3, as the paper prints it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from mammoeval.score.rows import metric_of

SWD_DISPLAY_SCALE = 1e3
"""SWD is stored raw; tables print it x1e3 (the column header says so)."""


def _fmt(row: Mapping[str, Any], key: str, *, scale: float = 1.0, ci: bool = False) -> str:
    m = metric_of(row, key, "all")
    if m is None:
        return "-"
    text = f"{m.value * scale:.3g}"
    if ci and m.ci is not None:
        text += f" [{m.ci[0] * scale:.3g}, {m.ci[1] * scale:.3g}]"
    return text


def render_summary(rows: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None, *, title: str) -> Table:
    """Return a table with one line per score row (all views); the selected checkpoint is starred."""
    table = Table(title=title)
    for col, justify in (("checkpoint", "left"), ("kimg", "right"), ("res", "right"), ("SWD x1e3 [95% CI]", "right"),
                         ("MS-SSIM fake/real", "right"), ("FID", "right"), ("artifacts", "right"),
                         ("memorized", "right"), ("s", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    chosen = best.get("checkpoint") if best else None
    for r in rows:
        res = r.get("resolution") or ["?", "?"]
        kimg = r.get("kimg")
        name = f"* {r['checkpoint']}" if r["checkpoint"] == chosen else r["checkpoint"]
        table.add_row(name, "-" if kimg is None else f"{kimg:g}", f"{res[0]}x{res[1]}",
                      _fmt(r, "swd_avg", scale=SWD_DISPLAY_SCALE, ci=True),
                      f"{_fmt(r, 'msssim_fake')}/{_fmt(r, 'msssim_real')}", _fmt(r, "fid"),
                      _fmt(r, "artifact_rate"), _fmt(r, "memorization_rate"),
                      f"{(r.get('timing') or {}).get('total_s', 0):.1f}")
    return table
