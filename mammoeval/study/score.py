"""Scoring a reader study: each reader's AUC (and all readers pooled) with a bootstrap interval,
accuracy at the midpoint, per view.

Ratings are 1 (surely generated) ... 5 (surely real). The AUC is the probability that a real
image gets a higher rating than a generated one (ties 1/2): 0.5 = the reader cannot tell them
apart, 1 = always right, below 0.5 = generated images look more real to this reader.
Accuracy at the midpoint: 4-5 is an answer "real", 1-2 an answer "generated", 3 counts as half
right (the share of 3s is reported as `undecided`).

Intervals: 95 % percentile bootstrap, seeded, resampling images within each truth class; for the
pooled result whole images are resampled (all ratings of one image together), so several
readers rating one image do not count as independent evidence about the generator.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import write_json_atomic
from mammoeval.core.seeding import Stream, check_seed, stream_seed
from mammoeval.metrics.roc import bootstrap_auc_ci, compute_auc

ANSWER_COLUMNS: Final[tuple[str, ...]] = ("reader", "item", "rating")
STUDY_RESULTS_FILE: Final = "study_results.json"
"""A run directory's finished study; the report shows it."""
POOLED: Final = "pooled"


@dataclass(frozen=True)
class KeyEntry:
    """The truth about one item."""

    truth: str
    view: str


@dataclass(frozen=True)
class Answer:
    """One rating."""

    reader: str
    item: str
    rating: int


def read_key(path: str | Path) -> dict[str, KeyEntry]:
    """Return {item: truth and view} from key.csv (columns item,truth[,view]).

    Raises:
        BadInputError: missing file or columns, a truth other than real/generated, a repeated item.
    """
    rows = _read_csv(path, ("item", "truth"))
    key: dict[str, KeyEntry] = {}
    for line, row in rows:
        item, truth = row["item"].strip(), row["truth"].strip().lower()
        if truth not in ("real", "generated"):
            raise BadInputError(path, f"line {line}: truth {row['truth']!r} is not real or generated")
        if item in key:
            raise BadInputError(path, f"line {line}: item {item!r} listed twice")
        key[item] = KeyEntry(truth, (row.get("view") or "").strip().upper())
    if not key:
        raise BadInputError(path, "holds no items")
    return key


def read_answers(path: str | Path, key: dict[str, KeyEntry]) -> list[Answer]:
    """Return the ratings of one answers CSV (reader,item,rating), checked against the key.

    Raises:
        BadInputError: missing file or columns, an item not in the key, a rating that is not an
            integer 1-5, an empty reader, or one reader rating one item twice (the message names
            the file and line).
    """

    out: list[Answer] = []
    seen: set[tuple[str, str]] = set()
    for line, row in _read_csv(path, ANSWER_COLUMNS):
        reader, item, text = row["reader"].strip(), row["item"].strip(), row["rating"].strip()
        if not reader:
            raise BadInputError(path, f"line {line}: empty reader")
        if item not in key:
            raise BadInputError(path, f"line {line}: unknown item {item!r} (not in the key)")
        try:
            rating = int(text)
        except ValueError:
            rating = 0
        if not 1 <= rating <= 5 or text != str(rating):
            raise BadInputError(path, f"line {line}: rating {text!r} is not an integer from 1 to 5")
        if (reader, item) in seen:
            raise BadInputError(path, f"line {line}: reader {reader!r} rated item {item!r} twice")
        seen.add((reader, item))
        out.append(Answer(reader, item, rating))
    return out


def _read_csv(path: str | Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    p = Path(path)
    if not p.is_file():
        raise BadInputError(p, "no such file")
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [c.strip().lower() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in fields]
            if missing:
                raise BadInputError(p, f"missing columns {missing} (expected {','.join(required)})")
            return [(i, {(k or "").strip().lower(): (v or "") for k, v in row.items()})
                    for i, row in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInputError(p, f"cannot read CSV ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def summarise(ratings: np.ndarray, is_real: np.ndarray, *, n_bootstrap: int, seed: int,
              groups: np.ndarray | None = None) -> dict[str, Any]:
    """Return {n, n_real, n_generated, auc, ci, accuracy, undecided} for ratings of one reader or group.

    `auc` and `ci` are None when a truth class has no rating (the AUC is undefined).
    """
    r = np.asarray(ratings, dtype=np.float64)
    y = np.asarray(is_real, dtype=bool)
    out: dict[str, Any] = {"n": int(r.size), "n_real": int(y.sum()), "n_generated": int((~y).sum())}
    if r.size == 0:
        return {**out, "auc": None, "ci": None, "accuracy": None, "undecided": None}
    correct = np.where(r == 3, 0.5, ((r > 3) == y).astype(np.float64))
    out["accuracy"] = float(correct.mean())
    out["undecided"] = float((r == 3).mean())
    if y.all() or not y.any():
        return {**out, "auc": None, "ci": None}
    out["auc"] = compute_auc(r, y)
    ci = bootstrap_auc_ci(r, y, n_bootstrap=n_bootstrap, seed=seed, groups=groups)
    out["ci"] = None if ci is None else [ci[0], ci[1]]
    return out


def score_study(answers: Sequence[str | Path], *, key: str | Path, n_bootstrap: int = 2000,
                seed: int = 0) -> dict[str, Any]:
    """Return the results of a reader study: per reader and pooled, overall and per view.

    Bootstrap replicates draw from stream `Stream.STUDY_BOOTSTRAP` of `seed`, item (block, part):
    block 0 is the pooled readers, block i the i-th reader (sorted); part 0 all views, part j the j-th view.

    Raises:
        BadInputError: an unusable key or answers file (see `read_key`, `read_answers`), or a
            reader who appears in two answers files.
        ConfigError: a negative seed.
    """
    check_seed(seed, "--seed")
    k = read_key(key)
    per_file: dict[str, str] = {}
    all_answers: list[Answer] = []
    for path in answers:
        got = read_answers(path, k)
        for reader in sorted({a.reader for a in got}):
            if reader in per_file:
                raise BadInputError(path, f"reader {reader!r} also answers in {per_file[reader]}")
            per_file[reader] = str(path)
        all_answers += got
    readers: dict[str, Any] = {}
    for i, reader in enumerate(sorted(per_file)):
        mine = [a for a in all_answers if a.reader == reader]
        readers[reader] = _block(mine, k, n_bootstrap=n_bootstrap, seed=seed, block=i + 1, clustered=False)
        readers[reader]["answers_file"] = per_file[reader]
    pooled = _block(all_answers, k, n_bootstrap=n_bootstrap, seed=seed, block=0, clustered=True)
    pooled["n_readers"] = len(readers)
    return {
        "readers": readers, POOLED: pooled, "n_items": len(k),
        "n_items_rated": len({a.item for a in all_answers}),
        "key": str(key), "answers": [str(a) for a in answers], "seed": seed, "n_bootstrap": n_bootstrap,
        "scale": "1 surely generated, 2 probably generated, 3 unsure, 4 probably real, 5 surely real",
        "auc_meaning": "P(real image rated above generated one); 0.5 = cannot tell them apart",
    }


def _block(answers: Sequence[Answer], key: dict[str, KeyEntry], *, n_bootstrap: int, seed: int, block: int,
           clustered: bool) -> dict[str, Any]:
    items = sorted({a.item for a in answers})
    index = {it: i for i, it in enumerate(items)}

    def part(sel: Sequence[Answer], j: int) -> dict[str, Any]:
        r = np.array([a.rating for a in sel])
        y = np.array([key[a.item].truth == "real" for a in sel], dtype=bool)
        g = np.array([index[a.item] for a in sel]) if clustered else None
        return summarise(r, y, n_bootstrap=n_bootstrap, seed=stream_seed(seed, Stream.STUDY_BOOTSTRAP, block, j), groups=g)

    out = part(answers, 0)
    views = sorted({key[a.item].view for a in answers if key[a.item].view})
    out["views"] = {v: part([a for a in answers if key[a.item].view == v], 1 + j) for j, v in enumerate(views)}
    return out


def write_results(results: dict[str, Any], out: str | Path) -> Path:
    """Write the results JSON atomically; return its path."""
    write_json_atomic(out, results)
    return Path(out)
