"""Makers of hostile inputs for the fuzz suite: small files of every odd kind, and the checks that a
bad input got a one-line answer (exit code 2 naming the file, or a skip reason naming it)."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from mammoeval.cli import app

runner = CliRunner()


def invoke(args: Sequence[object]) -> Any:
    """Run the CLI in-process and return click's result."""
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)


def assert_bad_input(result: Any, name: str) -> str:
    """Assert exit code 2 with one error line that names `name` and no traceback; return the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert name in errors[0], (name, errors[0])
    return errors[0]


def breast(height: int = 48, width: int = 40, *, seed: int = 0) -> np.ndarray:
    """Return a uint8 half-ellipse 'breast' against the left edge, seeded texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = ((yy - height / 2) / (height * 0.42)) ** 2 + (xx / (width * 0.8)) ** 2 <= 1.0
    img = np.where(inside, 120 + 40 * rng.standard_normal((height, width)), 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path, format="PNG")
    return path


def write_float_tiff(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.float32), mode="F").save(path, format="TIFF")
    return path


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """Return a PNG whose IHDR claims `width` x `height` grey pixels and that has no image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@contextlib.contextmanager
def unix_socket(path: Path) -> Iterator[Path]:
    """Bind a UNIX socket at `path` for the duration of the block."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(os.fspath(path))
        yield path
    finally:
        s.close()


def score_row(ckpt: str = "ckpt-0000001000.pt", *, swd: float = 0.01, res: tuple[int, int] = (80, 64),
              **extra: Any) -> dict[str, Any]:
    """Return a valid score row in the contract format."""
    def m(v: float) -> dict[str, Any]:
        return {"value": v, "ci": [v * 0.9, v * 1.1], "floor": None, "n_real": 8, "n_fake": 8}

    view = {"swd_avg": m(swd), "msssim_fake": m(0.3), "msssim_real": m(0.3), "memorization_rate": m(0.0)}
    row = {"checkpoint": ckpt, "n_images_shown": int(ckpt[5:15]) if ckpt.startswith("ckpt-") else None,
           "kimg": 1.0, "resolution": list(res), "n_per_view": 8, "seed": 0,
           "metrics": {"all": view, "CC": view, "MLO": view}, "unavailable": {},
           "memorization": {"rate": 0.0, "pairs": [{"fake_id": "CC-seed1", "train_id": "img0", "distance": 0.5,
                                                    "space": "pixels@20x16", "flagged": False, "view": "CC"}]},
           "qa": {"all": {"artifact_rate": {"any": {"real": 0.0, "fake": 0.05}}}}, "timing": {"total_s": 1.0},
           "settings": {"settings_hash": "abc"}, "versions": {"mammoeval": "0.1.0"},
           "scored_at": "2026-01-01T00:00:00Z"}
    row.update(extra)
    return row


MAMMO_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"


def make_dicom(path: Path, arr: np.ndarray, *, photometric: str = "MONOCHROME2", bits: int = 12,
               drop: Sequence[str] = (), no_transfer_syntax: bool = False, **tags: Any) -> Path:
    """Write a small single-frame grey DICOM; `drop` removes elements after the tags are set, and
    `no_transfer_syntax` writes a file meta without TransferSyntaxUID."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MAMMO_FOR_PRESENTATION)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MAMMO_FOR_PRESENTATION
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-123"
    ds.Modality = "MG"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16 if arr.dtype == np.uint16 else 8
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    for k, v in tags.items():
        setattr(ds, k, v)
    for k in drop:
        if k in ds:
            delattr(ds, k)
    ds.save_as(path, enforce_file_format=True)
    if no_transfer_syntax:
        from pydicom import dcmread

        back = dcmread(path)
        del back.file_meta.TransferSyntaxUID
        back.save_as(path, enforce_file_format=False, implicit_vr=False, little_endian=True)
    return path
