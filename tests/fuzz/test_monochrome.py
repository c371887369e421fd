"""MONOCHROME1 is MONOCHROME2 inverted, bit for bit, through the fallback window (no VOI LUT, no
window tags) and through the whole of `prepare` (canonical flip, fit, quantisation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mammoeval.data.prepare import Job, PrepareOptions, prepare_one
from mammoeval.data.prepared import read_png
from mammoeval.data.readers import read_image
from tests.fuzz import kit


@st.composite
def stored_images(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    """A uint16 image of `bits`-bit stored values: random tissue against a background of any level."""
    bits = draw(st.sampled_from([8, 10, 12, 14, 16]))
    top = (1 << bits) - 1
    h, w = draw(st.integers(16, 40)), draw(st.integers(16, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lo = draw(st.integers(0, top - 1))
    hi = draw(st.integers(lo + 1, top))
    arr = rng.integers(lo, hi + 1, size=(h, w))
    background = draw(st.integers(0, top))
    arr[:, : draw(st.integers(0, w // 2))] = background
    return arr.astype(np.uint16), bits


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image=stored_images())
def test_monochrome1_of_the_inverted_pixels_is_monochrome2_bit_for_bit(tmp_path: Path,
                                                                       image: tuple[np.ndarray, int]) -> None:
    arr, bits = image
    inverted = ((1 << bits) - 1 - arr.astype(np.int64)).astype(np.uint16)
    m2 = read_image(kit.make_dicom(tmp_path / "m2.dcm", arr, bits=bits)).pixels
    m1 = read_image(kit.make_dicom(tmp_path / "m1.dcm", inverted, photometric="MONOCHROME1", bits=bits)).pixels
    assert m1.dtype == m2.dtype == np.float32
    np.testing.assert_array_equal(m1, m2)
    opts = PrepareOptions(size=(16, 16), allow_upsample=True)
    prepared = []
    for name in ("m2.dcm", "m1.dcm"):
        out = tmp_path / f"out-{name}"
        job = Job(source=name, path=str(tmp_path / name), image_id="x", labels=None, fingerprint="f")
        outcome = prepare_one(job, opts, str(out))
        assert outcome.record is not None, outcome.reason
        prepared.append(read_png(out / outcome.record.file))
    np.testing.assert_array_equal(prepared[0], prepared[1])
