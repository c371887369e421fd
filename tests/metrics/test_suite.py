"""Suite: registry, cache by content, memorization of an exact copy, FID unavailable, Inception plumbing."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from mammoeval.core.errors import BadInputError, ConfigError, MissingWeightsError
from mammoeval.data.imageset import ImageBatch, TensorImageSet
from mammoeval.metrics.memorization import MemorizationMetric, MemorizationSettings
from mammoeval.metrics.offline import OFFLINE_DIM, OfflineExtractor
from mammoeval.metrics.registry import default_metrics, list_metrics, resolve_metrics
from mammoeval.metrics.suite import compute_suite
from tests.metrics.conftest import breast_images

FAST = ("swd", "fid_offline", "kid_offline", "memorization")


def _set(n: int, seed: int, name: str) -> TensorImageSet:
    return TensorImageSet(breast_images(n, seed=seed), torch.arange(n) % 2, name=name)


def _quiet(**kw: object) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # FID on few samples warns, by design
        return compute_suite(progress=False, n_bootstrap=10, **kw).to_json()  # type: ignore[arg-type]


def test_registry_rejects_unknown_names_with_the_valid_list() -> None:
    assert set(default_metrics()) <= set(list_metrics())
    assert [s.name for s in resolve_metrics("swd, fid,swd")] == ["swd", "fid"]
    with pytest.raises(ConfigError, match=r"unknown metric 'sdw'; valid metrics: swd, msssim"):
        resolve_metrics(["sdw"])


def test_suite_json_shape_and_fid_unavailable_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAMMOEVAL_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    out = _quiet(real=_set(8, 1, "real"), fake=_set(8, 2, "fake"), metrics=("swd", "fid", "kid_offline"))
    assert "--inception-weights" in out["unavailable"]["fid"] and "\n" not in out["unavailable"]["fid"]
    assert set(out["views"]) == {"CC", "MLO", "all"}
    entry = out["views"]["all"]["swd_avg"]
    assert set(entry) == {"value", "ci", "floor", "n_real", "n_fake", "ratio", "floor_sd", "floor_size", "floor_splits",
                          "matched_value"}  # 8 reals cannot give two disjoint sets of 8: the value at 4 too
    assert entry["n_real"] == 8 and entry["floor_size"] == 4 and entry["ratio"] == entry["matched_value"] / entry["floor"]
    assert out["views"]["CC"]["kid_offline"]["n_fake"] == 4
    assert "fid" not in out["views"]["all"]


def test_cache_hit_is_identical_and_changed_content_misses(tmp_path: Path) -> None:
    real, fake = _set(8, 1, "real"), _set(6, 2, "fake")
    first = _quiet(real=real, fake=fake, metrics=FAST, cache_dir=tmp_path)
    assert set(first["settings"]["cache"].values()) == {"miss"}
    second = _quiet(real=real, fake=fake, metrics=FAST, cache_dir=tmp_path)
    assert set(second["settings"]["cache"].values()) == {"hit"}
    assert second["views"] == first["views"]
    changed = breast_images(8, seed=1)
    changed[3, 0, 40, 10] += 0.25  # one pixel of one image
    third = _quiet(real=TensorImageSet(changed, torch.arange(8) % 2, name="real"), fake=fake, metrics=FAST,
                   cache_dir=tmp_path)
    assert set(third["settings"]["cache"].values()) == {"miss"}
    other_seed = _quiet(real=real, fake=fake, metrics=("swd",), cache_dir=tmp_path, seed=1)
    assert other_seed["settings"]["cache"] == {"swd": "miss"}


def test_memorization_flags_an_exact_copy() -> None:
    real = breast_images(10, seed=1)
    fake = torch.cat([breast_images(5, seed=7), real[3:4]])
    m = MemorizationMetric(OfflineExtractor(), MemorizationSettings(n_bootstrap=0))
    m.update(ImageBatch(real, torch.zeros(10, dtype=torch.int64), [f"r{i}" for i in range(10)]), real=True)
    m.update(ImageBatch(fake, torch.zeros(6, dtype=torch.int64), [f"f{i}" for i in range(6)]), real=False)
    res = m.compute()["all"]
    pairs = m.pairs()["all"]
    assert {(p["fake_id"], p["train_id"]) for p in pairs} >= {("f5", "r3")}
    assert pairs[0]["distance"] == 0.0 and pairs[0]["fake_id"] == "f5"
    # the copy is flagged in both spaces; fresh draws may sit as close as the closest real pair
    assert {p["space"] for p in pairs if p["fake_id"] == "f5"} == {"pixels", "features"}
    assert res["memorization_rate"].value >= 1 / 6
    assert res["nn_distance_median"].value > 0


def test_memorization_with_a_separate_training_set() -> None:
    train = _set(6, 1, "train")
    out = _quiet(real=_set(6, 3, "held"), fake=TensorImageSet(train.images[:4], train.views[:4], name="copies"),
                 metrics=("memorization",), train=train)
    assert out["views"]["all"]["memorization_rate"]["value"] == 1.0
    assert out["memorization"]["held_out"] == "all real"


def test_different_sizes_are_refused_naming_the_set() -> None:
    small = TensorImageSet(breast_images(4, height=40, width=32), torch.zeros(4, dtype=torch.int64), name="gen")
    with pytest.raises(BadInputError, match="gen: generated images are 40x32"):
        compute_suite(_set(4, 1, "real"), small, metrics=("swd",), progress=False)


def test_offline_features_shape_and_determinism() -> None:
    x = breast_images(3, seed=1)
    a, b = OfflineExtractor().extract(x), OfflineExtractor().extract(x.clone())
    assert a.shape == (3, OFFLINE_DIM) and torch.equal(a, b) and bool(torch.isfinite(a).all())


def test_inception_plumbing_with_constructed_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mammoeval.core.fsutil import sha256_file
    from mammoeval.metrics.inception import InceptionExtractor, build_fid_inception, find_inception_weights

    net = build_fid_inception()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    path = tmp_path / "random_inception.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(BadInputError, match="random_inception.pth: SHA-256 .* does not start with 6726825d"):
        InceptionExtractor(path)
    ext = InceptionExtractor(path, expected_sha256=sha256_file(path))
    feats = ext.extract(breast_images(2, height=40, width=32))
    assert feats.shape == (2, 2048) and bool(torch.isfinite(feats).all())
    monkeypatch.setenv("MAMMOEVAL_INCEPTION_WEIGHTS", str(path))
    assert find_inception_weights() == path
    monkeypatch.delenv("MAMMOEVAL_INCEPTION_WEIGHTS")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with pytest.raises(MissingWeightsError, match="pass --inception-weights PATH"):
        find_inception_weights()
    with pytest.raises(BadInputError, match="nope.pth: Inception weights file not found"):
        find_inception_weights(tmp_path / "nope.pth")
