"""A plain NumPy version of the published SWD algorithm (Karras et al. 2018), written for the tests.

Not derived from the PGGAN code (CC BY-NC): written from the paper's description. It takes the
patch centres and the projection directions as inputs so that it can be compared with the fast
implementation on the same random choices.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_K = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def pyramid(img: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """Laplacian pyramid of a 2-D float64 image with mirrored borders (scipy 'mirror')."""
    gauss = [img]
    for _ in range(n_levels - 1):
        gauss.append(ndimage.convolve(gauss[-1], _K, mode="mirror")[::2, ::2])
    out = []
    for fine, coarse in zip(gauss[:-1], gauss[1:], strict=True):
        up = np.zeros((2 * coarse.shape[0], 2 * coarse.shape[1]))
        up[::2, ::2] = coarse
        up = ndimage.convolve(up, _K * 4, mode="mirror")[: fine.shape[0], : fine.shape[1]]
        out.append(fine - up)
    return out + [gauss[-1]]


def descriptors(level: np.ndarray, ys: np.ndarray, xs: np.ndarray, channels: int) -> np.ndarray:
    """[P, channels * 49] 7x7 neighbourhoods at the centres, grey tiled to `channels` channels."""
    rows = []
    for y, x in zip(ys, xs, strict=True):
        patch = level[y - 3:y + 4, x - 3:x + 4].reshape(-1)
        rows.append(np.concatenate([patch] * channels))
    return np.array(rows)


def normalise(d: np.ndarray, channels: int) -> np.ndarray:
    """Per-channel mean/std normalisation over all descriptors and pixels."""
    d = d.reshape(d.shape[0], channels, -1)
    mean = d.mean(axis=(0, 2), keepdims=True)
    std = d.std(axis=(0, 2), keepdims=True)
    return ((d - mean) / std).reshape(d.shape[0], -1)


def swd(a: np.ndarray, b: np.ndarray, dirs_list: list[np.ndarray]) -> float:
    """Mean over repeats of the mean |sorted(a @ dirs) - sorted(b @ dirs)|; dirs are unit columns."""
    vals = []
    for dirs in dirs_list:
        pa = np.sort(a @ dirs, axis=0)
        pb = np.sort(b @ dirs, axis=0)
        vals.append(np.abs(pa - pb).mean())
    return float(np.mean(vals))
