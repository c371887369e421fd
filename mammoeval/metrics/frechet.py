"""Fréchet distance (FID) and kernel inception distance (KID) from feature vectors.

Pure stages: features -> statistics (`features_to_stats`) -> number (`frechet_distance`,
`kid_subsets`). Float64 throughout. The trace of the matrix square root is computed from the
eigenvalues of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1) (whose eigenvalues equal those of
S1 S2; sqrt(S1) is replaced by the Cholesky factor when S1 is positive definite, which has the
same eigenvalues and is cheaper), with tiny negative eigenvalues from round-off clipped to 0: no `scipy.linalg.sqrtm`, no
complex parts to discard, and no dependency on pytorch-fid's `calculate_frechet_distance` (which
passes `disp` to sqrtm, removed in SciPy 1.18).

References:
    M. Heusel et al. GANs trained by a two time-scale update rule converge to a local Nash
    equilibrium. NeurIPS 2017 (FID).
    M. Bińkowski et al. Demystifying MMD GANs. ICLR 2018 (KID: unbiased MMD^2 with the kernel
    k(x, y) = (x.y / d + 1)^3, averaged over random subsets).
"""

from __future__ import annotations

import warnings

import numpy as np


def features_to_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean [D], covariance [D, D]) in float64 of features [N, D] (unbiased covariance).

    Warns (UserWarning) when N < D + 1: the covariance is then singular and FID is biased.
    """
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    if n < 2:
        raise ValueError(f"need at least 2 feature vectors, got {n}")
    if n <= d:
        warnings.warn(f"FID from {n} samples in {d} dimensions: fewer samples than dimensions, the covariance "
                      "is singular and the distance is strongly biased; use more images", stacklevel=2)
    mu = f.mean(0)
    c = f - mu
    return mu, (c.T @ c) / (n - 1)


def sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Return the symmetric PSD square root of a symmetric PSD matrix (negative eigenvalues clipped)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def psd_factor(a: np.ndarray) -> np.ndarray:
    """Return F with F F^T = a for a symmetric PSD matrix: Cholesky when a is positive definite
    (about 3x cheaper), else the symmetric square root (singular covariances, n <= D)."""
    try:
        return np.linalg.cholesky((a + a.T) / 2)
    except np.linalg.LinAlgError:
        return sqrt_psd(a)


def trace_sqrt_product(sigma1_factor: np.ndarray, sigma2: np.ndarray) -> float:
    """Return tr(sqrt(S1 S2)) given F with F F^T = S1: the sum of square roots of eig(F^T S2 F).

    F^T S2 F is symmetric PSD and has the eigenvalues of S1 S2 (similar matrices), so a symmetric
    eigen-solver suffices; round-off negatives are clipped to 0.
    """
    m = sigma1_factor.T @ sigma2 @ sigma1_factor
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Return ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)) in float64 (>= 0 up to round-off)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(psd_factor(s1), s2))


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Return the unbiased MMD^2 between samples x [m, D] and y [n, D] with k(a, b) = (a.b / D + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid_subsets(real: np.ndarray, fake: np.ndarray, *, n_subsets: int = 100, subset_size: int = 1000,
                seed: int = 0) -> np.ndarray:
    """Return the unbiased MMD^2 of `n_subsets` random subsets (without replacement) of each set.

    Args:
        real, fake: features [N, D] and [M, D].
        subset_size: capped at min(N, M); at least 2.
        seed: seeds the `numpy.random.Generator` that draws the subsets.
    """
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, r.shape[0], f.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {r.shape[0]} and {f.shape[0]}")
    rng = np.random.default_rng(seed)
    return np.array([polynomial_mmd2_unbiased(r[rng.choice(r.shape[0], m, replace=False)],
                                              f[rng.choice(f.shape[0], m, replace=False)]) for _ in range(n_subsets)])
