"""The leaderboard's statistics: t-intervals (scipy, through denoise_adv.stats) and rank
groups by Holm over all pairs (their coverage and error rates: tests/test_stats.py)."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from denoise_adv.benchmark import PROTOCOL_V1, image_interval, paired_difference, rank_with_ties
from denoise_adv.evaluation.results import board_evidence

PROTOCOL = PROTOCOL_V1.derive("stats")


def test_paired_interval_is_the_paired_t_interval():
    a = np.array([30.1, 31.4, 29.0, 32.2, 28.7])
    b = np.array([30.0, 31.0, 29.2, 31.9, 28.1])
    got = paired_difference(a.tolist(), b.tolist(), PROTOCOL)
    d = a - b  # closed form: mean +- t_{0.975, n-1} * sd / sqrt(n)
    half = scipy_stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert got["method"] == "paired t"
    assert got["mean"] == pytest.approx(0.24)
    assert (got["low"], got["high"]) == pytest.approx((0.24 - half, 0.24 + half), abs=1e-12)
    assert got["differences"] == pytest.approx([0.1, 0.4, -0.2, 0.3, 0.6])


def test_mean_interval_is_the_t_interval_and_names_its_special_cases():
    values = [20.0, 22.5, 25.0, 27.5, 30.0]
    got = image_interval(values, PROTOCOL)
    half = scipy_stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5)
    assert (got["low"], got["high"]) == pytest.approx((25 - half, 25 + half))
    assert image_interval([3.0], PROTOCOL)["method"] == "one image"
    nan = image_interval([0.9, float("nan")], PROTOCOL)  # the SSIM of an 8x8 image
    assert nan["method"] == "undefined" and math.isnan(nan["low"])


def test_pairing_separates_what_marginal_intervals_cannot():
    # two models 0.1 dB apart on every image, images spread over 4 dB: the marginal intervals
    # overlap almost entirely, the paired one is the 0.1 dB and excludes 0
    a = np.array([26.0, 28.0, 30.0, 32.0, 27.0, 31.0])
    b = a - 0.1 + np.array([0.01, -0.01, 0.02, 0.0, -0.02, 0.0])
    d = paired_difference(a, b, PROTOCOL)
    assert 0.0 < d["low"] <= d["mean"] <= d["high"] < 0.2
    marginal = image_interval(b.tolist(), PROTOCOL)
    assert marginal["high"] > a.mean()


def test_degenerate_cases_are_handled_and_named():
    same = paired_difference([30.0, 31.0, 29.0], [30.0, 31.0, 29.0], PROTOCOL)
    assert (same["low"], same["high"], same["method"]) == (0.0, 0.0, "exact")
    one = paired_difference([30.0], [29.5], PROTOCOL)
    assert (one["mean"], one["low"], one["high"], one["method"]) == (0.5, 0.5, 0.5, "one image")
    with pytest.raises(ValueError, match="equal length"):
        paired_difference([1.0, 2.0], [1.0], PROTOCOL)


def _summary(**means):
    return {label: {"access": "white-box", "flagged": False, "upper_bound": False,
                    "robust_psnr": {"mean": float(np.mean(v))}} for label, v in means.items()}


def test_shuffled_copies_tie_and_a_clear_loser_does_not():
    best = [26.0, 28.0, 30.0, 32.0, 27.0, 31.0]
    shuffled = [28.0, 26.0, 31.0, 30.0, 32.0, 27.0]  # the same values, other images
    worse = [v - 0.5 for v in best]
    robust = {"a": best, "b": shuffled, "c": worse}
    summary = _summary(**robust)
    summary["flagged"] = {**summary["a"], "flagged": True, "robust_psnr": {"mean": 99.0}}
    robust["flagged"] = best
    order = rank_with_ties(summary, robust, PROTOCOL)
    assert order[-1] == "flagged" and summary["flagged"]["rank_label"] == "--"
    labels = {m: summary[m]["rank_label"] for m in "abc"}
    # a beats c on every image by 0.5 dB: Holm over the 3 pairs separates them; b is a
    # shuffled copy of a, which no test tells from a or from c: b shares rank 1 with a and
    # c has one model significantly better (a): rank 2
    assert labels == {"a": "=1", "b": "=1", "c": "2"}
    b_vs_a = summary["b"]["paired_vs_best"]  # a is first of the equal means (stable order)
    assert b_vs_a["best"] == "a" and b_vs_a["mean"] == 0.0 and b_vs_a["method"] == "paired t"
    assert b_vs_a["low"] < 0 < b_vs_a["high"]
    assert summary["c"]["paired_vs_best"]["low"] == summary["c"]["paired_vs_best"]["high"]


def test_ranks_count_the_models_significantly_better():
    a = np.array([30.0, 31.0, 29.0, 32.0, 30.5, 29.5])
    robust = {"a": a.tolist(), "b": (a - 1.0).tolist(),
              "c": (a - 1.0 + np.array([0.05, -0.05, 0.02, -0.02, 0.03, -0.03])).tolist(),
              "d": (a - 3.0).tolist()}
    summary = _summary(**robust)
    order = rank_with_ties(summary, robust, PROTOCOL)
    assert [summary[m]["rank_label"] for m in "abcd"] == ["1", "=2", "=2", "4"]
    assert order == ["a", "b", "c", "d"]


def test_the_board_orders_by_rank_then_mean():
    # a leads; b is a noisy copy of a (tied), c is 0.1 dB below a on every image and its
    # mean is above b's: c has a significantly better model (a), b has none
    a = np.array([30.0, 31.0, 29.0, 32.0, 30.5, 29.5])
    b = a + np.array([1.5, -2.0, 1.0, -1.5, 0.5, -0.6])
    c = a - 0.1
    robust = {"a": a.tolist(), "b": b.tolist(), "c": c.tolist()}
    summary = _summary(**robust)
    assert summary["c"]["robust_psnr"]["mean"] > summary["b"]["robust_psnr"]["mean"]
    order = rank_with_ties(summary, robust, PROTOCOL)
    assert [summary[m]["rank_label"] for m in order] == ["=1", "=1", "2"]
    assert order == ["a", "b", "c"]


def test_the_evidence_lists_every_pair_and_the_detectable_difference():
    a = np.array([30.0, 31.0, 29.0, 32.0, 30.5, 29.5])
    robust = {"a": a.tolist(), "b": (a - 0.3 + 0.1 * np.sin(np.arange(6))).tolist(),
              "c": (a - 1.0).tolist()}
    evidence = board_evidence(robust, ["a", "b", "c"], PROTOCOL)
    assert [(t["a"], t["b"]) for t in evidence["pairwise"]] == [("a", "b"), ("a", "c"),
                                                                ("b", "c")]
    assert all(t["p"] <= t["p_holm"] <= 1 for t in evidence["pairwise"])
    assert 0 < evidence["detectable_difference"] < 1
    assert board_evidence({"a": [1.0]}, ["a"], PROTOCOL)["detectable_difference"] is None
