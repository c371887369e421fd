"""The breast-aware SWD and MS-SSIM as registry names: keys, directions, the suite, a missing mask."""

from __future__ import annotations

import torch

from mammoeval.data.imageset import ImageBatch, TensorImageSet
from mammoeval.metrics.keys import (
    KEY_MSSSIM_FAKE_BREAST,
    KEY_MSSSIM_GAP_BREAST,
    KEY_MSSSIM_REAL_BREAST,
    KEY_SWD_AVG,
    KEY_SWD_AVG_BREAST,
)
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings
from mammoeval.metrics.registry import NO_MASKER_REASON, find_key_spec, metric_spec
from mammoeval.metrics.suite import compute_suite
from mammoeval.metrics.swd import SWDMetric, SWDSettings
from mammoeval.qa.breast_mask import compute_breast_mask
from tests.metrics.conftest import breast_images


def test_breast_metrics_are_registered_opt_in_with_their_own_keys() -> None:
    swd, ms = metric_spec("swd_breast"), metric_spec("msssim_breast")
    assert not swd.default and not ms.default
    assert [k.key for k in swd.keys] == [KEY_SWD_AVG_BREAST, "swd_breast_l"]
    assert [k.key for k in ms.keys] == [KEY_MSSSIM_FAKE_BREAST, KEY_MSSSIM_REAL_BREAST, KEY_MSSSIM_GAP_BREAST]
    level = find_key_spec("swd_breast_l3")
    assert level is not None and level.direction == "min" and level.display_scale == find_key_spec(KEY_SWD_AVG).display_scale
    spec = find_key_spec(KEY_SWD_AVG_BREAST)
    assert spec is not None and spec.direction == "min" and spec.headline
    # the whole-image keys do not claim the breast ones
    whole = find_key_spec("swd_l3")
    assert whole is not None and not any(k.matches("swd_breast_l3") for k in metric_spec("swd").keys)


def _sets() -> tuple[TensorImageSet, TensorImageSet]:
    views = torch.arange(12) % 2
    return (TensorImageSet(breast_images(12, seed=1), views, name="real"),
            TensorImageSet(breast_images(12, seed=2, blur=2), views, name="fake"))


def test_suite_scores_the_breast_metrics_as_the_library_settings_do() -> None:
    real, fake = _sets()
    res = compute_suite(real, fake, metrics=("swd", "swd_breast", "msssim_breast"), n_bootstrap=20, seed=3,
                        progress=False, breast_masker=compute_breast_mask)  # type: ignore[arg-type]
    got = res.views["all"]
    assert {KEY_SWD_AVG, KEY_SWD_AVG_BREAST, "swd_breast_l0", KEY_MSSSIM_FAKE_BREAST, KEY_MSSSIM_GAP_BREAST} <= set(got)
    assert got[KEY_SWD_AVG_BREAST].value != got[KEY_SWD_AVG].value

    swd = SWDMetric(SWDSettings(region="breast", seed=3, n_bootstrap=20), breast_masker=compute_breast_mask)
    ms = MSSSIMDiversity(MSSSIMSettings(region="breast", seed=3, n_bootstrap=20), breast_masker=compute_breast_mask)
    for s, is_real in ((real, True), (fake, False)):
        batch = ImageBatch(s.images, s.views, [str(i) for i in range(len(s))])
        swd.update(batch, real=is_real)
        ms.update(batch, real=is_real)
    direct_swd, direct_ms = swd.compute()["all"], ms.compute()["all"]
    assert got[KEY_SWD_AVG_BREAST].value == direct_swd[KEY_SWD_AVG_BREAST].value
    assert got[KEY_SWD_AVG_BREAST].floor == direct_swd[KEY_SWD_AVG_BREAST].floor
    assert got[KEY_MSSSIM_FAKE_BREAST].value == direct_ms[KEY_MSSSIM_FAKE_BREAST].value
    gap = got[KEY_MSSSIM_GAP_BREAST]
    assert gap.value == got[KEY_MSSSIM_FAKE_BREAST].value - got[KEY_MSSSIM_REAL_BREAST].value
    assert gap.ci is not None and gap.ci[0] <= gap.value <= gap.ci[1]
    assert "swd_breast" in res.settings and "msssim_breast" in res.settings


def test_breast_metrics_without_a_mask_are_unavailable_with_the_reason() -> None:
    real, fake = _sets()
    res = compute_suite(real, fake, metrics=("swd", "swd_breast", "msssim_breast"), n_bootstrap=0,
                        progress=False)  # type: ignore[arg-type]
    assert KEY_SWD_AVG in res.views["all"] and KEY_SWD_AVG_BREAST not in res.views["all"]
    assert res.unavailable["swd_breast"] == NO_MASKER_REASON
    assert res.unavailable["msssim_breast"] == NO_MASKER_REASON
