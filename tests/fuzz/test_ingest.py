"""Ingest fuzzing: one source folder holding good images beside every kind of bad file.

One `prepare` over it must finish, prepare every good image exactly as it is prepared alone, and
skip each bad file with a one-line reason naming it in skipped.csv. Plus the same files through
the readers one by one, the CLI, plain-folder QA and property-based random bytes and pixels.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mammoeval.core.errors import BadInputError
from mammoeval.data.prepare import JOURNAL_DIR, JOURNAL_FILE, prepare_dataset
from mammoeval.data.prepared import read_manifest
from mammoeval.data.readers import read_image
from tests.fuzz import kit

SIZE = (32, 24)
GOOD = ("good/a CC.png", "good/-rf b MLO.png", "good/space name L_CC.tif")
NON_UTF8 = os.fsdecode(b"good/caf\xe9 R_MLO.png")
"""A good image whose name is not valid UTF-8: it is prepared like any other."""

Maker = Callable[[Path], object]


def _text(encoding: str) -> Maker:
    return lambda p: p.write_bytes("Ceci n'est pas une image: é à ü — 画像\n".encode(encoding, "replace"))


def _float_tiff(values: Callable[[np.ndarray], np.ndarray]) -> Maker:
    def make(p: Path) -> None:
        kit.write_float_tiff(p, values(kit.breast().astype(np.float32) / 255))
    return make


def _with_nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[3, 4] = np.nan
    return a


def _dicom(**kw: Any) -> Maker:
    arr = (kit.breast().astype(np.uint16) * 16)
    return lambda p: kit.make_dicom(p, arr, **kw)


def _truncated(make: Maker, keep: float) -> Maker:
    def cut(p: Path) -> None:
        make(p)
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])
    return cut


def _symlink_loop(p: Path) -> None:
    other = p.with_name("loop-b.dcm")
    os.symlink(other.name, p)
    os.symlink(p.name, other)


def _dir_loop(p: Path) -> None:
    os.symlink("..", p)


def _multipage(p: Path) -> None:
    frames = [Image.fromarray(kit.breast(seed=s)) for s in range(2)]
    frames[0].save(p, save_all=True, append_images=frames[1:])


# (file name, maker, regular expression the skip reason must match)
BAD: list[tuple[str, Maker, str]] = [
    ("fifo.png", kit.make_fifo, r"FIFO"),
    ("loop-a.dcm", _symlink_loop, r"symlink loop"),
    ("loop-b.dcm", lambda p: None, r"symlink loop"),
    ("dangling.png", lambda p: os.symlink("nowhere.png", p), r"dangling symlink"),
    ("linked-folder", _dir_loop, r"symlink to a folder"),
    ("empty.png", lambda p: p.write_bytes(b""), r"not a readable image|cannot decode"),
    ("utf16.png", _text("utf-16"), r"not a readable image|cannot decode"),
    ("latin1.dcm", _text("latin-1"), r"DICOM"),
    ("utf8.tif", _text("utf-8"), r"not a readable image|cannot decode"),
    ("notes.txt", _text("utf-8"), r"unsupported format '.txt'"),
    ("no_suffix", lambda p: p.write_bytes(b"\x00" * 300), r"unsupported format"),
    ("truncated.png", _truncated(lambda p: kit.write_png(p, kit.breast()), 0.5), r"cannot decode|not a readable"),
    ("truncated.jpg", _truncated(lambda p: Image.fromarray(kit.breast()).save(p, quality=90), 0.3),
     r"cannot decode|not a readable"),
    ("tiny.png", lambda p: kit.write_png(p, kit.breast(4, 3)), r"too small"),
    ("line.png", lambda p: kit.write_png(p, kit.breast(1, 400)), r"too small"),
    ("bomb.png", lambda p: p.write_bytes(kit.png_header_only(60000, 60000)), r"too large|cannot decode|bomb"),
    ("plus_inf.tif", _float_tiff(lambda a: np.where(a > 0.4, np.inf, a)), r"infinite pixel"),
    ("all_nan.tif", _float_tiff(lambda a: np.full_like(a, np.nan)), r"no finite pixel"),
    ("one_nan.tif", _float_tiff(_with_nan), r"1 NaN pixel"),
    ("negative.tif", _float_tiff(lambda a: -1.0 - a), r"no positive value"),
    ("multipage.tif", _multipage, r"multi-page"),
    ("bad_pgm.pgm", lambda p: p.write_bytes(b"P5\n40 48\n0\n" + b"\x00" * 1920), r"cannot decode|not a readable"),
    ("no_pixels.dcm", _dicom(drop=["PixelData"]), r"no pixel data"),
    ("bits_allocated.dcm", _dicom(BitsAllocated=32), r"cannot decode pixel data"),
    ("bits_stored0.dcm", _dicom(BitsStored=0), r"cannot decode pixel data"),
    ("rgb.dcm", _dicom(photometric="RGB"), r"not a grey mammogram"),
    ("palette.dcm", _dicom(photometric="PALETTE COLOR"), r"not a grey mammogram"),
    ("mono3.dcm", _dicom(photometric="MONOCHROME3"), r"not a grey mammogram"),
    ("huge_rows.dcm", _dicom(Rows=60000, Columns=60000), r"cannot decode pixel data"),
    ("no_rows.dcm", _dicom(drop=["Rows"]), r"cannot decode pixel data"),
    ("no_transfer_syntax.dcm", _dicom(no_transfer_syntax=True), r"Transfer Syntax"),
    ("window0.dcm", _dicom(WindowCenter=100, WindowWidth=0), r"unusable window"),
    ("window_nan.dcm", _dicom(WindowCenter="nan", WindowWidth="nan"), r"unusable window"),
    ("slope_inf.dcm", _dicom(RescaleSlope="1e308", RescaleIntercept=0), r"infinite pixel"),
    ("truncated.dcm", _truncated(_dicom(), 0.6), r"DICOM|cannot decode"),
    ("magic_only", lambda p: p.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 20), r"DICOM"),
    ("implant.dcm", _dicom(BreastImplantPresent="YES"), r"implant"),
    ("ct.dcm", _dicom(Modality="CT"), r"modality CT"),
]


def _write_good(src: Path) -> None:
    for i, name in enumerate((*GOOD, NON_UTF8)):
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        img = kit.breast(seed=i)
        if p.suffix == ".tif":
            Image.fromarray(img).save(p, format="TIFF")
        else:
            kit.write_png(p, img)


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(source folder, its prepared output, the prepared output of its good images alone)."""
    root = tmp_path_factory.mktemp("ingest")
    src, alone = root / "src", root / "alone"
    _write_good(src)
    _write_good(alone)
    bad = src / "bad"
    bad.mkdir()
    for name, make, _ in BAD:
        make(bad / name)
    signal.alarm(120)  # a FIFO that is opened would block forever: fail instead of hanging the suite
    try:
        prepare_dataset(src, root / "out", size=SIZE, workers=1, progress=False)
    finally:
        signal.alarm(0)
    prepare_dataset(alone, root / "out_alone", size=SIZE, workers=1, progress=False)
    return src, root / "out", root / "out_alone"


def _skipped(out: Path) -> dict[str, str]:
    with open(out / "skipped.csv", newline="", encoding="utf-8") as f:
        return {row["file"]: row["reason"] for row in csv.DictReader(f)}


@pytest.mark.parametrize(("name", "make", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_is_skipped_with_a_one_line_reason(ingest: tuple[Path, Path, Path], name: str,
                                                    make: Maker, reason: str) -> None:
    _, out, _ = ingest
    skipped = _skipped(out)
    assert f"bad/{name}" in skipped, sorted(skipped)
    text = skipped[f"bad/{name}"]
    assert "\n" not in text and "Traceback" not in text and "unexpected error" not in text
    assert re.search(reason, text), text


def test_good_images_are_prepared_exactly_as_alone(ingest: tuple[Path, Path, Path]) -> None:
    _, out, alone = ingest
    got = {r.id: r for r in read_manifest(out)}
    ref = {r.id: r for r in read_manifest(alone)}
    assert set(got) == set(ref) and len(ref) == len(GOOD) + 1
    for image_id, r in ref.items():
        assert got[image_id].sha256 == r.sha256 and got[image_id].source == r.source
    assert any("\\xe9" in r.source for r in ref.values())  # the non-UTF-8 name, printable
    assert {r.view for r in ref.values()} == {"CC", "MLO"}


def test_rerun_reuses_everything_and_the_journal_stays_readable(ingest: tuple[Path, Path, Path],
                                                                tmp_path: Path) -> None:
    src, out, _ = ingest
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    journal = copy / JOURNAL_DIR / JOURNAL_FILE
    with open(journal, "ab") as f:
        f.write(b'{"source": "bad/half')  # a kill in the middle of an append
    for _ in range(2):  # the first rerun used to succeed and every later one to fail
        s = prepare_dataset(src, copy, size=SIZE, workers=1, progress=False)
        assert s.n_processed == 0 and s.n_prepared == len(GOOD) + 1
    assert journal.read_bytes().endswith(b"\n")


def test_orphan_temporary_files_are_removed_by_the_next_run(ingest: tuple[Path, Path, Path], tmp_path: Path) -> None:
    src, out, _ = ingest
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    shard = next((copy / "images").iterdir())
    orphans = [shard / ".x-1234.png.abcd.tmp", copy / ".manifest.csv.k2j3.tmp", copy / "lowres.npy.tmp"]
    for p in orphans:
        p.write_bytes(b"half written")
    before = {p.name: p.read_bytes() for p in shard.iterdir() if p.suffix == ".png"}
    prepare_dataset(src, copy, size=SIZE, workers=1, progress=False)
    assert not any(p.exists() for p in orphans)
    assert {p.name: p.read_bytes() for p in shard.iterdir()} == before


def test_cli_prepare_finishes_with_exit_0_and_no_traceback(ingest: tuple[Path, Path, Path], tmp_path: Path) -> None:
    src, _, _ = ingest
    signal.alarm(120)
    try:
        result = kit.invoke(["data", "prepare", src, "--out", tmp_path / "cli", "--size", "32x24",
                             "--workers", "1", "--no-progress"])
    finally:
        signal.alarm(0)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


READER_CASES = [b for b in BAD if b[0] not in ("loop-b.dcm", "linked-folder", "notes.txt", "no_suffix",
                                              "implant.dcm", "ct.dcm")]
"""Cases that the reader itself refuses (the others are refused by listing or by ingest rules)."""


@pytest.mark.parametrize(("name", "make", "reason"), READER_CASES, ids=[b[0] for b in READER_CASES])
def test_reader_raises_one_line_naming_the_file(tmp_path: Path, name: str, make: Maker, reason: str) -> None:
    p = tmp_path / name
    make(p)
    signal.alarm(30)
    try:
        with pytest.raises(BadInputError) as info:
            read_image(p)
    finally:
        signal.alarm(0)
    assert name in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["fifo.png", "truncated.png", "all_nan.tif", "dangling.png"])
def test_qa_on_a_folder_with_a_bad_file_exits_2_naming_it(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    kit.write_png(folder / "good.png", kit.breast())
    make = next(m for n, m, _ in BAD if n == name)
    make(folder / name)
    signal.alarm(60)
    try:
        result = kit.invoke(["qa", folder, "--out", tmp_path / "qa", "--no-progress"])
    finally:
        signal.alarm(0)
    kit.assert_bad_input(result, name)


SUFFIXES = (".png", ".dcm", ".tif", ".jpg", ".pgm", ".ppm")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=600), suffix=st.sampled_from(SUFFIXES), prefix=st.sampled_from(
    [b"", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"\xff\xd8\xff", b"P5\n40 48\n255\n", b"\x00" * 128 + b"DICM"]))
def test_random_bytes_decode_to_a_valid_image_or_one_line_error(tmp_path: Path, data: bytes, suffix: str,
                                                                prefix: bytes) -> None:
    p = tmp_path / f"random{suffix}"
    p.write_bytes(prefix + data)
    try:
        img = read_image(p)
    except BadInputError as e:
        assert "random" in str(e) and "\n" not in str(e)
        return
    px = img.pixels
    assert px.ndim == 2 and px.dtype == np.float32 and np.isfinite(px).all()
    assert 0.0 <= float(px.min()) and float(px.max()) <= 1.0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
       special=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, 5.0]), max_size=4),
       scale=st.sampled_from([1.0, 255.0, 1e-6, -1.0]), seed=st.integers(0, 2**16))
def test_random_float_tiffs_are_finite_in_unit_range_or_rejected(tmp_path: Path, shape: tuple[int, int],
                                                                 special: list[float], scale: float,
                                                                 seed: int) -> None:
    rng = np.random.default_rng(seed)
    arr = (rng.random(shape) * scale).astype(np.float32)
    for i, v in enumerate(special):
        arr.flat[(i * 7919) % arr.size] = v
    p = kit.write_float_tiff(tmp_path / "f.tif", arr)
    try:
        img = read_image(p)
    except BadInputError as e:
        assert "f.tif" in str(e) and "\n" not in str(e)
        finite = bool(np.isfinite(arr).all())
        why = ("NaN" in str(e) or "infinite" in str(e) or "no finite" in str(e)) if not finite else (
            "too small" in str(e) or "no positive value" in str(e))
        assert why, str(e)
        return
    assert np.isfinite(arr).all(), "a non-finite pixel must reject the file"
    assert np.isfinite(img.pixels).all() and 0.0 <= float(img.pixels.min()) and float(img.pixels.max()) <= 1.0


LABEL_MANIFESTS: list[tuple[str, bytes | None, str]] = [
    ("latin1", "path,view,laterality\nbé.png,CC,L\n".encode("latin-1"), "not UTF-8"),
    ("utf16", "path,view,laterality\na.png,CC,L\n".encode("utf-16"), "label manifest"),
    ("extra_values", b"path,view,laterality\na.png,CC,L,train,oops\n", "line 2: more values than columns"),
    ("no_columns", b"file;view\na.png;CC\n", "needs columns path,view,laterality"),
    ("twice", b"path,view,laterality\na.png,CC,L\n./a.png,MLO,R\n", "line 3: path 'a.png' listed twice"),
    ("bad_laterality", b"path,view,laterality\na.png,CC,both\n", "line 2: laterality 'both'"),
    ("fifo", None, "FIFO"),
]


@pytest.mark.parametrize(("case", "data", "reason"), LABEL_MANIFESTS, ids=[m[0] for m in LABEL_MANIFESTS])
def test_bad_label_manifest_exits_2_naming_it(tmp_path: Path, case: str, data: bytes | None, reason: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    kit.write_png(src / "a.png", kit.breast())
    manifest = tmp_path / "labels.csv"
    if data is None:
        kit.make_fifo(manifest)
    else:
        manifest.write_bytes(data)
    signal.alarm(60)
    try:
        result = kit.invoke(["data", "prepare", src, "--out", tmp_path / "out", "--size", "32x24", "--workers", "1",
                             "--manifest", manifest, "--no-progress"])
    finally:
        signal.alarm(0)
    assert reason in kit.assert_bad_input(result, "labels.csv")
    assert not (tmp_path / "out" / "dataset.json").exists()


def test_an_output_that_cannot_be_written_stops_the_run_and_loses_no_good_image(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    kit.write_png(src / "a.png", kit.breast())
    out = tmp_path / "out"
    out.mkdir()
    (out / "images").write_text("a file where the image folder should be")
    result = kit.invoke(["data", "prepare", src, "--out", out, "--size", "32x24", "--workers", "1", "--no-progress"])
    kit.assert_bad_input(result, "images")
    (out / "images").unlink()
    s = prepare_dataset(src, out, size=SIZE, workers=1, progress=False)
    assert s.n_prepared == 1 and s.n_processed == 1 and not s.skipped


@pytest.mark.parametrize("command", ["score", "report"])
@pytest.mark.parametrize("name", ["fifo.png", "all_nan.tif"])
def test_folder_mode_with_a_bad_generated_file_exits_2_naming_it(tmp_path: Path, command: str, name: str) -> None:
    real, fake = tmp_path / "real", tmp_path / "fake"
    for folder in (real, fake):
        folder.mkdir()
        for i in range(2):
            kit.write_png(folder / f"img{i}_L_CC.png", kit.breast(seed=i))
    make = next(m for n, m, _ in BAD if n == name)
    make(fake / name)
    out = ["--out", tmp_path / ("scores.json" if command == "score" else "rep")]
    signal.alarm(60)
    try:
        result = kit.invoke([command, "--real", real, "--fake", fake, *out, "--no-progress"])
    finally:
        signal.alarm(0)
    kit.assert_bad_input(result, name)
