"""The row's "scale" (images and working resolution per metric) and the device-agnostic paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mammoeval.metrics.swd import SWDSettings
from mammoeval.qa.scan import QAConfig
from mammoeval.score.scale import scale_of


def test_scale_states_caps_and_resolutions_from_the_settings_used() -> None:
    import dataclasses

    from mammoeval.metrics.msssim import MSSSIMSettings

    settings = {"swd": dataclasses.asdict(SWDSettings(max_images=100)), "msssim": dataclasses.asdict(MSSSIMSettings()),
                "features_offline": {"max_items": 50000}, "memorization": {"pixel_height": 64},
                "frd": {"sample_size": 500, "working_resolution": [320, 256]}}
    s = scale_of(settings, size=(1280, 1024), n_real=300, n_fake=80, qa=QAConfig(max_height=640))
    assert s["swd"]["images_real"] == 100 and s["swd"]["images_fake"] == 80
    assert s["swd"]["working_resolution"] == [1280, 1024]
    assert s["msssim"]["images_real"] == 128 and s["msssim"]["pairs_per_set_and_view"] == 100
    assert s["features_offline"]["working_resolution"] == [256, 205]
    assert s["memorization"]["working_resolution"] == [64, 51] and s["memorization"]["images_real"] == 300
    assert s["qa"]["working_resolution"] == [640, 512]
    assert s["frd"] == {"sample_size": 500, "working_resolution": [320, 256]}  # a metric that states its own
    assert "qa" not in scale_of(settings, size=(80, 64), n_real=3, n_fake=3, qa=None)


def test_folder_row_records_its_scale(phantom_dir_80x64: Path) -> None:
    from mammoeval.score.folder_mode import score_folders
    from mammoeval.score.settings import ScoreSettings

    row = score_folders(phantom_dir_80x64, phantom_dir_80x64, progress=False,
                        settings=ScoreSettings(metrics=("swd", "memorization"), n_bootstrap=0, qa=False, workers=1))
    assert row["scale"]["swd"] == {"images_real": 16, "images_fake": 16, "working_resolution": [80, 64],
                                   "patches_per_image_per_level": 128, "bootstrap_images": 256}
    assert row["scale"]["memorization"]["working_resolution"] == [64, 51] and "qa" not in row["scale"]


def test_swd_tensor_path_equals_the_numpy_path_on_cpu_tensors() -> None:
    """The sort path a GPU takes (torch) and the CPU path (NumPy) give the same per-direction sums."""
    from mammoeval.metrics.swd import _project_sorted_abs_diff, _sorted_abs_diff_torch

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 49, generator=g), torch.randn(500, 49, generator=g) + 0.3
    dirs = torch.randn(16, 49, generator=g)
    via_torch = _sorted_abs_diff_torch(dirs @ a.T, dirs @ b.T).numpy()
    via_numpy = _project_sorted_abs_diff(dirs.numpy(), a.numpy(), b.numpy())
    np.testing.assert_allclose(via_torch, via_numpy, rtol=1e-5)


def test_nearest_neighbour_search_honours_the_device_of_its_inputs() -> None:
    from mammoeval.metrics.memorization import nearest

    g = torch.Generator().manual_seed(1)
    q, ref = torch.rand(7, 30, generator=g), torch.rand(11, 30, generator=g)
    d, i = nearest(q, ref, chunk=3)
    full = torch.cdist(q.double(), ref.double())
    assert torch.equal(i.cpu(), full.argmin(1)) and torch.allclose(d.cpu().double(), full.min(1).values)
