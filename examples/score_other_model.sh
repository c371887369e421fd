#!/usr/bin/env bash
# Score images from any generator (a folder of PNG/JPEG/TIFF/DICOM files) against real mammograms,
# then gate the result against a baseline. Usage:
#   examples/score_other_model.sh REAL_DIR FAKE_DIR [OUT_DIR] [BASELINE_JSON]
# REAL_DIR: a prepared dataset (`mammoeval data prepare`) or a plain image folder.
# FAKE_DIR: generated images in canonical orientation (chest wall left); file names with CC / MLO
#           (e.g. L_CC_0001.png) give per-view numbers, otherwise only "all" is reported.
set -euo pipefail

REAL=${1:?usage: $0 REAL_DIR FAKE_DIR [OUT_DIR] [BASELINE_JSON]}
FAKE=${2:?usage: $0 REAL_DIR FAKE_DIR [OUT_DIR] [BASELINE_JSON]}
OUT=${3:-scores-$(basename "$FAKE")}
BASELINE=${4:-}

mkdir -p "$OUT"
# One score row (the scores.jsonl row shape) -> $OUT/scores.json
mammoeval score --real "$REAL" --fake "$FAKE" --out "$OUT"
mammoeval report --real "$REAL" --fake "$FAKE" --scores "$OUT/scores.json" --out "$OUT/report"

if [ -n "$BASELINE" ]; then
  if [ -f "$BASELINE" ]; then
    mammoeval gate "$OUT/scores.json" --baseline "$BASELINE" --out "$OUT/gate.json"   # exit 1 on regression
  else
    mammoeval gate "$OUT/scores.json" --baseline "$BASELINE" --update-baseline
  fi
fi
