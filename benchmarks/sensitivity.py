"""Does every metric track degradation? Writes reports/sensitivity.json and reports/sensitivity.md.

For each data set (seeded phantoms; ../shared/data/real-dev when present) a real set and a
"generated" set drawn from the same distribution (a fresh phantom draw; the other half of
real-dev) are compared, then the generated set is degraded at three strengths each:

- ``blur``: Gaussian blur, sigma 0.5 / 1 / 2 px;
- ``noise``: additive Gaussian noise, sigma 0.01 / 0.03 / 0.08 grey levels (whole image, clipped);
- ``checkerboard``: a 2-px-period +-a pattern on the tissue (a = 0.01 / 0.03 / 0.08), the stride-2
  transposed-convolution artifact;
- ``gamma``: x ** gamma, gamma 1.15 / 1.4 / 1.8 (contrast change);
- ``copies``: a share 0.25 / 0.5 / 1 of the generated images replaced by real (training) images.

Every metric is recorded at strength 0 and the three strengths: value, floor (its real-vs-real
split, as the metric computes it), value / floor (FRD is a log: exp(value - floor), the ratio of
the squared distances) and whether it moves monotonically in the "worse" direction. Copies are
only expected to move the memorization numbers (a copy IS a real image, so distribution metrics
improve); blur, noise, checkerboard and gamma are expected to move every distribution metric.
A second part measures how much added black background (zero columns on the non-chest side, same
tissue) moves whole-image and breast-aware numbers, and what share of whole-image SWD patches
and MS-SSIM windows lie outside the breast.

Metrics: SWD (whole image, PGGAN-style, and breast-aware), MS-SSIM diversity (msssim_fake and the
gap msssim_fake - msssim_real, whole image and breast), FID/KID/PRDC in the offline space (robust
scaling), the offline Fréchet distance with the former z-scoring (for comparison), the same
Fréchet/PRDC/copy rate in the radiomics space (the candidate replacement offline space),
memorization (offline space), FRD and frd_breast. Inception FID only when its weights are found.

Bounded: small sets (default 12 + 12 phantoms at 96x80; real-dev 14 + 15 at that size), no
bootstrap, and no radiomics in the background experiment (FRD's background effect is measured
at +0 % only, where frd and frd_breast are compared); a few CPU minutes, dominated by the
radiomics features. Usage: ``python benchmarks/sensitivity.py [--n 24] [--size 160x128] [--real-dev PATH]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic  # noqa: E402
from mammoeval.data.imageset import ImageBatch  # noqa: E402
from mammoeval.metrics.features import FeatureMetric, FeatureSettings, MemoExtractor  # noqa: E402
from mammoeval.metrics.frd import FRDMetric, FRDSettings  # noqa: E402
from mammoeval.metrics.frechet import frechet_distance  # noqa: E402
from mammoeval.metrics.memorization import MemorizationMetric, MemorizationSettings, nearest  # noqa: E402
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings  # noqa: E402
from mammoeval.metrics.offline import OfflineExtractor, RobustScaling  # noqa: E402
from mammoeval.metrics.prdc import compute_prdc_indicators  # noqa: E402
from mammoeval.metrics.regions import BREAST_MASK_KEY, compute_breast_masks  # noqa: E402
from mammoeval.metrics.swd import SWDMetric, SWDSettings  # noqa: E402
from mammoeval.metrics.uncertainty import split_halves  # noqa: E402
from mammoeval.qa.breast_mask import compute_breast_mask  # noqa: E402

STRENGTHS: dict[str, tuple[float, ...]] = {
    "blur": (0.5, 1.0, 2.0),
    "noise": (0.01, 0.03, 0.08),
    "checkerboard": (0.01, 0.03, 0.08),
    "gamma": (1.15, 1.4, 1.8),
    "copies": (0.25, 0.5, 1.0),
}
QUALITY = ("blur", "noise", "checkerboard", "gamma")
LOWER_IS_WORSE = {"precision", "recall", "density", "coverage", "nn_distance_median"}
MEMORIZATION_KEYS = {"memorization_rate", "nn_distance_median", "copy_rate_radiomics"}
LOG_KEYS = {"frd", "frd_breast"}


# --- degradations --------------------------------------------------------------------------------

def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Return `x` [N, 1, H, W] blurred by a separable Gaussian (reflected borders)."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def degrade(kind: str, strength: float, fake: torch.Tensor, train: torch.Tensor, seed: int) -> torch.Tensor:
    """Return the generated images `fake` [N, 1, H, W] degraded by `kind` at `strength` (seeded)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "blur":
        return gaussian_blur(fake, strength)
    if kind == "noise":
        return (fake + strength * torch.randn(fake.shape, generator=g)).clamp(0, 1)
    if kind == "checkerboard":
        h, w = fake.shape[-2:]
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        pattern = 1.0 - 2.0 * ((yy + xx) % 2).float()
        return (fake + strength * pattern * (fake > 0)).clamp(0, 1)
    if kind == "gamma":
        return fake.clamp(0, 1) ** strength
    if kind == "copies":
        out = fake.clone()
        k = round(strength * fake.shape[0])
        idx = torch.randperm(train.shape[0], generator=g)[:k]
        out[:k] = train[idx]
        return out
    raise ValueError(f"unknown degradation {kind!r}")


# --- metrics -------------------------------------------------------------------------------------

def _batches(images: torch.Tensor, views: torch.Tensor, batch: int = 8) -> list[ImageBatch]:
    """Return the batches of a set, each carrying its breast masks (computed once, shared by the metrics)."""
    out = []
    for s in range(0, images.shape[0], batch):
        x = images[s:s + batch]
        out.append(ImageBatch(x, views[s:s + batch], [f"{s + i:05d}" for i in range(len(x))],
                              {BREAST_MASK_KEY: compute_breast_masks(x, compute_breast_mask)}))
    return out


class Suite:
    """Every metric of the benchmark, fed the real set once; `score(fake)` returns key -> (value, floor).

    `radiomics` False leaves out FRD, frd_breast and the radiomics space (the background experiment).
    """

    def __init__(self, real: torch.Tensor, views: torch.Tensor, *, radiomics: bool = True) -> None:
        offline = MemoExtractor(OfflineExtractor())
        fs = FeatureSettings(n_bootstrap=0, kid_subsets=20)
        self.metrics: dict[str, Any] = {
            "swd": SWDMetric(SWDSettings(n_bootstrap=0)),
            "swd_breast": SWDMetric(SWDSettings(n_bootstrap=0, region="breast"), breast_masker=compute_breast_mask),
            "msssim": MSSSIMDiversity(MSSSIMSettings(n_pairs=60, n_bootstrap=0)),
            "msssim_breast": MSSSIMDiversity(MSSSIMSettings(n_pairs=60, n_bootstrap=0, region="breast"),
                                             breast_masker=compute_breast_mask),
            "offline": FeatureMetric(offline, space="offline", settings=fs),
            "memorization": MemorizationMetric(offline, MemorizationSettings(n_bootstrap=0)),
            "frd": FRDMetric(FRDSettings(n_bootstrap=0)),
            "frd_breast": FRDMetric(FRDSettings(n_bootstrap=0, region="breast"), breast_masker=compute_breast_mask),
        }
        if not radiomics:
            del self.metrics["frd"], self.metrics["frd_breast"]
        self.radiomics = radiomics
        self.seconds: dict[str, float] = dict.fromkeys([*self.metrics, "breast_masks"], 0.0)
        self.n_timed = 0
        self.views = views
        self._feed(real, real=True)
        self.real_offline = OfflineExtractor().extract(real).double()

    def _feed(self, images: torch.Tensor, *, real: bool) -> None:
        t = time.perf_counter()
        batches = _batches(images, self.views[: images.shape[0]])
        self.seconds["breast_masks"] += time.perf_counter() - t
        for name, m in self.metrics.items():
            t = time.perf_counter()
            if not real:
                m.reset_fake()
            for b in batches:
                m.update(b, real=real)
            self.seconds[name] += time.perf_counter() - t
        self.n_timed += images.shape[0]

    def score(self, fake: torch.Tensor) -> dict[str, tuple[float, float | None]]:
        """Return every tracked number for `fake` against the real set ("all" views)."""
        self._feed(fake, real=False)
        out: dict[str, tuple[float, float | None]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for m in self.metrics.values():
                res = m.compute().get("all", {})
                for key, r in res.items():  # breast-aware metrics name their own keys (..._breast)
                    out[key] = (r.value, r.floor)
            for suffix in ("", "_breast"):
                fake_v, real_v = out.pop(f"msssim_fake{suffix}"), out.pop(f"msssim_real{suffix}")
                out[f"msssim_fake{suffix}"] = (fake_v[0], real_v[0])
                out[f"msssim_gap{suffix}"] = (abs(fake_v[0] - real_v[0]), None)
            out["fid_offline_zscore"] = self._zscore_fid(OfflineExtractor().extract(fake).double())
            if self.radiomics:
                out.update(self._radiomics_space())
        return out

    def _zscore_fid(self, fake: torch.Tensor) -> tuple[float, float | None]:
        """The offline Fréchet distance with the former scaling: z-score by the real mean and std (floored
        at 1 % of the median std)."""
        real = self.real_offline
        std = real.std(0)
        std = std.clamp_min(0.01 * float(std.median()) + 1e-12)
        r, f = ((real - real.mean(0)) / std).numpy(), ((fake - real.mean(0)) / std).numpy()
        a, b = split_halves(r.shape[0], seed=1)
        return _fd(r, f), _fd(r[a], r[b])

    def _radiomics_space(self) -> dict[str, tuple[float, float | None]]:
        """Fréchet, PRDC and the copy rate in the radiomics space (FRD's features, robustly scaled)."""
        frd = self.metrics["frd"]
        real, fake = frd.features(True, "all"), frd.features(False, "all")
        keep = np.isfinite(real).all(0) & np.isfinite(fake).all(0) & (real.std(0) > 0)
        rt, ft = torch.from_numpy(real[:, keep]), torch.from_numpy(fake[:, keep])
        scaling = RobustScaling.fit(rt)
        r, f = scaling.apply(rt), scaling.apply(ft)
        a, b = split_halves(r.shape[0], seed=1)
        out: dict[str, tuple[float, float | None]] = {
            "fid_radiomics": (_fd(r.numpy(), f.numpy()), _fd(r[a].numpy(), r[b].numpy()))}
        ind = compute_prdc_indicators(r, f, k_pr=3, k_dc=5)
        floor = compute_prdc_indicators(r[a], r[b], k_pr=3, k_dc=5)
        for k in ("precision", "recall", "density", "coverage"):
            out[f"{k}_radiomics"] = (float(getattr(ind, k).mean()), float(getattr(floor, k).mean()))
        held, _ = nearest(r, r, exclude_self=True)
        d_fake, _ = nearest(f, r)
        thr = float(torch.quantile(held, 0.01))
        out["copy_rate_radiomics"] = (float((d_fake <= thr).double().mean()), float((held <= thr).double().mean()))
        return out


def _fd(a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _ratio(key: str, value: float, floor: float | None) -> float | None:
    if floor is None or not math.isfinite(value) or not math.isfinite(floor):
        return None
    if key.split("_breast")[0] in LOG_KEYS or key in LOG_KEYS:
        return math.exp(value - floor)
    return value / floor if floor > 0 else None


def _worse_sign(key: str) -> float:
    base = key.replace("_breast", "").replace("_offline", "").replace("_radiomics", "")
    return -1.0 if base in LOWER_IS_WORSE else 1.0


def _monotone(key: str, values: list[float]) -> bool:
    """True when the values never move in the "better" direction and end worse than they start."""
    v = [_worse_sign(key) * x for x in values]
    return all(b >= a for a, b in zip(v, v[1:], strict=False)) and v[-1] > v[0]


def _responds(key: str, value: float, floor: float | None) -> bool | None:
    """True when the value at the strongest degradation is worse than the metric's real-vs-real floor."""
    if floor is None or not math.isfinite(value) or not math.isfinite(floor):
        return None
    return _worse_sign(key) * (value - floor) > 0


# --- data ----------------------------------------------------------------------------------------

def phantom_sets(n: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (real, generated, views) phantoms: two disjoint seeded draws of n images each."""
    from mammoeval.data.phantom.render import render_phantom

    views = torch.arange(n) % 2

    def draw(offset: int) -> torch.Tensor:
        return torch.stack([torch.from_numpy(render_phantom(offset + i, size=size, view="CC" if i % 2 == 0 else "MLO")
                                             .image) for i in range(n)])[:, None].float()

    return draw(10_000), draw(20_000), views


def realdev_sets(folder: Path, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Return (real, generated, views): the even and odd images of real-dev, fitted to `size`; None when absent."""
    from mammoeval.data.folder import FolderImageSet

    if not folder.is_dir():
        return None
    s = FolderImageSet(folder, size=size, canonical=True)
    images = torch.cat([b.images for b in s.iter_batches(8)])
    m = images.shape[0] // 2
    views = torch.zeros(m, dtype=torch.int64) - 1
    return images[0:2 * m:2], images[1:2 * m:2], views


# --- experiments ---------------------------------------------------------------------------------

def run_degradations(real: torch.Tensor, fake: torch.Tensor, views: torch.Tensor,
                     log: Callable[[str], None], *, radiomics: bool = True) -> dict[str, Any]:
    """Return {"base": {key: [value, floor]}, "<kind>": {key: {"values", "floors", "ratios", "monotone"}}, ...}."""
    suite = Suite(real, views, radiomics=radiomics)
    base = suite.score(fake)
    out: dict[str, Any] = {"base": {k: list(v) for k, v in base.items()}}
    for ki, (kind, strengths) in enumerate(STRENGTHS.items()):
        rows = [base] + [suite.score(degrade(kind, s, fake, real, seed=100 * ki + i)) for i, s in enumerate(strengths)]
        table = {}
        for key in base:
            values = [r[key][0] for r in rows]
            floors = [r[key][1] for r in rows]
            table[key] = {"values": values, "floors": floors,
                          "ratios": [_ratio(key, v, f) for v, f in zip(values, floors, strict=True)],
                          "monotone": _monotone(key, values), "responds": _responds(key, values[-1], floors[-1])}
        out[kind] = {"strengths": [0.0, *strengths], "metrics": table}
        log(f"  {kind}: done")
    out["seconds_per_image"] = {k: v / max(suite.n_timed, 1) for k, v in suite.seconds.items()}
    return out


def run_background(real: torch.Tensor, fake: torch.Tensor, views: torch.Tensor, *,
                   radiomics: bool = True) -> dict[str, Any]:
    """Return the base-condition numbers with 0 and 50 % extra black columns on both sets, and the
    share of whole-image SWD patch centres / MS-SSIM windows outside the breast."""
    out: dict[str, Any] = {}
    masks = compute_breast_masks(real, compute_breast_mask)
    r = SWDSettings().patch_size // 2
    out["outside_breast_share"] = {
        "pixels": float(1 - masks.float().mean()),
        "swd_patch_centres_level0": float(1 - masks[..., r:-r, r:-r].float().mean()),
        "msssim_windows_scale0": float(1 - masks[..., 5:-5, 5:-5].float().mean()),
    }
    keys = ("swd_avg", "swd_avg_breast", "msssim_fake", "msssim_fake_breast", "frd", "frd_breast", "fid_offline")
    for extra in (0.0, 0.5):
        pad = round(extra * real.shape[-1])
        rp, fp = F.pad(real, (0, pad)), F.pad(fake, (0, pad))  # chest wall left: pad the far side
        suite = Suite(rp, views, radiomics=radiomics and extra == 0.0)
        res = suite.score(fp)
        out[f"extra_background_{extra:.2f}"] = {k: list(res[k]) for k in keys if k in res}
    return out


# --- report --------------------------------------------------------------------------------------

def failures(res: dict[str, Any]) -> list[str]:
    """Return one line per (metric, degradation) that fails its expected response."""
    lines = []
    for kind in STRENGTHS:
        for key, row in res[kind]["metrics"].items():
            expected = key in MEMORIZATION_KEYS if kind == "copies" else key not in MEMORIZATION_KEYS
            if key.startswith("msssim_fake"):
                expected = False  # a diversity score, not a distance: reported, judged through msssim_gap
            if expected and not row["monotone"]:
                lines.append(f"{key} / {kind}")
    return lines


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.3g}"


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Metric sensitivity", "", res["note"], ""]
    for name, data in res["datasets"].items():
        lines += [f"## {name}", "", data["description"], ""]
        fails = failures(data)
        lines += [f"Fails (expected to rise monotonically, does not): {', '.join(fails) if fails else 'none'}.", "",
                  "Why they fail, and what follows for the defaults: docs/metrics.md (\"Sensitivity\").", ""]
        for kind in STRENGTHS:
            st = data[kind]["strengths"]
            lines += [f"### {kind} (strengths {', '.join(_fmt(s) for s in st)})", "",
                      "| metric | values | value / floor | monotone | beyond floor at max |", "|---|---|---|---|---|"]
            for key, row in data[kind]["metrics"].items():
                beyond = {True: "yes", False: "no", None: "—"}[row["responds"]]
                lines.append(f"| {key} | {' / '.join(_fmt(v) for v in row['values'])} | "
                             f"{' / '.join(_fmt(v) for v in row['ratios'])} | {'yes' if row['monotone'] else 'NO'} | "
                             f"{beyond} |")
            lines.append("")
        bg = data["background"]
        lines += ["### Background", "", "Share outside QA's breast mask (real set): " + ", ".join(
            f"{k} {v:.2f}" for k, v in bg["outside_breast_share"].items()) + ".", "",
            "| metric | value (+0 % black columns) | value (+50 %) | change | floor (+0 %) | floor (+50 %) |",
            "|---|---|---|---|---|---|"]
        for key in bg["extra_background_0.00"]:
            (v0, f0), (v1, f1) = bg["extra_background_0.00"][key], bg["extra_background_0.50"].get(key, [None, None])
            change = f"{100 * (v1 - v0) / abs(v0):+.0f} %" if v0 and v1 is not None else "—"
            if key in LOG_KEYS and v1 is not None:
                change = f"x{math.exp(v1 - v0):.2f} in d^2"
            lines.append(f"| {key} | {_fmt(v0)} | {_fmt(v1)} | {change} | {_fmt(f0)} | {_fmt(f1)} |")
        lines += ["", "Seconds per image and metric (streaming, both sets): " + ", ".join(
            f"{k} {v:.3f}" for k, v in data["seconds_per_image"].items()) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12, help="phantoms per set")
    ap.add_argument("--size", default="96x80", help="HEIGHTxWIDTH")
    ap.add_argument("--real-dev", type=Path, default=None, help="real-dev folder (default ../shared/data/real-dev)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "sensitivity")
    ap.add_argument("--datasets", default="phantoms,real-dev", help="comma-separated: phantoms, real-dev")
    ap.add_argument("--no-radiomics", action="store_true",
                    help="leave out FRD, frd_breast and the radiomics space (minutes instead of tens of minutes)")
    args = ap.parse_args()
    wanted = {d.strip() for d in args.datasets.split(",")}
    torch.set_num_threads(1)
    h, w = (int(v) for v in args.size.lower().split("x"))
    t0, load0 = time.time(), os.getloadavg()[0]
    log = lambda s: print(f"[{time.time() - t0:6.0f}s] {s}", flush=True)  # noqa: E731
    datasets: dict[str, Any] = {}
    if "phantoms" in wanted:
        real, fake, views = phantom_sets(args.n, (h, w))
        log("phantoms")
        datasets["phantoms"] = run_degradations(real, fake, views, log, radiomics=not args.no_radiomics)
        datasets["phantoms"]["background"] = run_background(real, fake, views, radiomics=not args.no_radiomics)
        datasets["phantoms"]["description"] = (f"{args.n} real vs {args.n} generated phantoms at {h}x{w} "
                                               "(two disjoint seeded draws, CC and MLO alternating).")
        _write(args.out, datasets, t0, load0)
    candidates = [args.real_dev] if args.real_dev else [ROOT.parent / "shared/data/real-dev",
                                                        ROOT.parent.parent / "shared/data/real-dev"]
    folder = next((c for c in candidates if c is not None and c.is_dir()), None)
    rd = realdev_sets(folder, (h, w)) if folder is not None and "real-dev" in wanted else None
    if rd is None:
        log("real-dev absent: skipped")
    else:
        log("real-dev")
        datasets["real-dev"] = run_degradations(*rd, log, radiomics=not args.no_radiomics)
        datasets["real-dev"]["background"] = run_background(*rd, radiomics=not args.no_radiomics)
        datasets["real-dev"]["description"] = (f"real-dev: {rd[0].shape[0]} real (even files) vs {rd[1].shape[0]} "
                                               f"'generated' (odd files) images fitted to {h}x{w}, canonical "
                                               "orientation, views pooled.")
    _write(args.out, datasets, t0, load0)
    log(f"wrote {args.out}.md / .json")


def _write(out: Path, datasets: dict[str, Any], t0: float, load0: float) -> None:
    """Write the JSON and Markdown reports of the data sets done so far."""
    note = (f"Run of {time.time() - t0:.0f} s with one torch thread on a machine shared with other jobs "
            f"(load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end); no bootstrap. Values "
            "are raw (SWD not x1e3). Floors are each metric's own real-vs-real split (half-size sets). "
            "value / floor for FRD is exp(FRD - floor) = d^2 / d^2_floor. Inception FID: "
            + inception_note() + ".")
    res = {"note": note, "strengths": STRENGTHS, "datasets": datasets,
           "failures": {k: failures(v) for k, v in datasets.items()}}
    write_json_atomic(out.with_suffix(".json"), res)
    write_text_atomic(out.with_suffix(".md"), markdown(res))


def inception_note() -> str:
    from mammoeval.core.errors import MammoevalError
    from mammoeval.metrics.inception import find_inception_weights

    try:
        find_inception_weights()
    except MammoevalError:
        return "not measured (weights absent on this machine)"
    return "weights present but not part of this benchmark"


if __name__ == "__main__":
    main()
