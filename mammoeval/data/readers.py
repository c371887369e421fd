"""One source file -> float32 grey image in [0, 1] (tissue bright) + a few header facts.

Patient identifiers (names, IDs, dates, UIDs) never leave this module: callers get `HeaderFacts`,
which holds only what ingest needs.

Intensity path (documented contract):

- DICOM: stored values -> Modality LUT (RescaleSlope/Intercept or Modality LUT Sequence) ->
  VOI: the first VOI LUT Sequence item if present, else the first WindowCenter/WindowWidth pair
  (the hanging protocol's preferred window; VOILUTFunction LINEAR, LINEAR_EXACT or SIGMOID), else
  the fallback: a linear map of the 0.5th-99.5th percentiles of the non-background pixels (Li
  foreground) to [0, 1] -> MONOCHROME1 inverted -> float32 in [0, 1]. 12-16 bit data is never
  quantised here (only when the prepared PNG is written).
- PNG / JPEG / TIFF / PGM: grey stored as RGB(A) is collapsed to one channel (the mean when the
  channels are equal within JPEG noise, BT.601 luma otherwise); values are divided by the type's
  maximum: 255 for 8-bit, and for 16-bit containers the maximum of the bit depth the data actually
  uses, i.e. the smallest of 10/12/14/16 bits that holds the image's maximum (a 16-bit PNG holding
  12-bit values is divided by 4095). Float images are kept when in [0, 1], else divided by their max.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from mammoeval.core.errors import BadInputError
from mammoeval.core.filekind import check_regular_file, file_kind_problem
from mammoeval.data import preprocess as pp
from mammoeval.data.labels import normalize_laterality, normalize_view, view_from_code

RASTER_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".pnm", ".ppm"})
DICOM_SUFFIXES: frozenset[str] = frozenset({".dcm", ".dicom", ".dic"})
MIN_SIDE = 16
"""Images with a side shorter than this many pixels are rejected as not a mammogram."""


@dataclass(frozen=True)
class HeaderFacts:
    """What ingest may know about a source file; never patient identifiers.

    Attributes:
        format: "dicom", "png", "jpeg", "tiff", "pgm", ...
        view: short view name ("CC", "MLO", "ML", ...) from the tags, "" when unknown.
        laterality: "L", "R" or "" from ImageLaterality / Laterality.
        implant: BreastImplantPresent is YES.
        modality: DICOM Modality ("MG", "RG", ...); "" for non-DICOM files.
        photometric: PhotometricInterpretation, or the raster mode (e.g. "L", "I;16", "RGB->grey").
        bits_stored: bits of the stored values (BitsStored, or the detected depth of a raster).
        window: the intensity mapping used, e.g. "VOI LUT", "window 2047/4095 LINEAR",
            "percentile 0.5-99.5", "divide by 4095".
    """

    format: str
    view: str = ""
    laterality: str = ""
    implant: bool = False
    modality: str = ""
    photometric: str = ""
    bits_stored: int = 0
    window: str = ""


@dataclass(frozen=True)
class SourceImage:
    """A decoded source image.

    Attributes:
        pixels: float32 (H, W) in [0, 1], tissue bright, stored orientation (not yet canonical).
        facts: header facts.
    """

    pixels: np.ndarray
    facts: HeaderFacts


def is_dicom_file(path: str | Path) -> bool:
    """True when the file has a DICOM suffix or the "DICM" magic at byte 128."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if file_kind_problem(path) is not None:  # never open a FIFO or device to sniff it
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def is_supported_file(path: str | Path) -> bool:
    """True when `read_image` knows how to read this file (by suffix or DICOM magic)."""
    return Path(path).suffix.lower() in RASTER_SUFFIXES or is_dicom_file(path)


def read_header(path: str | Path) -> HeaderFacts:
    """Return the header facts of a file without decoding its pixels (cheap for DICOM).

    Raises:
        BadInputError: the file is not a readable image or DICOM.
    """
    path = Path(path)
    check_regular_file(path)
    if is_dicom_file(path):
        return _dicom_facts(_dcmread(path, stop_before_pixels=True), window="")
    if path.suffix.lower() in RASTER_SUFFIXES:
        return HeaderFacts(format=_raster_format(path))
    raise BadInputError(path, f"unsupported format {path.suffix or '(no suffix)'!r}")


def read_image(path: str | Path) -> SourceImage:
    """Return the decoded grey image of a DICOM or raster file, with its header facts.

    Raises:
        BadInputError: not a regular file (FIFO, device, socket, symlink loop, dangling link),
            unsupported format, corrupt or truncated file, DICOM without pixel data, multi-frame
            data, any NaN or infinite pixel value, or an image with a side shorter than MIN_SIDE
            pixels.
    """
    path = Path(path)
    check_regular_file(path)
    if is_dicom_file(path):
        img = read_dicom(path)
    elif path.suffix.lower() in RASTER_SUFFIXES:
        img = read_raster(path)
    else:
        raise BadInputError(path, f"unsupported format {path.suffix or '(no suffix)'!r}")
    if img.pixels.ndim != 2:
        raise BadInputError(path, f"expected a 2-D grey image, got shape {img.pixels.shape}")
    check_finite(path, img.pixels)
    if min(img.pixels.shape) < MIN_SIDE:
        raise BadInputError(path, f"image {img.pixels.shape[0]}x{img.pixels.shape[1]} is too small (< {MIN_SIDE} px)")
    return img


def check_finite(path: str | Path, values: np.ndarray) -> None:
    """Return when every value is finite.

    Any NaN or infinite value rejects the whole file: such a value means the decoder or the data is
    damaged, and the pixels around it cannot be trusted either (nothing is filled in silently).

    Raises:
        BadInputError: how many values are NaN / infinite (the file is skipped with that reason).
    """
    if not np.issubdtype(values.dtype, np.floating):
        return
    finite = np.isfinite(values)
    if bool(finite.all()):
        return
    n_nan = int(np.isnan(values).sum())
    n_inf = int(values.size - int(finite.sum()) - n_nan)
    if not finite.any():
        raise BadInputError(path, "no finite pixel value (every value is NaN or infinite)")
    parts = [f"{n} {kind}" for n, kind in ((n_nan, "NaN"), (n_inf, "infinite")) if n]
    raise BadInputError(path, f"{' and '.join(parts)} pixel value(s) among {values.size}")


def read_dicom(path: str | Path) -> SourceImage:
    """Return a DICOM file's pixels through Modality LUT, VOI and MONOCHROME1 inversion (see module doc).

    Raises:
        BadInputError: not DICOM, no pixel data, several frames, a colour image, or undecodable data.
    """
    path = Path(path)
    ds = _dcmread(path, stop_before_pixels=False)
    if "PixelData" not in ds:
        raise BadInputError(path, "DICOM has no pixel data")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames > 1:
        raise BadInputError(path, f"multi-frame DICOM ({n_frames} frames) is not supported")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise BadInputError(path, f"photometric interpretation {photometric} is not a grey mammogram")
    raw = _decode_pixels(path, ds)
    pixels, window = _dicom_intensity(path, ds, raw, photometric)
    return SourceImage(pixels=pixels, facts=_dicom_facts(ds, window=window))


def read_raster(path: str | Path) -> SourceImage:
    """Return a PNG/JPEG/TIFF/PGM image as grey float32 in [0, 1] (see module doc for the scaling).

    Raises:
        BadInputError: the file cannot be decoded (corrupt, truncated, multi-page, not an image).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            n_pages = int(getattr(im, "n_frames", 1))
            if n_pages > 1:
                raise BadInputError(path, f"multi-page image ({n_pages} pages) is not supported")
            im.load()
            mode = im.mode
            arr = np.asarray(im.convert("RGBA") if mode == "P" else im)
            mode = "RGBA" if mode == "P" else mode
    except UnidentifiedImageError:
        raise BadInputError(path, "not a readable image (unrecognised or corrupt data)") from None
    except Image.DecompressionBombError as e:
        raise BadInputError(path, f"image too large to decode safely ({_one_line(e)})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise BadInputError(path, f"cannot decode image ({_one_line(e)})") from None
    pixels, photometric, bits, window = _raster_to_unit(path, arr, mode)
    facts = HeaderFacts(format=_raster_format(path), photometric=photometric, bits_stored=bits, window=window)
    return SourceImage(pixels=pixels, facts=facts)


def _raster_to_unit(path: Path, arr: np.ndarray, mode: str) -> tuple[np.ndarray, str, int, str]:
    """Return (float32 [0, 1] grey, photometric text, bit depth, window text) for a raster array."""
    photometric = mode
    if arr.ndim == 3:
        if arr.shape[2] == 2:  # LA: grey + alpha
            arr = arr[..., 0]
        else:
            grey, equal = pp.to_grey(arr)
            photometric = f"{mode}->grey" if equal else f"{mode}->luma"
            arr = grey if arr.dtype != np.uint8 else np.rint(grey).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.float32), photometric, 1, "binary"
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255), photometric, 8, "divide by 255"
    if np.issubdtype(arr.dtype, np.integer):
        if int(arr.min()) < 0:
            lo, hi = int(arr.min()), int(arr.max())
            return pp.rescale(arr, lo, hi), photometric, 16, f"min-max {lo}..{hi} (signed data)"
        container = 16 if int(arr.max()) <= 65535 else 32
        bits = pp.detect_bit_depth(int(arr.max()), container_bits=container)
        top_int = (1 << bits) - 1
        return (arr.astype(np.float64) / top_int).astype(np.float32), photometric, bits, f"divide by {top_int}"
    check_finite(path, arr)
    top = float(arr.max()) if arr.size else 1.0
    if top <= 0.0:
        raise BadInputError(path, f"float image has no positive value (maximum {top:g})")
    scale = 1.0 if 0.0 <= float(arr.min()) and top <= 1.0 else max(top, 1e-12)
    out = np.clip(arr.astype(np.float32) / np.float32(scale), 0.0, 1.0)
    return out, photometric, 32, "float" if scale == 1.0 else f"divide by {scale:g}"


def _raster_format(path: Path) -> str:
    s = path.suffix.lower()
    return {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".ppm": "pnm", ".pnm": "pnm"}.get(
        s, s.lstrip("."))


def _dcmread(path: Path, *, stop_before_pixels: bool) -> Any:
    # lazy: pydicom costs 0.2 s at import and only DICOM inputs need it
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        raise BadInputError(path, "not a DICOM file (no DICM preamble)") from None
    except Exception as e:  # noqa: BLE001 - pydicom raises many kinds on truncated or corrupt headers
        raise BadInputError(path, f"corrupt or truncated DICOM ({_one_line(e)})") from None


def _decode_pixels(path: Path, ds: Any) -> np.ndarray:
    try:
        arr = ds.pixel_array
    except Exception as e:  # noqa: BLE001 - decoders raise many kinds on damaged data
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(ts, "name", str(ts))
        raise BadInputError(path, f"cannot decode pixel data ({name}: {_one_line(e)})") from None
    if arr.ndim != 2:
        raise BadInputError(path, f"expected one grey frame, got pixel array of shape {arr.shape}")
    return arr


def _dicom_intensity(path: Path, ds: Any, raw: np.ndarray, photometric: str) -> tuple[np.ndarray, str]:
    """Return (float32 [0, 1] tissue-bright pixels, description of the VOI used)."""
    # lazy: pydicom costs 0.2 s at import and only DICOM inputs need it
    from pydicom.pixels import apply_modality_lut

    x = apply_modality_lut(raw, ds)
    check_finite(path, np.asarray(x))
    voi_seq = ds.get("VOILUTSequence")
    if voi_seq and "LUTData" in voi_seq[0] and "LUTDescriptor" in voi_seq[0]:
        # Own LUT mapping: pydicom 3.0's apply_voi wraps indices of 8-bit LUTs before clipping them.
        try:
            n_entries, first, bits = (int(v) for v in voi_seq[0].LUTDescriptor)
            lut = _lut_entries(ds, voi_seq[0], n_entries or 65536)
            out = pp.apply_lut(x, lut, first_mapped=first, bits=bits)
        except (ValueError, TypeError) as e:
            raise BadInputError(path, f"unusable VOI LUT ({_one_line(e)})") from None
        window = "VOI LUT"
    elif _first(ds.get("WindowCenter")) is not None and _first(ds.get("WindowWidth")) is not None:
        try:
            c, w = float(_first(ds.WindowCenter)), float(_first(ds.WindowWidth))
        except (TypeError, ValueError) as e:
            raise BadInputError(path, f"unusable window ({_one_line(e)})") from None
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            function = "LINEAR"
        if not (np.isfinite(c) and np.isfinite(w)):
            raise BadInputError(path, f"unusable window (center {c:g}, width {w:g})")
        try:
            out = pp.apply_window(x, c, w, function=function)  # type: ignore[arg-type]
        except ValueError as e:
            raise BadInputError(path, f"unusable window ({e})") from None
        window = f"window {c:g}/{w:g} {function}"
    else:
        # The fallback works on tissue-bright values measured from the darkest tissue value, so
        # MONOCHROME1 data gives exactly the image its inversion stored as MONOCHROME2 gives.
        out, (lo, hi) = pp.robust_window(x, tissue_is_bright=photometric != "MONOCHROME1")
        window = f"percentile {pp.ROBUST_PERCENTILES[0]:g}-{pp.ROBUST_PERCENTILES[1]:g} ({lo:g}..{hi:g})"
        return out, window
    if photometric == "MONOCHROME1":
        out = pp.invert(out)
    return out, window


def _lut_entries(ds: Any, item: Any, n_entries: int) -> np.ndarray:
    """Return the LUT Data of a VOI LUT item as a 1-D array (US values, or OW bytes in file byte order)."""
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):
        encoding = getattr(ds, "original_encoding", (None, True))
        little = True if encoding[1] is None else bool(encoding[1])
        return np.frombuffer(bytes(data), dtype="<u2" if little else ">u2")[:n_entries]
    values = np.atleast_1d(np.asarray(data, dtype=np.int64))
    return values[:n_entries]


def _dicom_facts(ds: Any, *, window: str) -> HeaderFacts:
    view = normalize_view(ds.get("ViewPosition"))
    codes = ds.get("ViewCodeSequence")
    if not view and codes:
        view = view_from_code(codes[0].get("CodeValue"), codes[0].get("CodeMeaning"))
    laterality = normalize_laterality(ds.get("ImageLaterality")) or normalize_laterality(ds.get("Laterality"))
    return HeaderFacts(
        format="dicom",
        view=view,
        laterality=laterality,
        implant=str(ds.get("BreastImplantPresent", "") or "").strip().upper() == "YES",
        modality=str(ds.get("Modality", "") or "").strip().upper(),
        photometric=str(ds.get("PhotometricInterpretation", "") or ""),
        bits_stored=int(ds.get("BitsStored", 0) or 0),
        window=window,
    )


def _first(value: Any) -> Any:
    """First value of a possibly multi-valued DICOM element (None when absent or empty)."""
    if value is None or value == "":
        return None
    try:
        return value[0] if not isinstance(value, (str, bytes)) and len(value) else value
    except TypeError:
        return value


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
