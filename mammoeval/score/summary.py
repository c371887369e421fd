"""The end-of-scoring summary: a rich table of score rows (SWD shown x1e3, as the paper prints it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from mammoeval.metrics.keys import (
    KEY_ARTIFACT_RATE,
    KEY_FID,
    KEY_MEMORIZATION_RATE,
    KEY_MSSSIM_FAKE,
    KEY_MSSSIM_REAL,
    KEY_SWD_AVG,
)
from mammoeval.metrics.registry import display_scale, scale_suffix
from mammoeval.score.rows import metric_of


def _fmt(row: Mapping[str, Any], key: str, *, ci: bool = False) -> str:
    """Return the all-views value of `key` at its display scale (and its interval), "-" when absent."""
    scale = display_scale(key)
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
    swd_header = " ".join(p for p in ("SWD", scale_suffix(display_scale(KEY_SWD_AVG)), "[95% CI]") if p)
    for col, justify in (("checkpoint", "left"), ("kimg", "right"), ("res", "right"), (swd_header, "right"),
                         ("MS-SSIM fake/real", "right"), ("FID", "right"), ("artifacts", "right"),
                         ("memorized", "right"), ("s", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    chosen = best.get("checkpoint") if best else None
    for r in rows:
        res = r.get("resolution") or ["?", "?"]
        kimg = r.get("kimg")
        name = f"* {r['checkpoint']}" if r["checkpoint"] == chosen else r["checkpoint"]
        table.add_row(name, "-" if kimg is None else f"{kimg:g}", f"{res[0]}x{res[1]}",
                      _fmt(r, KEY_SWD_AVG, ci=True),
                      f"{_fmt(r, KEY_MSSSIM_FAKE)}/{_fmt(r, KEY_MSSSIM_REAL)}", _fmt(r, KEY_FID),
                      _fmt(r, KEY_ARTIFACT_RATE), _fmt(r, KEY_MEMORIZATION_RATE),
                      f"{(r.get('timing') or {}).get('total_s', 0):.1f}")
    return table
