"""Synthetic mammograms as DICOM: Digital Mammography X-Ray Image Storage - For Presentation.

Every file is marked as synthetic in each place the standard offers, so that neither a DICOM
viewer nor a pydicom user can take it for an acquisition:

- Synthetic Data (0008,001C) = YES (SOP Common module; Type 3, defined terms YES/NO);
- Image Type (0008,0008) = DERIVED\\SECONDARY\\\\SYNTHETIC: derived, not an original acquisition;
  Value 3 is empty as the Mammography Image module requires of a conventional 2D view, and Value
  4 (implementation specific for such images) says SYNTHETIC;
- Derivation Description (0008,2111) and Image Comments (0020,4000) say what made the image
  (checkpoint, seed, view) and that no patient was imaged;
- Study and Series Description begin with "SYNTHETIC" (shown in every study browser), the
  patient is the placeholder ``SYNTHETIC^MAMMOGRAM`` with an export-specific ID ``SYNTH-...``,
  Manufacturer names the generator;
- a graphics overlay (group 6000, Overlay Description "SYNTHETIC IMAGE") draws the word
  "SYNTHETIC" in a corner in viewers that show overlays, without changing the pixel data (so
  metrics and `mammoeval data prepare` see the generator's output unchanged); Burned In
  Annotation (0028,0301) = NO because nothing is written into the pixels.

Pixels: MONOCHROME2, 16 bits allocated, `bits_stored` (default 12) stored, Rescale 1/0, a
linear window covering the full range (Window Center/Width), Presentation LUT Shape IDENTITY.
Laterality and orientation: images are in the canonical orientation of prepared datasets (chest
wall on the left edge), which is how a left breast is displayed, so Image Laterality is L and
Patient Orientation A\\R (CC) or A\\FR (MLO). Imager Pixel Spacing is written only when given
(`pixel_spacing_mm`, e.g. the spacing of the prepared training images): a generator has no
physical scale of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from mammoeval.core.fsutil import atomic_open

MG_FOR_PRESENTATION: Final = "1.2.840.10008.5.1.4.1.1.1.2"
"""SOP Class UID of Digital Mammography X-Ray Image Storage - For Presentation."""

PLACEHOLDER_PATIENT_NAME: Final = "SYNTHETIC^MAMMOGRAM"
SYNTHETIC_LABEL: Final = "SYNTHETIC"

_VIEW_CODES: Final[dict[str, tuple[str, str]]] = {
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
}
"""SNOMED CT codes (CID 4014) of the exported views."""

_ORIENTATION: Final[dict[str, list[str]]] = {"CC": ["A", "R"], "MLO": ["A", "FR"]}
"""Patient Orientation of a left breast with its chest wall on the left edge."""


@dataclass(frozen=True)
class SeriesInfo:
    """What every file of one export shares.

    Attributes:
        study_uid, series_uid: one study and one series per export.
        patient_id: the placeholder patient ID (``SYNTH-`` + a hash of the export).
        description: free text naming the generator (e.g. the run and checkpoint).
        created: creation time written as Study/Series/Content date and time.
        software_version: mammoeval's version.
    """

    study_uid: str
    series_uid: str
    patient_id: str
    description: str
    created: dt.datetime
    software_version: str


def new_series(description: str, *, software_version: str, created: dt.datetime | None = None) -> SeriesInfo:
    """Return fresh study/series UIDs and a placeholder patient ID for one export."""
    study = generate_uid()
    return SeriesInfo(study_uid=study, series_uid=generate_uid(), patient_id=f"SYNTH-{study.rsplit('.', 1)[-1][-10:]}",
                      description=description, created=created or dt.datetime.now(dt.timezone.utc),
                      software_version=software_version)


def write_mg_dicom(path: str | Path, image: np.ndarray, *, view: str, seed: int, instance_number: int,
                   series: SeriesInfo, source: str, bits_stored: int = 12,
                   pixel_spacing_mm: float | None = None) -> str:
    """Write one synthetic MG For Presentation file atomically; return its SOP Instance UID.

    Args:
        path: the .dcm file to write.
        image: float (H, W) in [0, 1], tissue bright, chest wall on the left edge.
        view: "CC" or "MLO".
        seed: the latent seed the image was generated from (written into the descriptions).
        instance_number: 1-based number of the image within the export.
        series: what the files of this export share (`new_series`).
        source: what generated it, e.g. "run demo, checkpoint ckpt-0000000320.pt".
        bits_stored: stored bits, 8 to 16.
        pixel_spacing_mm: Imager Pixel Spacing to record (mm, square pixels); None = none (the
            generator's images have no physical scale of their own).

    Raises:
        ValueError: not a 2-D image, an unknown view, bits_stored outside 8..16 or a spacing <= 0.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    if view not in _VIEW_CODES:
        raise ValueError(f"view must be one of {sorted(_VIEW_CODES)}, got {view!r}")
    if not 8 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be in 8..16, got {bits_stored}")
    if pixel_spacing_mm is not None and not pixel_spacing_mm > 0:
        raise ValueError(f"pixel spacing must be > 0 mm, got {pixel_spacing_mm}")
    uid = generate_uid()
    ds = _dataset(image, view=view, seed=seed, instance_number=instance_number, series=series, source=source,
                  bits_stored=bits_stored, sop_uid=uid, pixel_spacing_mm=pixel_spacing_mm)
    with atomic_open(path, "wb") as f:
        ds.save_as(f, enforce_file_format=True)
    return uid


def _dataset(image: np.ndarray, *, view: str, seed: int, instance_number: int, series: SeriesInfo, source: str,
             bits_stored: int, sop_uid: str, pixel_spacing_mm: float | None = None) -> Any:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MG_FOR_PRESENTATION)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    date, time = series.created.strftime("%Y%m%d"), series.created.strftime("%H%M%S")
    what = f"Synthetic mammogram generated by {source}, latent seed {seed}, view {view}; no patient was imaged"
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = MG_FOR_PRESENTATION
    ds.SOPInstanceUID = sop_uid
    ds.SyntheticData = "YES"
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    # Patient: a placeholder only
    ds.PatientName = PLACEHOLDER_PATIENT_NAME
    ds.PatientID = series.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    # General Study / Series / Equipment
    ds.StudyInstanceUID, ds.SeriesInstanceUID = series.study_uid, series.series_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.StudyID = "SYNTH"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"{SYNTHETIC_LABEL} mammograms ({series.description})"[:64]
    ds.SeriesDescription = f"{SYNTHETIC_LABEL} {view} ({series.description})"[:64]
    ds.Modality = "MG"
    ds.SeriesNumber = 1
    ds.Manufacturer = "mammoeval synthetic image generator"
    ds.ManufacturerModelName = "progressive WGAN-GP"
    ds.SoftwareVersions = series.software_version
    # General Image, DX Image, Mammography Image
    ds.InstanceNumber = instance_number
    # MG Image Type (PS3.3 C.8.11.7.1.4): Value 3 empty for a conventional 2D view; Value 4 is
    # implementation specific for such images and carries the synthetic mark.
    ds.ImageType = ["DERIVED", "SECONDARY", "", SYNTHETIC_LABEL]
    ds.DerivationDescription = what[:1024]
    ds.ImageComments = f"{SYNTHETIC_LABEL} IMAGE. {what}."
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PatientOrientation = _ORIENTATION[view]
    ds.ImageLaterality = "L"
    ds.ViewPosition = view
    ds.BodyPartExamined = "BREAST"
    ds.OrganExposed = "BREAST"
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"
    ds.ViewCodeSequence = [_code(*_VIEW_CODES[view])]
    ds.ViewCodeSequence[0].ViewModifierCodeSequence = []
    ds.AnatomicRegionSequence = [_code("76752008", "Breast")]
    ds.AcquisitionContextSequence = []
    ds.DetectorType = ""
    if pixel_spacing_mm is not None:
        ds.ImagerPixelSpacing = [f"{pixel_spacing_mm:.6g}", f"{pixel_spacing_mm:.6g}"]
    _pixels(ds, image, bits_stored)
    _overlay(ds, image.shape)
    return ds


def _code(value: str, meaning: str) -> Any:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "SCT", meaning
    return item


def _pixels(ds: Any, image: np.ndarray, bits_stored: int) -> None:
    top = (1 << bits_stored) - 1
    stored = np.rint(np.clip(np.nan_to_num(image.astype(np.float64)), 0.0, 1.0) * top).astype("<u2")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(image.shape[0]), int(image.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = (top + 1) / 2, top + 1
    ds.VOILUTFunction = "LINEAR"
    ds.PresentationLUTShape = "IDENTITY"
    ds.PixelData = stored.tobytes()


def _overlay(ds: Any, shape: tuple[int, ...]) -> None:
    """Add overlay plane 6000: the word SYNTHETIC near the top-right corner (away from the chest wall)."""
    rows, cols = int(shape[0]), int(shape[1])
    mask = np.zeros((rows, cols), dtype=np.uint8)
    text = overlay_text_bitmap(SYNTHETIC_LABEL, max_width=max(8, cols // 3))
    th, tw = text.shape
    if th <= rows - 2 and tw <= cols - 2:
        r0, c0 = max(1, rows // 50), cols - tw - max(1, cols // 50)
        mask[r0:r0 + th, c0:c0 + tw] = text
    ds.add_new(0x60000010, "US", rows)  # Overlay Rows
    ds.add_new(0x60000011, "US", cols)  # Overlay Columns
    ds.add_new(0x60000022, "LO", "SYNTHETIC IMAGE")  # Overlay Description
    ds.add_new(0x60000040, "CS", "G")  # Overlay Type: graphics
    ds.add_new(0x60000050, "SS", [1, 1])  # Overlay Origin (1-based row, column)
    ds.add_new(0x60000100, "US", 1)  # Overlay Bits Allocated
    ds.add_new(0x60000102, "US", 0)  # Overlay Bit Position
    ds.add_new(0x60001500, "LO", SYNTHETIC_LABEL)  # Overlay Label
    ds.add_new(0x60003000, "OW", pack_bits(mask, pad=True))  # Overlay Data


def overlay_text_bitmap(text: str, *, max_width: int) -> np.ndarray:
    """Return a uint8 0/1 bitmap of `text` in PIL's built-in font, scaled by an integer to fit `max_width`."""
    font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("1", (1, 1))).textbbox((0, 0), text, font=font)
    w, h = max(1, int(right - left)), max(1, int(bottom - top))
    im = Image.new("1", (w, h), 0)
    ImageDraw.Draw(im).text((-int(left), -int(top)), text, fill=1, font=font)
    scale = max(1, max_width // w)
    bitmap = np.asarray(im, dtype=np.uint8)
    return np.kron(bitmap, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else bitmap
