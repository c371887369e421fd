"""Reader study: the page folder is blinded and balanced, the key is kept apart, scoring matches
hand-computed AUCs, bad answers are one-line errors, and the page works in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.study.make import make_study
from mammoeval.study.score import score_study, summarise

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")


def _write_pngs(root: Path, n: int, *, value: float, size: tuple[int, int] = (80, 64)) -> Path:
    from mammoeval.data.prepared import encode_png

    root.mkdir(parents=True)
    for i in range(n):
        view = "CC" if i % 2 == 0 else "MLO"
        img = np.zeros(size, dtype=np.float32)
        img[:, : size[1] // 2] = value
        (root / f"img{i:03d}_L_{view}.png").write_bytes(encode_png(img, bits=8))
    return root


@pytest.fixture()
def study(tmp_path: Path, phantom_dir_80x64: Path) -> Path:
    fake = _write_pngs(tmp_path / "fake", 10, value=0.5)
    make_study(phantom_dir_80x64, fake, n=6, out=tmp_path / "study", seed=3)
    return tmp_path / "study"


def _key(study: Path) -> list[dict[str, str]]:
    with open(study / "key.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_page_is_blinded_balanced_and_the_key_lives_outside_it(study: Path) -> None:
    page = study / "page"
    key = _key(study)
    assert len(key) == 12 and sorted(r["truth"] for r in key) == ["generated"] * 6 + ["real"] * 6
    for truth in ("real", "generated"):
        assert sorted(r["view"] for r in key if r["truth"] == truth) == ["CC"] * 3 + ["MLO"] * 3
    assert not list(page.rglob("key*")) and (study / "key.csv").is_file()
    html = (page / "index.html").read_text()
    for r in key:  # nothing in the page says which is which
        assert r["source"] not in html and Path(r["source"]).name not in html
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    names = sorted(p.name for p in (page / "images").iterdir())
    assert names == [f"{r['item']}.png" for r in sorted(key, key=lambda r: r["item"])]
    items = json.loads(re.search(r'<script id="study-data" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert {it["item"] for it in items["items"]} == {r["item"] for r in key}
    order = [r["truth"] for r in sorted(key, key=lambda r: r["item"])]
    assert order != sorted(order) and order != sorted(order, reverse=True)  # shuffled


def test_same_seed_same_study(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    fake = _write_pngs(tmp_path / "fake", 8, value=0.5)
    make_study(phantom_dir_80x64, fake, n=4, out=tmp_path / "a", seed=1)
    make_study(phantom_dir_80x64, fake, n=4, out=tmp_path / "b", seed=1)
    assert (tmp_path / "a" / "key.csv").read_text() == (tmp_path / "b" / "key.csv").read_text()


def _answers(path: Path, rows: list[tuple[str, str, object]]) -> Path:
    path.write_text("reader,item,rating\n" + "".join(f"{r},{i},{x}\n" for r, i, x in rows))
    return path


def test_score_matches_hand_computed_auc_and_accuracy(study: Path, tmp_path: Path) -> None:
    key = _key(study)
    real = [r["item"] for r in key if r["truth"] == "real"]
    gen = [r["item"] for r in key if r["truth"] == "generated"]
    # reader A: perfect; reader B: real rated 3, generated 1..5 -> AUC by hand
    a = _answers(tmp_path / "a.csv", [("A", i, 5) for i in real] + [("A", i, 1) for i in gen])
    b_gen = [1, 2, 3, 4, 5, 3]
    b = _answers(tmp_path / "b.csv", [("B", i, 3) for i in real] + [("B", i, x) for i, x in zip(gen, b_gen, strict=True)])
    res = score_study([a, b], key=study / "key.csv", n_bootstrap=300, seed=0)
    assert res["readers"]["A"]["auc"] == 1.0 and res["readers"]["A"]["accuracy"] == 1.0
    hand = np.mean([(3 > g) + 0.5 * (3 == g) for g in b_gen])
    assert res["readers"]["B"]["auc"] == pytest.approx(hand)
    # B: reals all 3 (half right each); generated 1,2 right, 3,3 half, 4,5 wrong
    assert res["readers"]["B"]["accuracy"] == pytest.approx((6 * 0.5 + 2 + 1) / 12)
    lo, hi = res["readers"]["B"]["ci"]
    assert lo <= hand <= hi
    assert set(res["readers"]["A"]["views"]) == {"CC", "MLO"} and res["readers"]["A"]["views"]["CC"]["auc"] == 1.0
    pooled_auc = np.mean([(x > g) + 0.5 * (x == g) for x in [5] * 6 + [3] * 6 for g in [1] * 6 + b_gen])
    assert res["pooled"]["auc"] == pytest.approx(pooled_auc) and res["pooled"]["n_readers"] == 2


def test_summarise_without_both_classes_has_no_auc() -> None:
    s = summarise(np.array([5, 4]), np.array([True, True]), n_bootstrap=10, seed=0)
    assert s["auc"] is None and s["accuracy"] == 1.0


def _bad(res: object, name: str) -> None:
    out = res.output  # type: ignore[attr-defined]
    assert res.exit_code == 2, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and name in out and len(out.strip().splitlines()) == 1, out


def test_bad_answers_and_too_small_sets_are_one_line_exit_2(study: Path, tmp_path: Path, phantom_dir_80x64: Path) -> None:
    runner = CliRunner()
    item = _key(study)[0]["item"]
    key = str(study / "key.csv")
    _bad(runner.invoke(app, ["study", "score", str(_answers(tmp_path / "u.csv", [("A", "nope", 3)])), "--key", key]),
         "u.csv")
    for bad in (0, 6, "x", "2.5"):
        _bad(runner.invoke(app, ["study", "score", str(_answers(tmp_path / "r.csv", [("A", item, bad)])), "--key", key]),
             "r.csv")
    _bad(runner.invoke(app, ["study", "score", str(_answers(tmp_path / "d.csv", [("A", item, 2), ("A", item, 3)])),
                             "--key", key]), "d.csv")
    (tmp_path / "cols.csv").write_text("who,item\nA,1\n")
    _bad(runner.invoke(app, ["study", "score", str(tmp_path / "cols.csv"), "--key", key]), "cols.csv")
    _bad(runner.invoke(app, ["study", "score", str(tmp_path / "absent.csv"), "--key", key]), "absent.csv")
    (tmp_path / "k.csv").write_text("item,truth\n1,fake\n")
    _bad(runner.invoke(app, ["study", "score", str(tmp_path / "cols.csv"), "--key", str(tmp_path / "k.csv")]), "k.csv")
    small = _write_pngs(tmp_path / "small", 3, value=0.5)
    _bad(runner.invoke(app, ["study", "make", "--real", str(phantom_dir_80x64), "--fake", str(small), "--n", "5",
                             "--out", str(tmp_path / "s2")]), "small")


def test_cli_make_and_score_write_files_and_json(study: Path, tmp_path: Path, phantom_dir_80x64: Path) -> None:
    runner = CliRunner()
    fake = _write_pngs(tmp_path / "fk", 4, value=0.4)
    res = runner.invoke(app, ["study", "make", "--real", str(phantom_dir_80x64), "--fake", str(fake), "--n", "2",
                              "--out", str(tmp_path / "s"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n_items"] == 4
    item = _key(tmp_path / "s")[0]["item"]
    ans = _answers(tmp_path / "x.csv", [("R1", item, 4)])
    res = runner.invoke(app, ["study", "score", str(ans), "--key", str(tmp_path / "s" / "key.csv"),
                              "--out", str(tmp_path / "results.json"), "--json", "--n-bootstrap", "50"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == json.loads((tmp_path / "results.json").read_text())


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def test_page_loads_rates_and_exports_in_headless_chromium(study: Path, tmp_path: Path) -> None:
    browser = _chromium()
    key = _key(study)
    first, second = key[0]["item"], key[1]["item"]
    url = (study / "page" / "index.html").resolve().as_uri() + f"#selftest={first}:5,{second}:2&reader=T1&wl=100,50&zoom=2"
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
           "--dump-dom", url]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    assert re.search(r'data-image-loaded="\d+:64x80"', body.group(0)), body.group(0)  # full resolution
    assert 'data-stored="localStorage"' in body.group(0)
    # window/level 100/50: out = v * 255/50 - (100 - 25)/50; zoom 2 on the 64x80 image
    assert 'data-view="slope=5.1 intercept=-1.5 width=128px height=160px"' in body.group(0), body.group(0)
    text = re.search(r'<pre id="export-text">(.*?)</pre>', dom.stdout, re.S).group(1)
    lines = text.splitlines()
    assert lines[0] == "reader,item,rating" and sorted(lines[1:]) == sorted([f"T1,{first},5", f"T1,{second},2"])
    exported = tmp_path / "exported.csv"
    exported.write_text(text)
    res = score_study([exported], key=study / "key.csv", n_bootstrap=0)
    assert res["readers"]["T1"]["n"] == 2
