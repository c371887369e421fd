"""Blob detector: saturated plateaus, dark holes and dark halos inside the breast."""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage as ndi

from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import MID_HEIGHT, Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import fit_to as _fit
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.base import mask_at as _mask_at

BLOB_HEIGHT = 256
"""Height of the image on which dark holes and halos are searched (radii are relative to it)."""
HOLE_RADII = (0.02, 0.03, 0.045, 0.065)
"""Radii (fractions of the height) of the ring filters that look for dark holes and halos."""
HOLE_SECTORS = 8
"""Angular sectors of a ring filter: a hole must be darker than its surroundings in every one."""
HOLE_LOG_OFFSET = 0.3
"""log(grey + HOLE_LOG_OFFSET x median breast grey): a relative darkness that does not explode in black fat."""
HOLE_STEP_LIMIT = 0.6
"""Sector-min log step that reaches the blob threshold.

Rule: 1.3 x the largest clean value on the tuning half of real-dev (even-indexed files) and the
phantoms (0.45, fat lobules ringed by Cooper's ligaments in CDD-CESM and NYU images), rounded."""
SATURATION_LEVEL = 0.985
"""Grey level at or above which a pixel counts as saturated / clipped."""
PLATEAU_AREA = 4e-4
"""Flat saturated plateau area (fraction of the breast) that, with a full edge drop, reaches the threshold."""
PLATEAU_DROP = 0.1
"""Grey-level drop from a plateau to the ring 2-8 px outside it that counts as a full drop (half of
it counts as none; the weight ramps linearly in between).

A saturated blob stands out from the tissue around it; clipping that merely flattens the top of
bright tissue (the grey level stays near white around it) does not count as a blob."""


CIRCLE_RAYS = 32
"""Rays cast from each candidate centre when testing for a crisp round edge."""
CIRCLE_CANDIDATES = 32
"""Strongest local maxima of the ring-filter step map tested for a crisp round edge."""
CIRCLE_MIN_RADIUS = 0.016
"""Smallest edge radius (fraction of the height) of a round dark blob: natural dark spots in
CDD-CESM images (nipple shadows, vessels seen end-on) reach 1.4% and ring every ray."""
CIRCLE_STEP_LIMIT = 0.25
"""Round-edge log step (held by 7/8 of the rays) that reaches the blob threshold.

Rule: no clean image of real-dev or the phantoms has a dark blob of radius >= CIRCLE_MIN_RADIUS
whose edge steps up on 7/8 of the rays at one radius (all score 0); 0.25 (a 22% darkening behind
a crisp round edge) keeps a margin for fat lobules ringed by ligaments in unseen images."""
CIRCLE_FIT_ITERATIONS = 2
"""Times a candidate centre is moved to the centre of the circle fitted to its rays' dominant edges
(the step-map peak sits up to ~3 px off a hole's centre at 512 rows, enough to scatter the edge
radii of a 15-px hole beyond the 15% tolerance)."""
CRISP_SPAN = 1.5
"""Distance (px of the working image, a multiple of 0.5) across which the crisp edge step and the
texture around it are measured: a pasted disk's edge, rasterised and sampled bilinearly along a
diagonal ray, spreads over up to ~1.4 px; natural edges spread over several."""
CRISP_WEAKEST_RAYS = CIRCLE_RAYS // 8
"""Rays whose crisp step may fall short (crossing vessels, the disk's pixel staircase): the crisp
step of a circle is its (CRISP_WEAKEST_RAYS + 1)-th weakest ray's."""
CRISP_STEP_FLOOR = 0.15
"""Crisp round-edge log step (`_crisp_edge_steps`) that reaches the blob threshold in smooth tissue
(a 14% darkening of median tissue behind a pixel-sharp round edge).

Rule: well above 1.3 x the largest clean value where the floor applies on the tuning half of
real-dev (0.047) and the phantoms (0.063), i.e. 0.082; a factor-0.5 darkening steps by 0.3-0.5."""
CRISP_TEXTURE_RATIO = 3.0
"""Crisp round-edge step, in units of the local texture (median |log step| across CRISP_SPAN px
around the circle, `_edge_textures`), that reaches the blob threshold in textured tissue.

Rule: 1.3 x the largest clean ratio on the tuning half of real-dev (2.01, a fat lobule in an NYU
image; phantoms <= 0.5) is 2.6, raised to 3.0 for unseen dense, noisy tissue (held-out half:
2.03). Multiplicative darkening keeps the texture's relative contrast, so a hole pasted into
any tissue steps by several times the texture; fat lobules in CDD-CESM and NYU images reach ~2."""


def detect_blobs(work: np.ndarray, anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the blob finding: saturated flat plateaus, dark holes and dark halos inside the breast.

    Four kinds of evidence, the score is the largest one:
    - dark hole / halo: at BLOB_HEIGHT rows, on log(grey + offset), a ring filter at several radii
      compares an inner annulus (0.55-0.95 radius) with an outer one (1.1-1.45 radius) in each of
      HOLE_SECTORS sectors; the weakest sector's step is the evidence (a compact region darker than
      its surroundings all around: a hole, or the dark ring of a halo around a bright spot; dark fat
      that connects to other fat fails in some sector). Score: the largest step / HOLE_STEP_LIMIT.
    - round edge: candidates are the CIRCLE_CANDIDATES strongest peaks of that sector-min step map
      and as many of the all-sector mean step map. From each, CIRCLE_RAYS rays at ~512 rows find
      each ray's dominant edge: the largest outward log step (over 1.5 px) out to 9% of the height;
      the centre moves to the circle fitted to those edges (CIRCLE_FIT_ITERATIONS times). Rays whose
      dominant edge lies within 15% of the median edge radius (>= CIRCLE_MIN_RADIUS) count their
      step, the others 0, and the 1/8 quantile over rays is the evidence: a dark region behind a
      round edge that dominates every direction (an artifact); fat lobules, whose borders wander
      and meet brighter ligaments, do not give it. Score: that step / CIRCLE_STEP_LIMIT.
    - crisp round edge: where at least a quarter of the rays agree on the fitted circle, on the
      working image itself (full resolution), the 1/8 quantile over rays of the outward log step
      across CRISP_SPAN px at the best circle within 2-3 px of it (`_crisp_edge_steps`), in units
      of the local texture: a dark disk pasted into the image (multiplicative darkening keeps the
      tissue's relative texture) steps by its whole contrast within a pixel all round, whereas
      natural dark spots (fat lobules) have edges blurred over several pixels and step about as
      much as the texture around them. Score: step / max(CRISP_STEP_FLOOR, CRISP_TEXTURE_RATIO x
      median |log step| across CRISP_SPAN px inside and outside the circle).
    - saturated plateau: at ~512 rows, flat (3x3 range < 0.01) pixels >= SATURATION_LEVEL inside
      the eroded breast, away from the chest-wall band; per component, area / (PLATEAU_AREA x breast
      area) x clip(2 drop / PLATEAU_DROP - 1, 0, 1), drop = to the ring 2-8 px outside.

    Args:
        work: float32 [H, W] working image, chest wall left.
        anatomy: its anatomy.
        threshold: flag threshold on the score.
    """
    hole, hole_map, mean_map = _hole_evidence(work, anatomy)
    mid, f = reduce_to_height(work, MID_HEIGHT)
    sat, sat_map = _plateau_evidence(mid, f, anatomy)
    circle = _round_edge_evidence(mid, f, anatomy, hole_map, mean_map, work=work)
    score = max(hole / HOLE_STEP_LIMIT, sat, circle)
    reason = "saturated blob" if sat >= max(hole / HOLE_STEP_LIMIT, circle) else "dark hole or halo"
    shape = anatomy.mask.shape
    heat = np.maximum(_fit(reduce_to_height(hole_map / HOLE_STEP_LIMIT, shape[0])[0], shape),
                      _fit(reduce_to_height(sat_map, shape[0])[0], shape))
    return _finding("blobs", score, threshold, reason, heat)


def _ring_kernels(rho: float) -> np.ndarray:
    """Return float32 [HOLE_SECTORS, k, k] kernels: outer-annulus mean minus inner-annulus mean per sector."""
    r_max = int(np.ceil(1.45 * rho)) + 1
    yy, xx = np.mgrid[-r_max:r_max + 1, -r_max:r_max + 1].astype(np.float32)
    r = np.hypot(yy, xx)
    sector = ((np.arctan2(yy, xx) + np.pi) / (2 * np.pi) * HOLE_SECTORS).astype(int) % HOLE_SECTORS
    out = []
    for s in range(HOLE_SECTORS):
        inner = (r >= 0.55 * rho) & (r < 0.95 * rho) & (sector == s)
        outer = (r >= 1.1 * rho) & (r < 1.45 * rho) & (sector == s)
        out.append(outer / max(1, outer.sum()) - inner / max(1, inner.sum()))
    return np.stack(out).astype(np.float32)


def _hole_evidence(work: np.ndarray, anatomy: Anatomy) -> tuple[float, np.ndarray, np.ndarray]:
    """Return (largest sector-min log step inside the breast interior, float32 sector-min step map,
    float32 all-sector mean step map), both maps at BLOB_HEIGHT rows, 0 outside the interior."""
    small, f = reduce_to_height(work, BLOB_HEIGHT)
    mask = _mask_at(anatomy.mask, small.shape, f / anatomy.factor)
    h, w = small.shape
    inner = ndi.binary_erosion(mask, iterations=max(2, int(0.04 * w)), border_value=0)
    if inner.sum() < 50:
        return 0.0, np.zeros_like(small), np.zeros_like(small)
    lg = _log_image(small, float(np.median(small[mask])))
    pad = int(np.ceil(1.45 * max(HOLE_RADII) * h)) + 2
    padded = np.pad(lg, pad, mode="reflect")
    shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in padded.shape)
    spec = scipy.fft.rfft2(padded, s=shape)
    best = np.full((h, w), -np.inf, np.float32)
    mean = np.full((h, w), -np.inf, np.float32)
    for frac in HOLE_RADII:
        ks = _ring_kernels(frac * h)
        k = ks.shape[-1] // 2
        kspec = scipy.fft.rfft2(ks, s=shape)
        conv = scipy.fft.irfft2(spec[None] * kspec, s=shape)  # full correlation shifted by k
        steps = conv[:, pad + k:pad + k + h, pad + k:pad + k + w]
        best = np.maximum(best, steps.min(axis=0))
        mean = np.maximum(mean, steps.mean(axis=0))
    best = np.where(inner, np.maximum(best, 0.0), 0.0).astype(np.float32)
    mean = np.where(inner, np.maximum(mean, 0.0), 0.0).astype(np.float32)
    return float(best.max()), best, mean


def _peaks(step_map: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Return the (row, col) of the n strongest local maxima (5x5) of a step map above 0.08, strongest first."""
    peaks = (step_map == ndi.maximum_filter(step_map, 5)) & (step_map > 0.08)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-step_map[ys, xs], kind="stable")[:n]
    return [(int(ys[i]), int(xs[i])) for i in order]


def _log_image(img: np.ndarray, level: float) -> np.ndarray:
    """Return float32 log(grey + HOLE_LOG_OFFSET x level) of an image (level: its median breast grey)."""
    return np.log(img + HOLE_LOG_OFFSET * max(level, 1e-3)).astype(np.float32)


_ANGLES = np.linspace(0.0, 2 * np.pi, CIRCLE_RAYS, endpoint=False)


def _sample_rays(img: np.ndarray, cy: np.ndarray, cx: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Return float32 [*cy.shape, CIRCLE_RAYS, k] bilinear samples of img along rays from the centres
    (cy, cx) (float arrays of one shape) at radii (float [k] or [*cy.shape, k], px)."""
    radii = np.broadcast_to(radii, (*cy.shape, radii.shape[-1]))[..., None, :]
    ys = cy[..., None, None] + np.sin(_ANGLES)[:, None] * radii
    xs = cx[..., None, None] + np.cos(_ANGLES)[:, None] * radii
    out = ndi.map_coordinates(img, [ys.ravel(), xs.ravel()], order=1, mode="nearest")
    return out.reshape(ys.shape).astype(np.float32)


def _ray_steps(lg: np.ndarray, cy: np.ndarray, cx: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Return float32 [n, CIRCLE_RAYS, len(radii) - 3]: outward log steps over 1.5 px (radii 0.5 px
    apart) along rays from the n centres (cy, cx), centred on radii[1:-2]."""
    prof = _sample_rays(lg, cy, cx, radii)
    return prof[..., 3:] - prof[..., :-3]


def _fit_circles(ys: np.ndarray, xs: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (rows [n], cols [n], ok [n]): centres of the least-squares (algebraic, Kasa) circles
    through the points (ys, xs) [n, k] where `use` [n, k] is True; ok is False where too few or
    collinear points leave the fit undetermined."""
    w = use.astype(np.float64)
    a = np.stack([xs, ys, np.ones_like(xs)], axis=-1).astype(np.float64)  # [n, k, 3]
    b = -(xs * xs + ys * ys).astype(np.float64)
    m = np.einsum("nki,nk,nkj->nij", a, w, a)
    v = np.einsum("nki,nk,nk->ni", a, w, b)
    ok = (use.sum(axis=1) >= 3) & (np.abs(np.linalg.det(m)) > 1e-9)
    m[~ok] = np.eye(3)
    d = np.linalg.solve(m, v[..., None])[..., 0]
    return -d[:, 1] / 2.0, -d[:, 0] / 2.0, ok


def _centre_on_edges(lg: np.ndarray, cy: np.ndarray, cx: np.ndarray,
                     radii: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (rows [n], cols [n], ray steps [n, CIRCLE_RAYS, m] from there): each centre moved up to
    CIRCLE_FIT_ITERATIONS times to the circle fitted to its rays' dominant edges near their median
    radius (a move is skipped when under a quarter of the rays agree or it exceeds half the radius)."""
    steps = _ray_steps(lg, cy, cx, radii)
    for _ in range(CIRCLE_FIT_ITERATIONS):
        edge_r = radii[steps.argmax(axis=2) + 1]
        r_med = np.median(edge_r, axis=1)
        near = np.abs(edge_r - r_med[:, None]) <= 0.3 * r_med[:, None]
        ny, nx, ok = _fit_circles(cy[:, None] + np.sin(_ANGLES) * edge_r, cx[:, None] + np.cos(_ANGLES) * edge_r, near)
        move = ok & (near.sum(axis=1) >= CIRCLE_RAYS // 4) & (np.hypot(ny - cy, nx - cx) <= 0.5 * r_med)
        if not move.any():
            break
        cy, cx = np.where(move, ny, cy), np.where(move, nx, cx)
        steps = _ray_steps(lg, cy, cx, radii)
    return cy, cx, steps


def _round_edge_evidence(mid: np.ndarray, f: int, anatomy: Anatomy, step_map: np.ndarray,
                         mean_map: np.ndarray | None = None, *, work: np.ndarray | None = None) -> float:
    """Return the round-edge score: max over candidates of (dominant-edge step / CIRCLE_STEP_LIMIT,
    crisp-edge score of `_crisp_edge_scores` when `work` is given); see detect_blobs.

    Args:
        mid: float32 [h, w] working image box-reduced by `f` to ~MID_HEIGHT rows, chest wall left.
        f: that reduction factor.
        anatomy: its anatomy.
        step_map: float32 [h', w'] sector-min step map at BLOB_HEIGHT rows (`_hole_evidence`).
        mean_map: float32 [h', w'] all-sector mean step map (`_hole_evidence`); None = no extra candidates.
        work: float32 [f h, f w] working image for the crisp-edge test; None = no crisp-edge test.
    """
    cands = _peaks(step_map, CIRCLE_CANDIDATES)
    if mean_map is not None:
        cands += [c for c in _peaks(mean_map, CIRCLE_CANDIDATES) if c not in cands]
    mask = _mask_at(anatomy.mask, mid.shape, f / anatomy.factor)
    h = mid.shape[0]
    radii = np.arange(2.0, 0.09 * h, 0.5)
    if not cands or radii.size < 4 or not mask.any():  # too small an image for a 1.5-px step along a ray
        return 0.0
    level = float(np.median(mid[mask]))
    scale = h / step_map.shape[0]
    start = (np.asarray(cands, np.float64) + 0.5) * scale - 0.5
    cy, cx, steps = _centre_on_edges(_log_image(mid, level), start[:, 0], start[:, 1], radii)
    edge_r = radii[steps.argmax(axis=2) + 1]  # each ray's dominant edge
    r_med = np.median(edge_r, axis=1)
    held = np.abs(edge_r - r_med[:, None]) <= np.maximum(1.5, 0.15 * r_med)[:, None]
    ray_steps = np.sort(np.where(held, np.maximum(steps.max(axis=2), 0.0), 0.0), axis=1)
    big = r_med >= CIRCLE_MIN_RADIUS * h
    best = float(np.max(ray_steps[:, CIRCLE_RAYS // 8], where=big, initial=0.0)) / CIRCLE_STEP_LIMIT
    test = big & (held.sum(axis=1) >= CIRCLE_RAYS // 4)  # a circle for the crisp test to refine
    if work is None or not test.any():
        return best
    crisp = _crisp_edge_scores(work, HOLE_LOG_OFFSET * max(level, 1e-3), (cy[test] + 0.5) * f - 0.5,
                               (cx[test] + 0.5) * f - 0.5, r_med[test] * f, reach=2,
                               min_radius=CIRCLE_MIN_RADIUS * work.shape[0])
    return max(best, float(crisp.max()))


def _crisp_edge_steps(img: np.ndarray, offset: float, cy: np.ndarray, cx: np.ndarray, r: np.ndarray, *,
                      reach: int, min_radius: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (steps, rows, cols, radii), each [n]: per candidate circle, the largest crisp step
    (`_crisp_search`) and its circle, over circles whose centre lies within reach + 1 px of (cy, cx)
    and whose radius within reach + 1 px of r (and >= min_radius): first on a 2-px grid of centres
    (radii +- reach), then on a 1-px grid around the best one (radii +- 1).

    Args:
        img: float32 [H, W] working image (full resolution: a pasted edge is one pixel wide there).
        offset: the log offset (HOLE_LOG_OFFSET x median breast grey).
        cy, cx, r: float [n] candidate centres and radii (px).
        reach: search half-width in px (the candidates' uncertainty at that resolution).
        min_radius: smallest radius searched (px).
    """
    grid = np.arange(-reach, reach + 1, 2.0)
    _, y, x, rad = _crisp_search(img, offset, cy, cx, r, grid, float(reach), min_radius)
    return _crisp_search(img, offset, y, x, rad, np.arange(-1.0, 2.0), 1.0, min_radius)


def _crisp_search(img: np.ndarray, offset: float, cy: np.ndarray, cx: np.ndarray, r: np.ndarray,
                  offs: np.ndarray, r_reach: float,
                  min_radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (steps, rows, cols, radii), each [n]: per candidate, over centres (cy, cx) + offs x offs
    and radii r +- r_reach (0.5-px grid, >= min_radius), the largest crisp step and its circle.
    Steps are -inf for a candidate with no radius >= min_radius. The crisp step of a
    circle is the (CRISP_WEAKEST_RAYS + 1)-th weakest over CIRCLE_RAYS rays of the outward step of
    log(grey + offset) across CRISP_SPAN px, each ray taking its largest such step within 0.5 px of the radius."""
    oy, ox = (a.ravel() for a in np.meshgrid(offs, offs, indexing="ij"))  # [c]
    span = max(1, int(round(2 * CRISP_SPAN)))  # the span in 0.5-px samples
    lead = 0.5 + 0.25 * span  # the step's centre lies 0.25 span px past its inner sample
    rr = np.maximum(1.0, r[:, None] + np.arange(-r_reach - lead, r_reach + lead + 0.25, 0.5))  # [n, k]
    gy, gx = cy[:, None] + oy, cx[:, None] + ox  # [n, c]
    prof = np.log(_sample_rays(img, gy, gx, np.repeat(rr[:, None, :], oy.size, axis=1)) + offset)  # [n, c, rays, k]
    step = prof[..., span:] - prof[..., :-span]  # step j spans samples j .. j + span
    local = np.maximum(np.maximum(step[..., :-2], step[..., 1:-1]), step[..., 2:])  # steps j .. j + 2
    radius = rr[:, : local.shape[-1]] + 0.5 + 0.25 * span  # [n, k']: where local[..., j] is centred
    q = np.sort(local, axis=2)[:, :, CRISP_WEAKEST_RAYS, :]  # [n, c, k']
    q = np.where(radius[:, None, :] >= min_radius, q, -np.inf).reshape(len(r), -1)
    best = q.argmax(axis=1)
    ci, ki = np.unravel_index(best, local.shape[1:2] + local.shape[3:4])
    n = np.arange(len(r))
    return q[n, best], gy[n, ci], gx[n, ci], radius[n, ki]


def _edge_textures(img: np.ndarray, offset: float, cy: np.ndarray, cx: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Return float [n]: per circle, the median |step of log(grey + offset) across CRISP_SPAN px| along
    CIRCLE_RAYS rays inside (0.4-0.8 r) and outside (1.25-1.8 r) it: the local texture its edge
    must stand out of, measured at the same scale as the edge."""
    t = np.concatenate([np.linspace(0.4, 0.8, 8), np.linspace(1.25, 1.8, 8)])
    near = r[:, None] * t - 0.5  # [n, 16] inner samples of pairs CRISP_SPAN px apart
    a = np.log(_sample_rays(img, cy, cx, near) + offset)
    b = np.log(_sample_rays(img, cy, cx, near + CRISP_SPAN) + offset)
    return np.median(np.abs(b - a).reshape(len(r), -1), axis=1)


def _crisp_edge_scores(img: np.ndarray, offset: float, cy: np.ndarray, cx: np.ndarray, r: np.ndarray, *,
                       reach: int, min_radius: float = 1.0) -> np.ndarray:
    """Return float [n] crisp round-edge scores near candidate circles: the crisp step of
    `_crisp_edge_steps` / max(CRISP_STEP_FLOOR, CRISP_TEXTURE_RATIO x the local texture of `_edge_textures`)."""
    step, by, bx, br = _crisp_edge_steps(img, offset, cy, cx, r, reach=reach, min_radius=min_radius)
    tex = _edge_textures(img, offset, by, bx, br)
    return np.maximum(step, 0.0) / np.maximum(CRISP_STEP_FLOOR, CRISP_TEXTURE_RATIO * tex)


def _plateau_evidence(mid: np.ndarray, f: int, anatomy: Anatomy) -> tuple[float, np.ndarray]:
    """Return (largest saturated-plateau score, float32 plateau-score map at ~512 rows); see detect_blobs.

    Args:
        mid: float32 [h, w] working image box-reduced by `f` to ~MID_HEIGHT rows, chest wall left.
        f: that reduction factor.
        anatomy: its anatomy.
    """
    mask = _mask_at(anatomy.mask, mid.shape, f / anatomy.factor)
    w = mid.shape[1]
    inner = ndi.binary_erosion(mask, iterations=max(2, int(0.02 * w)), border_value=0)
    inner[:, : max(2, int(0.15 * w))] = False  # film edges and pectoral muscle may clip in clean scans
    flat = (ndi.maximum_filter(mid, 3) - ndi.minimum_filter(mid, 3)) < 0.01
    cand = (mid >= SATURATION_LEVEL) & flat & inner
    heat = np.zeros_like(mid)
    labels, n = ndi.label(cand)
    if n == 0:
        return 0.0, heat
    unit = PLATEAU_AREA * max(1.0, float(mask.sum()))
    best = 0.0
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        sl = tuple(slice(max(0, s.start - 9), s.stop + 9) for s in sl)
        comp = labels[sl] == i
        ring = ndi.binary_dilation(comp, iterations=8) & ~ndi.binary_dilation(comp, iterations=1)
        vals = mid[sl][ring]
        drop = float(np.median(mid[sl][comp]) - np.median(vals)) if vals.size else 0.0
        s = float(comp.sum()) / unit * float(np.clip(2.0 * drop / PLATEAU_DROP - 1.0, 0.0, 1.0))
        heat[sl][comp] = s
        best = max(best, s)
    return best, heat


def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_blobs(work, required(anatomy))


DETECTOR = FunctionDetector("blobs", _score)
