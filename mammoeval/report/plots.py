"""Report figures: training diagnostics, SWD over training, real-vs-generated distributions.

Every function returns ``(Figure, numbers)``: a matplotlib `Figure` built without pyplot (no global
state, no display needed) and the plain numbers it draws, which the report writes to report.json.
The caller saves the figure.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mammoeval.core.fsutil import write_bytes_atomic
from mammoeval.metrics.keys import KEY_SWD_AVG
from mammoeval.metrics.registry import display_scale, metric_spec, scale_suffix

TRAINING_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("discriminator loss", ("loss_d",)),
    ("gradient penalty", ("gp",)),
    ("label cross-entropy", ("ce_real", "ce_fake")),
    ("generator loss", ("loss_g",)),
)

"""Panels of the training figure (the paper's Figure 4): title and log.jsonl keys."""

REAL_COLOUR = "#1f77b4"
FAKE_COLOUR = "#d62728"
FIG_DPI = 80
"""Figure resolution: 10-12 inch figures give 800-960 px wide PNGs, enough on screen and quick to draw."""


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and np.isfinite(v)]


def plot_training_curves(log: Sequence[Mapping[str, Any]], *,
                         selected_kimg: float | None = None) -> tuple[Figure, dict[str, Any]]:
    """Return the training diagnostics figure (loss_d, gp, ce_real/ce_fake, loss_g over kimg) and its numbers.

    Args:
        log: log.jsonl rows (keys `mammoeval.core.rundir.LOG_KEYS`; missing values are skipped).
        selected_kimg: kimg of the selected checkpoint, marked by a vertical line.
    """
    fig = Figure(figsize=(10, 6), dpi=FIG_DPI)
    axes = fig.subplots(2, 2).flatten()
    fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.08, hspace=0.35, wspace=0.2)
    numbers: dict[str, Any] = {"kimg": [float(r.get("kimg", np.nan)) for r in log], "selected_kimg": selected_kimg}
    for ax, (title, keys) in zip(axes, TRAINING_PANELS, strict=True):
        for key in keys:
            pts = [(float(r["kimg"]), float(r[key])) for r in log
                   if isinstance(r.get(key), (int, float)) and isinstance(r.get("kimg"), (int, float))]
            numbers[key] = [float(r[key]) if isinstance(r.get(key), (int, float)) else None for r in log]
            if pts:
                x, y = zip(*pts, strict=True)
                ax.plot(x, y, lw=1.2, label=key,
                        color=FAKE_COLOUR if key == "ce_fake" else REAL_COLOUR if key == "ce_real" else None)
        _mark(ax, selected_kimg)
        ax.set_title(title)
        ax.set_xlabel("kimg")
        if len(keys) > 1:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig, numbers


def swd_series(scores: Sequence[Mapping[str, Any]], *, view: str = "all") -> dict[str, list[tuple[float, float]]]:
    """Return {swd key: [(kimg, raw value), ...]} over the scored checkpoints that have a kimg."""
    out: dict[str, list[tuple[float, float]]] = {}
    for row in scores:
        kimg = row.get("kimg")
        metrics = ((row.get("metrics") or {}).get(view)) or {}
        if not isinstance(kimg, (int, float)):
            continue
        for key, entry in metrics.items():
            if _is_swd_key(key) and isinstance(entry, Mapping) and isinstance(entry.get("value"), (int, float)):
                out.setdefault(key, []).append((float(kimg), float(entry["value"])))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _is_swd_key(key: str) -> bool:
    return any(k.matches(key) for k in metric_spec("swd").keys)


def plot_swd(scores: Sequence[Mapping[str, Any]], *, selected_kimg: float | None = None,
             view: str = "all") -> tuple[Figure, dict[str, Any]]:
    """Return SWD per pyramid level and averaged (x1e3) over kimg, and the raw numbers."""
    series = swd_series(scores, view=view)
    scale = display_scale(KEY_SWD_AVG)
    fig = Figure(figsize=(10, 4), dpi=FIG_DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.13)
    for key, pts in series.items():
        x, y = zip(*pts, strict=True)
        avg = key == KEY_SWD_AVG
        ax.plot(x, np.asarray(y) * scale, marker="o", ms=3, lw=2.5 if avg else 1.0,
                color="black" if avg else None, label=key)
    _mark(ax, selected_kimg)
    ax.set_xlabel("kimg")
    ax.set_ylabel(" ".join(p for p in ("SWD", scale_suffix(scale)) if p))
    ax.set_title(f"Sliced Wasserstein distance per level ({view} views)")
    if series:
        ax.legend(fontsize=8, ncol=4)
    ax.grid(alpha=0.3)
    return fig, {"view": view, "display_scale": scale, "selected_kimg": selected_kimg,
                 "series": {k: [list(p) for p in v] for k, v in series.items()}}


STAT_PANELS: tuple[tuple[str, str, str], ...] = (
    ("calc_count", "calcifications per image", "count"),
    ("calc_size", "calcification size", "diameter (px)"),
    ("calc_contrast", "calcification contrast", "contrast"),
    ("msssim", "MS-SSIM of random pairs (lower = more diverse)", "MS-SSIM"),
    ("breast_area", "breast area", "fraction of image"),
    ("density", "tissue intensity (density proxy)", "mean grey level of tissue"),
)
"""Panels of a view's statistics figure: key in the numbers, title, x label."""


def plot_distributions(view: str, real: Mapping[str, Sequence[float]], fake: Mapping[str, Sequence[float]],
                       ) -> tuple[Figure, dict[str, Any]]:
    """Return a view's real-vs-generated histograms (keys of `STAT_PANELS`) and the numbers with bin edges.

    Args:
        view: view name for the title.
        real, fake: panel key -> values (an absent or empty key draws "no data").
    """
    fig = Figure(figsize=(12, 6), dpi=FIG_DPI)
    axes = fig.subplots(2, 3).flatten()
    fig.subplots_adjust(left=0.05, right=0.98, top=0.9, bottom=0.09, hspace=0.4, wspace=0.22)
    numbers: dict[str, Any] = {}
    for ax, (key, title, xlabel) in zip(axes, STAT_PANELS, strict=True):
        r, f = _finite(real.get(key, [])), _finite(fake.get(key, []))
        numbers[key] = {"real": r, "generated": f, "bins": _hist(ax, r, f)}
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
    fig.suptitle(f"{view}: real (blue) vs generated (red)")
    return fig, numbers


def _hist(ax: Any, real: list[float], fake: list[float]) -> list[float]:
    """Draw overlaid density histograms on shared bins; return the bin edges."""
    both = real + fake
    if not both:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
        return []
    lo, hi = min(both), max(both)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, 16)
    for vals, colour, name in ((real, REAL_COLOUR, f"real (n={len(real)})"), (fake, FAKE_COLOUR, f"generated (n={len(fake)})")):
        if vals:
            ax.hist(vals, bins=edges, alpha=0.5, color=colour, label=name, density=True)
    ax.legend(fontsize=7)
    return edges.tolist()


def _mark(ax: Any, kimg: float | None) -> None:
    if kimg is not None:
        ax.axvline(kimg, color="green", ls="--", lw=1.2, label="selected")


def save_figure(fig: Figure, path: Any) -> None:
    """Save a figure as PNG atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())
