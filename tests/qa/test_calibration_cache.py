"""The QA calibration is cached on disk by the content hash of the real scan (score runs reuse it)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mammoeval.qa.scan as scan_mod
from mammoeval.qa.calibration import (
    CACHE_PREFIX,
    CALIBRATION_VERSION,
    CalibrationWarning,
    calibration_cache_key,
    find_cached_calibration,
)
from mammoeval.qa.scan import QAScan


@pytest.fixture()
def count_fits(monkeypatch):
    """Return a list that gets one entry per calibration actually fitted (cache misses)."""
    calls: list[int] = []
    real_calibrate = scan_mod.calibrate

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real_calibrate(*args, **kwargs)

    monkeypatch.setattr(scan_mod, "calibrate", counting)
    return calls


def _real_scan(phantoms) -> QAScan:
    import torch

    from mammoeval.data.imageset import TensorImageSet
    from mammoeval.qa import scan_image_set

    imgs = np.stack([img for _, img, _ in phantoms])[:, None]
    views = torch.tensor([0 if v == "CC" else 1 for v, _, _ in phantoms])
    return scan_image_set(TensorImageSet(torch.from_numpy(imgs), views, name="site a"), progress=False)


def _cached_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{CACHE_PREFIX}-*.json"))


def test_key_changes_with_content_rate_height_options_and_version():
    base = calibration_cache_key("abc", fp_rate=0.02, max_height=1280, options={})
    assert base == calibration_cache_key("abc", fp_rate=0.02, max_height=1280, options={})
    others = {calibration_cache_key("abd", fp_rate=0.02, max_height=1280, options={}),
              calibration_cache_key("abc", fp_rate=0.05, max_height=1280, options={}),
              calibration_cache_key("abc", fp_rate=0.02, max_height=640, options={}),
              calibration_cache_key("abc", fp_rate=0.02, max_height=1280, options={"min_images": 3})}
    assert base not in others and len(others) == 4
    assert CALIBRATION_VERSION == 1  # the version string is part of every key (a new version misses old files)


def test_second_scan_of_the_same_reals_loads_the_disk_cache(tmp_path, phantoms, count_fits):
    real = _real_scan(phantoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        first = real.fit_calibration(min_images=3, cache_dir=tmp_path)
        assert count_fits == [len(phantoms)]
        [path] = _cached_files(tmp_path)
        assert path.name.startswith(f"{CACHE_PREFIX}-site_a-")
        assert json.loads(path.read_text())["id"] == first.id and first.id.startswith("cal-")

        fresh = QAScan(list(real.rows), name=real.name)  # another process: nothing in memory
        again = fresh.fit_calibration(min_images=3, cache_dir=tmp_path)
        assert count_fits == [len(phantoms)]  # read from disk, not fitted
        assert again == first

        changed = QAScan([replace(real.rows[0], scores={**real.rows[0].scores, "blobs": 0.77}), *real.rows[1:]],
                         name=real.name)
        other = changed.fit_calibration(min_images=3, cache_dir=tmp_path)
        assert len(count_fits) == 2 and len(_cached_files(tmp_path)) == 2
        assert other.source == first.source
        assert find_cached_calibration(tmp_path, first.id) == first
        assert find_cached_calibration(tmp_path, "cal-0000") is None


def test_a_damaged_cache_file_is_refitted_and_replaced(tmp_path, phantoms, count_fits):
    real = _real_scan(phantoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        first = real.fit_calibration(min_images=3, cache_dir=tmp_path)
        [path] = _cached_files(tmp_path)
        path.write_text('{"version": 1, "id": ')  # a write cut short by another tool
        again = QAScan(list(real.rows), name=real.name).fit_calibration(min_images=3, cache_dir=tmp_path)
    assert len(count_fits) == 2 and again == first
    assert json.loads(path.read_text())["id"] == first.id


def test_a_cached_fallback_repeats_its_warning(tmp_path, phantoms):
    real = _real_scan(phantoms)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        real.fit_calibration(cache_dir=tmp_path)
        QAScan(list(real.rows), name=real.name).fit_calibration(cache_dir=tmp_path)
    lines = [str(w.message) for w in caught if issubclass(w.category, CalibrationWarning)]
    assert len(lines) == 2 and lines[0] == lines[1] and "shipped default thresholds" in lines[0]


def _write_folder(folder: Path, n: int = 8) -> None:
    from PIL import Image

    from mammoeval.data.phantom import render_phantom

    folder.mkdir()
    for i in range(n):
        view = ("CC", "MLO")[i % 2]
        img = render_phantom(100 + i, size=(80, 64), view=view).image
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"p{i:02d}_{view}.png")


def test_score_folders_second_run_reads_the_cache_and_changed_reals_miss_it(tmp_path, phantom_dir_80x64,
                                                                             count_fits):
    from PIL import Image

    from mammoeval.score.folder_mode import score_folders
    from mammoeval.score.settings import ScoreSettings

    real = tmp_path / "real"
    _write_folder(real)
    cache = tmp_path / "cache"
    settings = ScoreSettings(metrics=("swd",), n_bootstrap=2, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        first = score_folders(real, phantom_dir_80x64, settings=settings, cache_dir=cache, progress=False)
        assert len(count_fits) == 1 and len(_cached_files(cache)) == 1
        second = score_folders(real, phantom_dir_80x64, settings=settings, cache_dir=cache, progress=False)
        assert len(count_fits) == 1  # loaded from the cache
        assert second["qa"]["calibration"] == first["qa"]["calibration"]

        victim = sorted(real.iterdir())[0]
        pixels = np.asarray(Image.open(victim), dtype=np.uint8).copy()
        pixels[20:30, 10:20] = 0
        Image.fromarray(pixels).save(victim)
        score_folders(real, phantom_dir_80x64, settings=settings, cache_dir=cache, progress=False)
    assert len(count_fits) == 2 and len(_cached_files(cache)) == 2
