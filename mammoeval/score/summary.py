"""The end-of-scoring summary: a rich table of score rows (SWD shown x1e3, as the paper prints it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from mammoeval.metrics.keys import (
    KEY_ARTIFACT_RATE,
    KEY_C2ST_AUC,
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


def _columns() -> tuple[tuple[str, str], ...]:
    swd_header = " ".join(p for p in ("SWD", scale_suffix(display_scale(KEY_SWD_AVG)), "[95% CI]") if p)
    return (("checkpoint", "left"), ("kimg", "right"), ("res", "right"), (swd_header, "right"),
            ("MS-SSIM fake/real", "right"), ("FID", "right"), ("C2ST AUC", "right"), ("artifacts", "right"),
            ("memorized", "right"), ("s", "right"))


_STACKED_HEADERS: dict[str, str] = {
    "MS-SSIM fake/real": "MS-SSIM\nfake/real", "C2ST AUC": "C2ST\nAUC", "artifacts": "artifact\nrate",
    "memorized": "memo-\nrized",
}


def _stacked_header(col: str) -> str:
    if col.endswith(" [95% CI]"):
        return col[: -len(" [95% CI]")] + "\n[95% CI]"
    return _STACKED_HEADERS.get(col, col)


def _cells(r: Mapping[str, Any], chosen: Any) -> list[str]:
    res = r.get("resolution") or ["?", "?"]
    kimg = r.get("kimg")
    name = f"* {r['checkpoint']}" if r["checkpoint"] == chosen else str(r["checkpoint"])
    return [name, "-" if kimg is None else f"{kimg:g}", f"{res[0]}x{res[1]}", _fmt(r, KEY_SWD_AVG, ci=True),
            f"{_fmt(r, KEY_MSSSIM_FAKE)}/{_fmt(r, KEY_MSSSIM_REAL)}", _fmt(r, KEY_FID), _fmt(r, KEY_C2ST_AUC, ci=True),
            _fmt(r, KEY_ARTIFACT_RATE), _fmt(r, KEY_MEMORIZATION_RATE),
            f"{(r.get('timing') or {}).get('total_s', 0):.1f}"]


class SummaryTable:
    """Rich renderable of score rows that fits the console: one line per row where the terminal is wide
    enough, else intervals stacked under values, else one block of ``metric  value`` lines per row
    (never squeezed into wrapped, truncated columns)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None, *, title: str) -> None:
        self.rows, self.title = list(rows), title
        self.chosen = best.get("checkpoint") if best else None

    def wide(self, *, stacked: bool = False) -> Table:
        """Return the one-row-per-score-row table; `stacked` puts intervals under their values and
        breaks two-word headers (about 25 % narrower)."""
        table = Table(title=self.title)
        for col, justify in _columns():
            table.add_column(_stacked_header(col) if stacked else col, justify=justify,  # type: ignore[arg-type]
                             no_wrap=True)
        for r in self.rows:
            cells = _cells(r, self.chosen)
            table.add_row(*(c.replace(" [", "\n[").replace("/", "/\n", 1) if stacked and k > 0 else c
                            for k, c in enumerate(cells)))
        return table

    def long(self) -> Table:
        """Return the narrow form: per row, its checkpoint and then one line per number."""
        table = Table(title=self.title, show_header=False, box=None, padding=(0, 1))
        table.add_column("what", no_wrap=True)
        table.add_column("value", overflow="fold")
        for r in self.rows:
            cells = _cells(r, self.chosen)
            table.add_row(f"[bold]{cells[0]}[/]", "")
            for (col, _), value in zip(_columns()[1:], cells[1:], strict=True):
                table.add_row(f"  {col}", value)
        return table

    def __rich_console__(self, console: Any, options: Any) -> Any:
        unbounded = options.update(max_width=10 ** 6)
        for table in (self.wide(), self.wide(stacked=True)):
            if console.measure(table, options=unbounded).maximum <= options.max_width:
                yield table
                return
        yield self.long()


def render_summary(rows: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None, *, title: str) -> SummaryTable:
    """Return a renderable with one line per score row (all views) that fits the console; the selected
    checkpoint is starred."""
    return SummaryTable(rows, best, title=title)
