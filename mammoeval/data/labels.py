"""View and laterality labels: normalisation of tag values, the CSV label manifest, file-name
conventions, and the chest-wall side inferred from the pixels.

Precedence used by ingest (first that knows wins): label manifest > DICOM tags > file name >
image (laterality only, from the chest-wall side: a left breast is stored with its chest wall on
the left edge, a right breast on the right edge, as mammograms are hung back to back).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from scipy import ndimage

from mammoeval.core.errors import BadInputError
from mammoeval.core.filekind import check_regular_file
from mammoeval.core.imageops import box_reduce, chest_wall_side
from mammoeval.data.preprocess import Side, tissue_mask

_VIEW_ALIASES: dict[str, str] = {
    "CC": "CC", "CRANIOCAUDAL": "CC", "CRANIO-CAUDAL": "CC", "CRANIO CAUDAL": "CC",
    "MLO": "MLO", "MEDIOLATERAL OBLIQUE": "MLO", "MEDIO-LATERAL OBLIQUE": "MLO", "MEDIO-LATERAL-OBLIQUE": "MLO",
    "ML": "ML", "MEDIO-LATERAL": "ML", "MEDIOLATERAL": "ML",
    "LM": "LM", "LATERO-MEDIAL": "LM", "LATEROMEDIAL": "LM",
    "LMO": "LMO", "LATERO-MEDIAL OBLIQUE": "LMO",
    "XCCL": "XCCL", "CRANIO-CAUDAL EXAGGERATED LATERALLY": "XCCL",
    "XCCM": "XCCM", "CRANIO-CAUDAL EXAGGERATED MEDIALLY": "XCCM",
    "FB": "FB", "CAUDO-CRANIAL (FROM BELOW)": "FB",
    "SIO": "SIO", "ISO": "ISO", "AT": "AT", "XCC": "XCC", "RL": "RL", "RM": "RM", "TAN": "TAN",
}
"""View names (ViewPosition values and CID 4014 code meanings) -> short view name."""

_VIEW_CODES: dict[str, str] = {
    "R-10242": "CC", "399162004": "CC",  # SRT / SCT cranio-caudal
    "R-10226": "MLO", "399368009": "MLO",  # SRT / SCT medio-lateral oblique
    "R-10224": "ML", "399260004": "ML",
    "R-10230": "LM", "399352003": "LM",
}
"""ViewCodeSequence code values (SNOMED, old SRT and current SCT) -> short view name."""

_LATERALITY_ALIASES: dict[str, str] = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}
_NAME_VIEWS = ("CC", "MLO", "ML", "LM", "XCCL", "XCCM")
_NAME_LATS = ("L", "R", "LEFT", "RIGHT")
_JOINED = re.compile(r"^(L|R|LEFT|RIGHT)(CC|MLO|ML|LM|XCCL|XCCM)$")
_TOKEN_SPLIT = re.compile(r"[^A-Z0-9]+")


def normalize_view(value: str | None) -> str:
    """Return "CC", "MLO", another short view name (e.g. "ML", "XCCL"), or "" when unknown.

    Accepts ViewPosition values and code meanings in any case; an unrecognised non-empty value is
    kept as its upper-case text (spaces become "-"), so it stays visible in the manifest.
    """
    if value is None:
        return ""
    v = " ".join(str(value).strip().upper().split())
    if not v:
        return ""
    return _VIEW_ALIASES.get(v, v.replace(" ", "-"))


def view_from_code(code_value: str | None, code_meaning: str | None) -> str:
    """Return the short view name of a ViewCodeSequence item (code value first, then meaning), or ""."""
    if code_value and code_value.strip() in _VIEW_CODES:
        return _VIEW_CODES[code_value.strip()]
    return normalize_view(code_meaning)


def normalize_laterality(value: str | None) -> str:
    """Return "L", "R" or "" (unknown, both, unpaired) from a tag, manifest or name value."""
    if value is None:
        return ""
    return _LATERALITY_ALIASES.get(str(value).strip().upper(), "")


def labels_from_name(name: str) -> tuple[str, str]:
    """Return (view, laterality) read from a file name's conventions; "" for what it does not say.

    Recognises `L_CC`, `R-MLO`, `LCC`, `RMLO`, `LEFT_CC`, `CC_L`, `mlo.right`, ... as separate or
    joined tokens (any non-alphanumeric separator, any case). The extension is ignored.
    """
    stem = PurePosixPath(name.replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    tokens = [t for t in _TOKEN_SPLIT.split(stem.upper()) if t]
    view, lat = "", ""
    for i, tok in enumerate(tokens):
        m = _JOINED.match(tok)
        if m:
            return normalize_view(m.group(2)), normalize_laterality(m.group(1))
        if tok in _NAME_VIEWS and not view:
            view = tok
            neighbours = tokens[max(0, i - 1):i] + tokens[i + 1:i + 2]
            lat = next((normalize_laterality(n) for n in neighbours if n in _NAME_LATS), lat)
    if not lat:
        lat = next((normalize_laterality(t) for t in tokens if t in ("LEFT", "RIGHT")), "")
    return view, lat


@dataclass(frozen=True)
class LabelRow:
    """Labels given for one source file by a label manifest ("" = not given)."""

    view: str = ""
    laterality: str = ""
    split: str = ""


def read_label_manifest(path: str | Path) -> dict[str, LabelRow]:
    """Return {source path relative to SRC (POSIX form): labels} from a `path,view,laterality[,split]` CSV.

    Raises:
        BadInputError: the file is missing, lacks a `path` column, repeats a path, or gives a
            laterality other than L/R/left/right/empty (the message names the file and line).
    """
    path = Path(path)
    check_regular_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = {c.strip().lower() for c in (reader.fieldnames or [])}
            if "path" not in fields or not fields & {"view", "laterality"}:
                raise BadInputError(path, "label manifest needs columns path,view,laterality[,split]")
            return _label_rows(path, reader)
    except OSError as e:
        raise BadInputError(path, f"cannot read label manifest ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise BadInputError(path, "label manifest is not UTF-8 text") from None
    except csv.Error as e:
        raise BadInputError(path, f"label manifest is not a valid CSV file ({e})") from None


def _label_rows(path: Path, reader: csv.DictReader) -> dict[str, LabelRow]:
    rows: dict[str, LabelRow] = {}
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            raise BadInputError(path, f"line {line}: more values than columns")
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        key = normalize_source_path(row.get("path", ""))
        if not key:
            raise BadInputError(path, f"line {line}: empty path")
        if key in rows:
            raise BadInputError(path, f"line {line}: path {key!r} listed twice")
        lat_text = row.get("laterality", "")
        lat = normalize_laterality(lat_text)
        if lat_text and not lat:
            raise BadInputError(path, f"line {line}: laterality {lat_text!r} is not L or R")
        rows[key] = LabelRow(view=normalize_view(row.get("view")), laterality=lat, split=row.get("split", ""))
    return rows


def normalize_source_path(text: str) -> str:
    """Return a source path relative to SRC in normalised POSIX form (no "./", "\\" made "/")."""
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


@dataclass(frozen=True)
class ChestWall:
    """Inferred chest-wall side of a mammogram.

    Attributes:
        side: "left" or "right" image edge.
        confidence: in [0, 1] (`mammoeval.core.imageops.chest_wall_side`); 0 means no evidence
            (empty or symmetric image).
    """

    side: Side
    confidence: float

    @property
    def laterality(self) -> str:
        """ "L" when the chest wall is on the left edge, "R" on the right (standard hanging)."""
        return "L" if self.side == "left" else "R"


def infer_chest_wall(image: np.ndarray, *, work_height: int = 128) -> ChestWall:
    """Return the chest-wall side of a mammogram from its pixels.

    The breast is the largest connected component of the Li-threshold foreground after a
    morphological opening, which drops film borders, edge strips, burned-in text and skin markers
    (thin or small bright structures) before they can vote; its side is decided by the one
    chest-wall rule, `mammoeval.core.imageops.chest_wall_side` (QA uses it too).

    Args:
        image: float (H, W) in MONOCHROME2 polarity (tissue bright), any range.
        work_height: the image is box-reduced to about this many rows first (speed, noise).
    """
    small = box_reduce(image.astype(np.float32), max(1, image.shape[0] // work_height))
    mask = tissue_mask(small, tissue_is_bright=True)
    radius = max(1, round(0.02 * max(small.shape)))
    mask = ndimage.binary_opening(mask, structure=_disk(radius))
    labels, n = ndimage.label(mask)
    if n == 0:
        return ChestWall(side="left", confidence=0.0)
    sizes = np.bincount(labels.ravel())[1:]
    side, confidence = chest_wall_side(labels == (int(np.argmax(sizes)) + 1))
    return ChestWall(side=side, confidence=confidence)


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (yy * yy + xx * xx) <= radius * radius
