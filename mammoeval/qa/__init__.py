"""Mammography QA: anatomy and view checks, artifact detectors, calcification statistics, ranking.

Per-image checks are pure functions of a numpy image, its view and a calibration (`check_image`); `scan_image_set` streams a
whole `ImageSet`, `scan_folder` a plain folder of images of any sizes; `write_qa` writes qa.csv + qa.json; `compare_scans` compares real vs generated.
"""

from mammoeval.qa.artifacts import DETECTORS, Finding
from mammoeval.qa.calcifications import Calc, CalcConfig
from mammoeval.qa.calibration import Calibration, read_calibration, write_calibration
from mammoeval.qa.scan import (
    ImageDetails,
    ImageQA,
    QAConfig,
    QAScan,
    calibrate_path,
    check_image,
    compare_scans,
    scan_folder,
    scan_image_set,
    scan_path,
    write_qa,
)

__all__ = [
    "DETECTORS",
    "Calibration",
    "Calc",
    "CalcConfig",
    "Finding",
    "ImageDetails",
    "ImageQA",
    "QAConfig",
    "QAScan",
    "check_image",
    "calibrate_path",
    "compare_scans",
    "read_calibration",
    "scan_folder",
    "scan_image_set",
    "scan_path",
    "write_calibration",
    "write_qa",
]
