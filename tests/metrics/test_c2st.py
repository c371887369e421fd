"""C2ST: AUC against a brute-force count, the logistic fit against scipy, chance on one distribution,
near 1 on blurred copies, determinism, and the suite / registry path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mammoeval.data.imageset import TensorImageSet
from mammoeval.metrics.c2st import C2STSettings, compute_c2st, fit_logistic, stratified_folds
from mammoeval.metrics.keys import KEY_C2ST_AUC
from mammoeval.metrics.registry import default_metrics, direction_of, key_spec, resolve_metrics
from mammoeval.metrics.roc import bootstrap_auc_ci, compute_auc
from mammoeval.metrics.suite import compute_suite
from tests.metrics.conftest import breast_images


def _auc_pairs(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def test_mid_ranks_match_scipy() -> None:
    from scipy.stats import rankdata

    from mammoeval.metrics.roc import mid_ranks

    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, -1.0, 2.0])
    np.testing.assert_array_equal(mid_ranks(x), rankdata(x))


def test_auc_equals_the_pairwise_probability_with_ties() -> None:
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=60), 1)  # rounding makes ties
    y = rng.integers(0, 2, size=60)
    assert compute_auc(s, y) == pytest.approx(_auc_pairs(s, y), abs=1e-12)
    assert compute_auc(np.arange(4.0), np.array([0, 0, 1, 1])) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        compute_auc(np.ones(3), np.ones(3))


def test_bootstrap_interval_brackets_the_auc_and_groups_resample_whole_items() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    s = rng.normal(size=80) + y
    auc = compute_auc(s, y)
    lo, hi = bootstrap_auc_ci(s, y, n_bootstrap=300, seed=2)  # type: ignore[misc]
    assert lo < auc < hi and hi - lo < 0.4
    # the same 80 scores given three times: as independent answers the interval shrinks, as clusters it does not
    s3, y3, g3 = np.tile(s, 3), np.tile(y, 3), np.tile(np.arange(80), 3)
    lo_i, hi_i = bootstrap_auc_ci(s3, y3, n_bootstrap=300, seed=2)  # type: ignore[misc]
    lo_g, hi_g = bootstrap_auc_ci(s3, y3, n_bootstrap=300, seed=2, groups=g3)  # type: ignore[misc]
    assert hi_g - lo_g > 1.3 * (hi_i - lo_i)


def test_logistic_fit_matches_scipy_minimisation() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.normal(size=80) > 0).astype(float)

    def loss(t: np.ndarray) -> float:
        z = x @ t[:-1] + t[-1]
        return float(np.sum(np.logaddexp(0, -(2 * y - 1) * z)) + 0.5 * 0.7 * t[:-1] @ t[:-1])

    ref = minimize(loss, np.zeros(5), method="BFGS", options={"gtol": 1e-10}).x
    w, b = fit_logistic(x, y, l2=0.7)
    np.testing.assert_allclose(np.append(w, b), ref, atol=1e-4)


def test_folds_are_stratified() -> None:
    y = np.repeat([0, 1], [13, 7])
    f = stratified_folds(y, 5, np.random.default_rng(0))
    for k in range(5):
        assert 2 <= (y[f == k] == 0).sum() <= 3 and 1 <= (y[f == k] == 1).sum() <= 2


def test_one_distribution_interval_holds_half_and_a_shift_is_found() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(60, 10)), rng.normal(size=(60, 10))
    r = compute_c2st(a, b, C2STSettings(seed=0))
    assert r.ci is not None and r.ci[0] <= 0.5 <= r.ci[1]
    assert r.floor is not None and abs(r.floor - 0.5) < 0.25
    shifted = compute_c2st(a, b + np.r_[1.5, np.zeros(9)], C2STSettings(seed=0))
    assert shifted.value > 0.8 and shifted.ci is not None and shifted.ci[0] > 0.5


def _sets(blur: int) -> tuple[TensorImageSet, TensorImageSet]:
    views = torch.tensor([0, 1] * 16)
    real = TensorImageSet(breast_images(32, seed=10), views, name="real")
    fake = TensorImageSet(breast_images(32, seed=11, blur=blur), views, name="fake")
    return real, fake


def test_suite_c2st_holds_half_on_one_distribution_and_is_near_one_on_blurred_copies() -> None:
    assert "c2st" in default_metrics() and resolve_metrics("c2st")[0].extractor == "offline"
    assert direction_of(KEY_C2ST_AUC) == "min" and key_spec(KEY_C2ST_AUC).headline
    real, same = _sets(0)
    res = compute_suite(real, same, metrics=["c2st"], seed=0, n_bootstrap=200, progress=False)
    r = res.views["all"][KEY_C2ST_AUC]
    assert r.ci is not None and r.ci[0] <= 0.5 <= r.ci[1], r
    assert set(res.views) == {"CC", "MLO", "all"} and r.n_real == r.n_fake == 32
    _, blurred = _sets(2)
    b = compute_suite(real, blurred, metrics=["c2st"], seed=0, n_bootstrap=200, progress=False)
    assert b.views["all"][KEY_C2ST_AUC].value > 0.95
    assert b.views["CC"][KEY_C2ST_AUC].value > 0.9


def test_same_seed_same_value_other_seed_other_folds() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + 0.3
    r1, r2 = compute_c2st(a, b, C2STSettings(seed=1)), compute_c2st(a, b, C2STSettings(seed=1))
    assert r1 == r2
    assert compute_c2st(a, b, C2STSettings(seed=2)).value != r1.value


def test_too_few_images_are_unavailable_not_an_error() -> None:
    views = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    real = TensorImageSet(breast_images(8, seed=1), views)
    fake = TensorImageSet(breast_images(8, seed=2), views)
    res = compute_suite(real, fake, metrics=["c2st"], n_bootstrap=0, progress=False)
    assert "CC" not in res.views and f"{KEY_C2ST_AUC}/CC" in res.unavailable
    assert KEY_C2ST_AUC in res.views["MLO"]
    with pytest.raises(ValueError, match="at least 4"):
        compute_c2st(np.zeros((3, 2)), np.zeros((5, 2)))


def test_bootstrap_matches_a_plain_resampling_loop() -> None:
    from mammoeval.metrics.roc import _cluster_draws

    rng = np.random.default_rng(6)
    y = np.repeat([1, 0], [7, 9])
    s = np.round(rng.normal(size=16) + y, 1)
    g = np.arange(16) // 2  # pairs of items form clusters; cluster 3 spans both classes and is drawn in each
    lo, hi = bootstrap_auc_ci(s, y, n_bootstrap=50, seed=3, groups=g)  # type: ignore[misc]
    # the same draws, replayed one replicate at a time with explicit index lists
    r2 = np.random.default_rng(3)
    (cp, _), (cn, _) = (_cluster_draws(g[y == c], 50, r2) for c in (1, 0))
    ids = {c: np.unique(g[y == c]) for c in (1, 0)}
    stats = []
    for b in range(50):
        idx = [i for c, counts in ((1, cp[b]), (0, cn[b])) for k, n in zip(ids[c], counts, strict=True)
               for i in np.flatnonzero((g == k) & (y == c)) for _ in range(int(n))]
        stats.append(compute_auc(s[idx], y[idx]))
    assert (lo, hi) == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])), abs=1e-12)


REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"


@pytest.mark.realdev
def test_real_dev_halves_hold_half_and_blurred_copies_are_found() -> None:
    if not REAL_DEV.is_dir():
        pytest.skip("real-dev data absent")
    from mammoeval.data.open import open_image_set

    batches = list(open_image_set(REAL_DEV, size=(160, 128)).iter_batches(32))
    x, v = torch.cat([b.images for b in batches]), torch.cat([b.views for b in batches])
    a, b = slice(0, None, 2), slice(1, None, 2)  # interleaved: the folder is sorted by source
    half_a = TensorImageSet(x[a], v[a], name="a")
    blurred = torch.nn.functional.avg_pool2d(x[b], 9, stride=1, padding=4, count_include_pad=False)
    same = compute_suite(half_a, TensorImageSet(x[b], v[b], name="b"), metrics=["c2st"], progress=False)
    blur = compute_suite(half_a, TensorImageSet(blurred, v[b], name="blur"), metrics=["c2st"], progress=False)
    r = same.views["all"][KEY_C2ST_AUC]
    assert r.ci is not None and r.ci[0] <= 0.5 <= r.ci[1], r
    assert blur.views["all"][KEY_C2ST_AUC].value > 0.9
