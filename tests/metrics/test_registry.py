"""The metric registry: one spec per metric drives directions, display scales, headline keys and defaults."""

from __future__ import annotations

import pytest

from mammoeval.core.errors import ConfigError
from mammoeval.metrics import registry
from mammoeval.metrics.keys import KEY_SWD_AVG, swd_level_key
from mammoeval.metrics.registry import (
    KeySpec,
    MetricSpec,
    default_metrics,
    derived_keys,
    direction_of,
    display_label,
    display_scale,
    headline_keys,
    key_spec,
    list_metrics,
    register,
    scale_suffix,
)


def test_directions_come_from_the_specs() -> None:
    for key in ("swd_avg", "swd_l0", "swd_l3", "fid", "kid_offline", "msssim_fake", "memorization_rate",
                "artifact_rate", "msssim_gap"):
        assert direction_of(key) == "min", key
    for key in ("precision", "recall_offline", "density", "coverage_offline", "nn_distance_median"):
        assert direction_of(key) == "max", key


def test_unknown_keys_are_an_error_not_a_default() -> None:
    with pytest.raises(ConfigError, match="unknown metric key 'sdw_avg'; known keys: swd_avg, swd_lN"):
        direction_of("sdw_avg")
    with pytest.raises(ConfigError):
        key_spec("swd_lx")
    assert display_label("sdw_avg") == "sdw_avg"


def test_swd_is_shown_x1e3_everywhere_else_raw() -> None:
    assert display_scale(KEY_SWD_AVG) == display_scale(swd_level_key(2)) == 1e3
    assert display_scale("fid") == 1.0
    assert display_label("swd_avg") == "swd_avg (x1e3)" and display_label("fid") == "fid"
    assert scale_suffix(1.0) == "" and scale_suffix(1e3) == "x1e3" and scale_suffix(0.5) == "x0.5"


def test_headline_and_default_lists_follow_registration_order() -> None:
    assert headline_keys()[:3] == ("swd_avg", "msssim_fake", "msssim_real")
    assert "swd_l0" not in headline_keys() and "artifact_rate" not in headline_keys()
    assert default_metrics() == tuple(n for n in list_metrics() if registry.metric_spec(n).default)
    assert {"swd", "msssim", "fid"} <= set(default_metrics())
    assert derived_keys() == ("artifact_rate", "artifact_rate_real")
    assert registry.direction_of("msssim_gap") == "min"  # a result key of msssim (|gap| ranks in selection)


def _factory(ctx: registry.BuildContext, specs: tuple[MetricSpec, ...]) -> registry.Metric:
    raise AssertionError("not built in these tests")


@pytest.mark.parametrize(("spec", "match"), [
    (MetricSpec("swd", _factory, (KeySpec("new_key", "min"),), "dup"), "metric 'swd' is already registered"),
    (MetricSpec("Bad Name", _factory, (KeySpec("k1", "min"),), "x"), "snake_case"),
    (MetricSpec("other", _factory, (KeySpec("fid", "min"),), "x"), "key 'fid' is already registered"),
    (MetricSpec("other", _factory, (KeySpec("k2", "up"),), "x"), "direction must be 'min' or 'max'"),  # type: ignore[arg-type]
    (MetricSpec("other", _factory, (KeySpec("k3", "min", display_scale=0.0),), "x"), "display_scale"),
    (MetricSpec("other", _factory, (), "x"), "no result keys"),
])
def test_register_refuses_bad_specs(spec: MetricSpec, match: str) -> None:
    before = list_metrics()
    with pytest.raises(ValueError, match=match):
        register(spec)
    assert list_metrics() == before
