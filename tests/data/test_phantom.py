"""Phantom: determinism, anatomy, ground truth of findings, texture spectrum, dataset writer and CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval.data.dataset import PreparedDataset
from mammoeval.data.phantom import (
    TRUTH_FILE,
    FindingsConfig,
    read_phantom_options,
    read_phantom_truth,
    render_phantom,
    write_phantom_dataset,
)
from mammoeval.data.phantom.truth import record_from_json, record_to_json, truth_to_record
from mammoeval.data.prepared import read_dataset_info, read_manifest, read_png

ALL_FINDINGS = FindingsConfig(p_calcifications=1.0, p_cluster=1.0, p_marker=1.0, p_text=1.0)
RAW_NAME = re.compile(r"^(phantom-\d{6})_(L|R)_(CC|MLO)\.png$")


# --- render_phantom ----------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs() -> None:
    a = render_phantom(7, size=(160, 128), view="MLO", laterality="R", findings=ALL_FINDINGS)
    b = render_phantom(7, size=(160, 128), view="MLO", laterality="R", findings=ALL_FINDINGS)
    c = render_phantom(8, size=(160, 128), view="MLO", laterality="R", findings=ALL_FINDINGS)
    assert a.image.dtype == np.float32 and a.image.shape == (160, 128)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.truth.calcifications == b.truth.calcifications and a.truth.texts == b.truth.texts
    assert np.abs(a.image - c.image).mean() > 0.01


@pytest.mark.parametrize("view", ["CC", "MLO"])
def test_breast_is_exactly_the_nonzero_region_and_touches_the_left_edge(view: str) -> None:
    for seed in range(4):
        ph = render_phantom(seed, size=(160, 128), view=view, findings=FindingsConfig.none())
        mask = ph.truth.breast_mask
        assert mask.dtype == bool and mask.shape == ph.image.shape
        np.testing.assert_array_equal(ph.image > 0, mask)
        assert float(ph.image.max()) <= 1.0
        assert ph.truth.chest_wall_side == "left"
        # Chest wall left: every tissue row is one run starting at column 0; the right edge is background.
        rows = mask.any(axis=1)
        assert mask[rows, 0].all() and not mask[:, -1].any()
        run_lengths = mask.sum(axis=1)
        np.testing.assert_array_equal(mask, np.arange(mask.shape[1])[None, :] < run_lengths[:, None])
        assert mask.mean() > 0.3


def test_mlo_has_a_pectoral_muscle_in_the_upper_left_corner_and_cc_has_none() -> None:
    for seed in range(4):
        mlo = render_phantom(seed, size=(160, 128), view="MLO", findings=FindingsConfig.none())
        pect = mlo.truth.pectoral_mask
        assert pect.any() and not (pect & ~mlo.truth.breast_mask).any()
        rows, cols = np.nonzero(pect)
        assert pect[0, 0] and rows.mean() < 0.4 * pect.shape[0] and cols.mean() < 0.3 * pect.shape[1]
        # A bright region: brighter than the breast tissue next to it.
        inner = mlo.truth.breast_mask & ~ndimage.binary_dilation(pect, iterations=3)
        assert mlo.image[pect].mean() > mlo.image[inner].mean()
        cc = render_phantom(seed, size=(160, 128), view="CC", findings=FindingsConfig.none())
        assert cc.truth.pectoral_mask.shape == cc.image.shape and not cc.truth.pectoral_mask.any()


def test_density_varies_and_denser_breasts_are_brighter() -> None:
    phantoms = [render_phantom(s, size=(160, 128), view="CC", findings=FindingsConfig.none()) for s in range(10)]
    density = np.array([p.truth.density for p in phantoms])
    brightness = np.array([p.image[p.truth.breast_mask].mean() for p in phantoms])
    assert ((density >= 0) & (density <= 1)).all()
    assert density.max() - density.min() > 0.2
    assert np.corrcoef(density, brightness)[0, 1] > 0.6


def _radial_spectrum_slope(crop: np.ndarray) -> float:
    """Log-log slope of the radially averaged power spectrum of a square crop (Hann window, 4..N/8 cycles)."""
    n = crop.shape[0]
    win = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2((crop - crop.mean()) * win))) ** 2
    yy, xx = np.indices(power.shape) - n // 2
    radius = np.hypot(xx, yy).astype(int).ravel()
    radial = np.bincount(radius, power.ravel()) / np.bincount(radius)
    k = np.arange(4, n // 8 + 1)
    return float(np.polyfit(np.log(k / n), np.log(radial[k]), 1)[0])


def _central_crop(ph, n: int) -> np.ndarray:
    """The n x n crop nearest the middle of the breast that lies wholly in tissue outside the pectoral."""
    tissue = ph.truth.breast_mask & ~ph.truth.pectoral_mask
    fits = ndimage.minimum_filter(tissue.astype(np.uint8), size=n, mode="constant") > 0
    rows, cols = np.nonzero(fits)
    assert rows.size, "no crop fits inside the breast"
    i = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    r0, c0 = rows[i] - n // 2, cols[i] - n // 2
    return ph.image[r0 : r0 + n, c0 : c0 + n].astype(np.float64)


def test_texture_has_a_power_law_spectrum_with_exponent_about_3() -> None:
    # Reference exponent: Burgess et al. 2001 measure beta ~ 3 on real mammograms.
    slopes = [
        _radial_spectrum_slope(_central_crop(render_phantom(s, size=(640, 512), view=v,
                                                            findings=FindingsConfig.none()), 192))
        for v in ("CC", "MLO")
        for s in range(3)
    ]
    assert all(-3.7 <= s <= -2.3 for s in slopes), slopes
    assert -3.4 <= float(np.median(slopes)) <= -2.6, slopes


def test_power_law_slope_check_tells_white_noise_from_texture() -> None:
    # The checker itself: white noise is flat (slope ~0), so a pass above is not vacuous.
    white = np.random.default_rng(0).standard_normal((192, 192))
    assert abs(_radial_spectrum_slope(white)) < 0.3


# --- findings ground truth ---------------------------------------------------------------------


def test_findings_are_where_the_truth_says_and_nowhere_else() -> None:
    cfg = dataclasses.replace(ALL_FINDINGS, diameter_px=(2.0, 3.0))
    n_calcs = 0
    for seed in range(6):
        view = ("CC", "MLO")[seed % 2]
        clean = render_phantom(seed, size=(320, 256), view=view, findings=FindingsConfig.none())
        ph = render_phantom(seed, size=(320, 256), view=view, findings=cfg)
        t = ph.truth
        np.testing.assert_array_equal(t.breast_mask, clean.truth.breast_mask)
        diff = ph.image - clean.image
        explained = np.zeros_like(t.breast_mask)
        yy, xx = np.indices(diff.shape)
        for c in t.calcifications:
            n_calcs += 1
            r, col = int(round(c.y)), int(round(c.x))
            assert t.breast_mask[r, col] and not t.pectoral_mask[r, col]
            assert 2.0 <= c.diameter_px <= 3.0 and 0 < c.contrast <= 0.4
            assert diff[r, col] > 0.25 * c.contrast  # the centre pixel got brighter
            explained |= np.hypot(xx - c.x, yy - c.y) <= c.diameter_px / 2 + 1
        for m in t.markers:
            assert 3.0 <= m.radius_px <= 8.0
            r, col = int(m.y), int(m.x)
            assert t.breast_mask[r, col] and not ndimage.binary_erosion(t.breast_mask)[r, col]  # on the skin line
            explained |= np.hypot(xx - m.x, yy - m.y) <= m.radius_px + 1
        for b in t.texts:
            assert b.text == f"{t.laterality} {t.view}"
            assert not t.breast_mask[b.y0 : b.y1, b.x0 : b.x1].any()
            assert ph.image[b.y0 : b.y1, b.x0 : b.x1].max() > 0.8
            explained[b.y0 : b.y1, b.x0 : b.x1] = True
        assert not (diff[~explained] != 0).any()
        assert (ph.image[~t.breast_mask] > 0).sum() == ((ph.image > 0) & ~t.breast_mask & explained).sum()
        clusters = [c for c in t.calcifications if c.cluster >= 0]
        assert 3 <= len(clusters) <= 10
        xy = np.array([(c.x, c.y) for c in clusters])
        assert np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)).max() <= 20.0
    assert n_calcs >= 6 * 4


def test_no_findings_config_draws_none() -> None:
    for seed in range(6):
        t = render_phantom(seed, size=(160, 128), view=("CC", "MLO")[seed % 2], findings=FindingsConfig.none()).truth
        assert t.calcifications == () and t.markers == () and t.texts == ()


def test_right_breast_text_reads_mirrored_in_canonical_orientation() -> None:
    from PIL import Image, ImageDraw, ImageFont

    def lit(img: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(img > 0.5)
        return (img > 0.5)[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]

    for lat in ("L", "R"):
        ph = next(p for s in range(20)
                  if (p := render_phantom(s, size=(320, 256), view="CC", laterality=lat, findings=ALL_FINDINGS)).truth.texts)
        b = ph.truth.texts[0]
        ref = Image.new("L", (80, 30))
        ImageDraw.Draw(ref).text((5, 5), f"{lat} CC", fill=255, font=ImageFont.load_default())
        upright = lit(np.asarray(ref, dtype=np.float32) / 255)
        got = lit(ph.image[b.y0 : b.y1, b.x0 : b.x1])
        np.testing.assert_array_equal(got, upright[:, ::-1] if lat == "R" else upright)


def test_bad_arguments_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="view must be one of"):
        render_phantom(0, view="ML")
    with pytest.raises(ConfigError, match="laterality"):
        render_phantom(0, laterality="B")
    with pytest.raises(ConfigError, match=">= 32"):
        render_phantom(0, size=(16, 16))
    with pytest.raises(ConfigError, match="p_marker"):
        FindingsConfig(p_marker=1.5)
    with pytest.raises(ConfigError, match="diameter_px"):
        FindingsConfig(diameter_px=(3.0, 2.0))


# --- dataset writer ----------------------------------------------------------------------------


def test_fixture_dataset_is_balanced_and_readable(phantom_dir_80x64: Path) -> None:
    info = read_dataset_info(phantom_dir_80x64)
    assert info.size == (80, 64) and info.n_images == 16 and info.bits == 8
    assert {k: v for k, v in info.counts.items() if "/" in k} == {"CC/L": 4, "CC/R": 4, "MLO/L": 4, "MLO/R": 4}
    records = read_manifest(phantom_dir_80x64)
    assert [r.id for r in records] == [f"phantom-{i:06d}" for i in range(16)]
    ds = PreparedDataset(phantom_dir_80x64, reduction=2)
    image, label = ds[1]
    assert tuple(image.shape) == (1, 40, 32) and label == 1
    assert ds.view_labels.tolist() == [0, 1] * 8


def test_findings_json_round_trips_and_re_renders_the_stored_images(phantom_dir_160x128: Path) -> None:
    truth = read_phantom_truth(phantom_dir_160x128)
    size, seed, findings = read_phantom_options(phantom_dir_160x128)
    assert size == (160, 128) and seed == 1234 and findings == FindingsConfig()
    records = {r.id: r for r in read_manifest(phantom_dir_160x128)}
    assert set(truth) == set(records)
    assert sum(len(t.calcifications) + len(t.markers) + len(t.texts) for t in truth.values()) > 0
    for image_id, rec in truth.items():
        assert (rec.view, rec.laterality) == (records[image_id].view, records[image_id].laterality)
        ph = render_phantom(rec.seed, size=size, view=rec.view, laterality=rec.laterality, findings=findings)
        stored = read_png(phantom_dir_160x128 / records[image_id].file)
        np.testing.assert_allclose(stored, ph.image, atol=0.5 / 255 + 1e-6)
        assert record_from_json(json.loads(json.dumps(record_to_json(truth_to_record(ph.truth, rec.seed))))) == rec


def test_same_seed_same_dataset_regardless_of_workers_and_resume(tmp_path: Path) -> None:
    kw = dict(size=(64, 64), seed=5, findings=ALL_FINDINGS, progress=False)
    one = write_phantom_dataset(tmp_path / "one", n=6, workers=1, **kw)
    two = write_phantom_dataset(tmp_path / "two", n=6, workers=2, **kw)
    assert one.content_hash == two.content_hash
    assert (tmp_path / "one" / TRUTH_FILE).read_bytes() == (tmp_path / "two" / TRUTH_FILE).read_bytes()
    # Resume: a run of 4 grown to 6 keeps the first 4 files untouched and ends identical.
    write_phantom_dataset(tmp_path / "grow", n=4, **kw)
    first = {p: p.stat().st_mtime_ns for p in (tmp_path / "grow" / "images").rglob("*.png")}
    grown = write_phantom_dataset(tmp_path / "grow", n=6, **kw)
    assert grown.content_hash == one.content_hash
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
    other = write_phantom_dataset(tmp_path / "other", n=6, **{**kw, "seed": 6})
    assert other.content_hash != one.content_hash


def test_resume_with_other_options_is_refused(phantom_dir_80x64: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(phantom_dir_80x64, out)
    with pytest.raises(ConfigError, match="other options"):
        write_phantom_dataset(out, n=16, size=(80, 64), seed=99, progress=False)


def test_raw_dir_names_parse_and_right_breasts_are_mirrored(tmp_path: Path) -> None:
    info = write_phantom_dataset(tmp_path / "ds", n=4, size=(80, 64), seed=2, raw_dir=tmp_path / "raw", progress=False)
    records = {r.id: r for r in read_manifest(tmp_path / "ds")}
    names = sorted(p.name for p in (tmp_path / "raw").iterdir())
    assert len(names) == info.n_images == 4
    for name in names:
        image_id, lat, view = RAW_NAME.match(name).groups()  # type: ignore[union-attr]
        rec = records[image_id]
        assert (rec.view, rec.laterality, rec.flipped) == (view, lat, lat == "R")
        raw = read_png(tmp_path / "raw" / name)
        canonical = read_png(tmp_path / "ds" / rec.file)
        np.testing.assert_array_equal(raw, canonical[:, ::-1] if lat == "R" else canonical)
        chest_col = -1 if lat == "R" else 0
        assert (raw[:, chest_col] > 0).mean() > 0.3


def test_read_phantom_truth_names_the_file_when_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"findings\.json.*no phantom ground truth"):
        read_phantom_truth(tmp_path)
    (tmp_path / TRUTH_FILE).write_text('{"format": "mammoeval-phantom-truth", "images": {"a": {"view": "CC"}}}')
    with pytest.raises(BadInputError, match=r"findings\.json: malformed"):
        read_phantom_truth(tmp_path)


def test_bad_dataset_arguments_raise_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=">= 1"):
        write_phantom_dataset(tmp_path / "x", n=0, progress=False)
    with pytest.raises(ConfigError, match=">= 32"):
        write_phantom_dataset(tmp_path / "x", n=4, size=(8, 8), progress=False)
    assert not (tmp_path / "x").exists()


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_data_phantom_writes_a_dataset_and_reports_counts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mammoeval.cli import app

    runner = CliRunner()
    out = tmp_path / "ph"
    res = runner.invoke(app, ["data", "phantom", "--n", "4", "--out", str(out), "--size", "64x64",
                              "--seed", "3", "--no-findings", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "4 phantoms 64x64" in res.output and "MLO/R 1" in res.output
    truth = read_phantom_truth(out)
    assert all(not t.calcifications and not t.markers and not t.texts for t in truth.values())
    bad = runner.invoke(app, ["data", "phantom", "--n", "4", "--out", str(tmp_path / "b"), "--size", "16x16"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and ">= 32" in bad.output
