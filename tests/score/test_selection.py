"""Checkpoint selection on constructed score tables whose answer is known by hand."""

from __future__ import annotations

from typing import Any

import pytest

from mammoeval.core.errors import ConfigError
from mammoeval.score.selection import select_checkpoint


def _m(value: float, ci: tuple[float, float] | None = None) -> dict[str, Any]:
    return {"value": value, "ci": list(ci) if ci else None, "floor": None, "n_real": 8, "n_fake": 8}


def _row(kimg: int, *, swd: float, swd_ci: tuple[float, float] | None = None, res: tuple[int, int] = (80, 64),
         fid: float | None = None, artifact: float = 0.0, msssim: float = 0.3, recall: float | None = None
         ) -> dict[str, Any]:
    view = {"swd_avg": _m(swd, swd_ci), "msssim_fake": _m(msssim), "msssim_real": _m(0.3)}
    if fid is not None:
        view["fid"] = _m(fid)
    if recall is not None:
        view["recall"] = _m(recall)
    return {"checkpoint": f"ckpt-{kimg * 1000:010d}.pt", "n_images_shown": kimg * 1000, "kimg": float(kimg),
            "resolution": list(res), "metrics": {"all": view, "CC": view, "MLO": view},
            "qa": {"all": {"artifact_rate": {"any": {"real": 0.0, "fake": artifact}}}},
            "unavailable": {} if fid is not None else {"fid": "Inception weights not found"}}


def test_default_rule_picks_lowest_swd_at_final_resolution_only() -> None:
    rows = [_row(10, swd=0.001, res=(40, 32)), _row(20, swd=0.05), _row(30, swd=0.02), _row(40, swd=0.03)]
    best = select_checkpoint(rows)
    assert best["checkpoint"] == "ckpt-0000030000.pt"
    assert best["rule"] == "swd" and best["direction"] == "min" and best["value"] == 0.02
    assert [e["checkpoint"] for e in best["evidence"]] == [
        "ckpt-0000030000.pt", "ckpt-0000040000.pt", "ckpt-0000020000.pt"]
    assert [e["rank"] for e in best["evidence"]] == [1, 2, 3]
    # Across resolutions the low-resolution checkpoint would win: only with the explicit flag.
    assert select_checkpoint(rows, all_resolutions=True)["checkpoint"] == "ckpt-0000010000.pt"


def test_ties_inside_confidence_interval_are_reported() -> None:
    rows = [_row(1, swd=0.020, swd_ci=(0.018, 0.022)), _row(2, swd=0.021, swd_ci=(0.0205, 0.024)),
            _row(3, swd=0.030, swd_ci=(0.028, 0.032))]
    best = select_checkpoint(rows)
    assert best["checkpoint"] == "ckpt-0000001000.pt"
    assert [e["tied_with_best"] for e in best["evidence"]] == [True, True, False]
    assert "1 other checkpoint(s) within the confidence interval" in best["explanation"]


def test_metric_rule_uses_metric_direction() -> None:
    rows = [_row(1, swd=0.01, recall=0.2), _row(2, swd=0.02, recall=0.6), _row(3, swd=0.03, recall=0.4)]
    best = select_checkpoint(rows, rule="recall")
    assert best["checkpoint"] == "ckpt-0000002000.pt" and best["direction"] == "max"
    assert select_checkpoint(rows, rule="artifact_rate")["direction"] == "min"


def test_composite_prefers_clean_checkpoint_over_lowest_swd() -> None:
    # swd ranks 1,2,3; artifact ranks 3,1,1 (0.1 vs 0.1 tie); |msssim gap| 0, 0, 0.6 ranks 1,1,3.
    rows = [_row(1, swd=0.010, artifact=0.5, msssim=0.30), _row(2, swd=0.011, artifact=0.1, msssim=0.30),
            _row(3, swd=0.012, artifact=0.1, msssim=0.90)]
    best = select_checkpoint(rows, rule="composite")
    assert best["checkpoint"] == "ckpt-0000002000.pt"
    by_name = {e["checkpoint"]: e for e in best["evidence"]}
    assert by_name["ckpt-0000001000.pt"]["ranks"] == {"swd_avg": 1, "artifact_rate": 3, "msssim_gap": 1}
    assert by_name["ckpt-0000002000.pt"]["ranks"] == {"swd_avg": 2, "artifact_rate": 1, "msssim_gap": 1}
    assert best["value"] == pytest.approx(4 / 3)
    assert best["metrics_used"] == ["swd_avg", "artifact_rate", "msssim_gap"]  # fid missing everywhere
    assert "fid" in best["explanation"] and "|msssim_gap|" in best["explanation"]


def test_composite_does_not_reward_noise_with_low_generated_msssim() -> None:
    # Real pairs have MS-SSIM 0.3. A noisy generator reaches 0.05 (far more "diverse" than the real images),
    # a faithful one 0.31; by MS-SSIM of the generated set alone the noisy one would win diversity.
    rows = [_row(1, swd=0.011, msssim=0.05), _row(2, swd=0.011, msssim=0.31)]
    best = select_checkpoint(rows, rule="composite")
    assert best["checkpoint"] == "ckpt-0000002000.pt"
    by_name = {e["checkpoint"]: e for e in best["evidence"]}
    assert by_name["ckpt-0000001000.pt"]["ranks"]["msssim_gap"] == 2
    assert by_name["ckpt-0000001000.pt"]["metrics"]["msssim_gap"] == pytest.approx(0.25)


def test_composite_gap_interval_straddling_zero_ties_with_exact_match() -> None:
    rows = [_row(1, swd=0.011, msssim=0.3), _row(2, swd=0.010, msssim=0.3)]
    for r, (v, ci) in zip(rows, ((0.0, None), (-0.01, (-0.03, 0.01))), strict=True):
        for view in r["metrics"].values():
            view["msssim_gap"] = _m(v, ci)
    best = select_checkpoint(rows, rule="composite")
    assert [e["ranks"]["msssim_gap"] for e in best["evidence"]] == [1, 1]
    assert best["checkpoint"] == "ckpt-0000002000.pt"  # tie on every metric: the lower swd_avg


def test_composite_treats_overlapping_intervals_as_ties_and_breaks_by_swd() -> None:
    rows = [_row(1, swd=0.011, swd_ci=(0.009, 0.013)), _row(2, swd=0.010, swd_ci=(0.008, 0.012))]
    best = select_checkpoint(rows, rule="composite")
    assert [e["ranks"]["swd_avg"] for e in best["evidence"]] == [1, 1]
    assert best["checkpoint"] == "ckpt-0000002000.pt"
    assert all(e["tied_with_best"] for e in best["evidence"])


def test_last_row_of_a_rescored_checkpoint_counts() -> None:
    rows = [_row(1, swd=0.001), _row(2, swd=0.02), _row(1, swd=0.05)]
    assert select_checkpoint(rows)["checkpoint"] == "ckpt-0000002000.pt"


def test_unknown_rule_and_missing_metric_are_one_line_errors() -> None:
    rows = [_row(1, swd=0.01)]
    with pytest.raises(ConfigError, match="unknown selection rule 'swdd'; valid: .*swd_avg"):
        select_checkpoint(rows, rule="swdd")
    with pytest.raises(ConfigError, match="no scored checkpoint has fid for view all \\(Inception weights not found\\)"):
        select_checkpoint(rows, rule="fid")
    with pytest.raises(ConfigError, match="no scored checkpoints"):
        select_checkpoint([])
