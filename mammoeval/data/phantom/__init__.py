"""Built-in phantom: seeded procedural mammograms with ground truth, written in the prepared format.

The default data of train, score and report when none is given, and the ground truth for the QA
detectors. `render_phantom` makes one image in memory; `write_phantom_dataset` writes a prepared
dataset plus findings.json; `read_phantom_truth` reads that sidecar back.
"""

from mammoeval.data.phantom.render import render_phantom
from mammoeval.data.phantom.truth import (
    Calcification,
    FindingsConfig,
    PhantomImage,
    PhantomRecord,
    PhantomTruth,
    SkinMarker,
    TextBox,
)
from mammoeval.data.phantom.writer import (
    TRUTH_FILE,
    phantom_id,
    phantom_labels,
    phantom_seed,
    raw_name,
    read_phantom_options,
    read_phantom_truth,
    write_phantom_dataset,
)

__all__ = [
    "TRUTH_FILE",
    "Calcification",
    "FindingsConfig",
    "PhantomImage",
    "PhantomRecord",
    "PhantomTruth",
    "SkinMarker",
    "TextBox",
    "phantom_seed",
    "phantom_id",
    "phantom_labels",
    "raw_name",
    "read_phantom_options",
    "read_phantom_truth",
    "render_phantom",
    "write_phantom_dataset",
]
