"""The leaderboard's statistics: paired bootstrap intervals (BCa, scipy) and ranks with ties."""

import numpy as np
import pytest
from scipy.stats import norm

from denoise_adv import seeding
from denoise_adv.benchmark import PROTOCOL_V1, paired_difference, rank_with_ties

PROTOCOL = PROTOCOL_V1.derive("stats", bootstrap=2000)


def _bca_by_hand(a, b, resamples, confidence=0.95):
    """BCa (Efron & Tibshirani 1993, 14.3) of mean(a) - mean(b) over the same image resamples
    scipy draws: ``resamples`` rows of indices from the protocol's seeded generator."""
    n = len(a)
    rng = np.random.default_rng(seeding.seed_of(PROTOCOL.bootstrap_seed, "bootstrap", n))
    index = rng.integers(0, n, (resamples, n))
    boot = a[index].mean(axis=1) - b[index].mean(axis=1)
    theta = a.mean() - b.mean()
    z0 = norm.ppf(((boot < theta).mean() + (boot <= theta).mean()) / 2)
    jack = np.array([np.delete(a, i).mean() - np.delete(b, i).mean() for i in range(n)])
    u = jack.mean() - jack
    acc = (u ** 3).sum() / (6 * ((u ** 2).sum()) ** 1.5)
    tail = (1 - confidence) / 2
    levels = [norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
              for z in (norm.ppf(tail), norm.ppf(1 - tail))]
    return np.percentile(boot, 100 * levels[0]), np.percentile(boot, 100 * levels[1])


def test_paired_interval_is_bca_of_the_same_resamples():
    a = np.array([30.1, 31.4, 29.0, 32.2, 28.7])
    b = np.array([30.0, 31.0, 29.2, 31.9, 28.1])
    got = paired_difference(a.tolist(), b.tolist(), PROTOCOL)
    low, high = _bca_by_hand(a, b, PROTOCOL.bootstrap)
    assert got["method"] == "BCa"
    assert got["mean"] == pytest.approx(0.24)
    assert (got["low"], got["high"]) == pytest.approx((low, high), abs=1e-12)
    assert got["differences"] == pytest.approx([0.1, 0.4, -0.2, 0.3, 0.6])
    assert paired_difference(a, b, PROTOCOL) == got  # seeded: the same every time


def test_pairing_separates_what_marginal_intervals_cannot():
    # two models 0.1 dB apart on every image, images spread over 4 dB: the marginal intervals
    # overlap almost entirely, the paired one is the 0.1 dB and excludes 0
    a = np.array([26.0, 28.0, 30.0, 32.0, 27.0, 31.0])
    b = a - 0.1 + np.array([0.01, -0.01, 0.02, 0.0, -0.02, 0.0])
    d = paired_difference(a, b, PROTOCOL)
    assert 0.0 < d["low"] <= d["mean"] <= d["high"] < 0.2


def test_degenerate_cases_are_handled_and_named():
    same = paired_difference([30.0, 31.0, 29.0], [30.0, 31.0, 29.0], PROTOCOL)
    assert (same["low"], same["high"], same["method"]) == (0.0, 0.0, "exact")
    one = paired_difference([30.0], [29.5], PROTOCOL)
    assert (one["mean"], one["low"], one["high"], one["method"]) == (0.5, 0.5, 0.5, "one image")
    # two images: BCa's jackknife has two values and is defined here; the interval spans the
    # two differences
    two = paired_difference([30.0, 31.0], [29.9, 31.3], PROTOCOL)
    assert two["low"] == pytest.approx(-0.3) and two["high"] == pytest.approx(0.1)
    assert two["method"] in ("BCa", "percentile")
    with pytest.raises(ValueError, match="equal length"):
        paired_difference([1.0, 2.0], [1.0], PROTOCOL)


def _summary(**means):
    return {label: {"threat": "white-box", "flagged": False, "upper_bound": False,
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
    # a and b have the same mean: the paired interval of b - a straddles 0, so they share
    # rank 1; c is 0.5 dB below a on every image: rank 3 (two models above it)
    assert labels["a"] == labels["b"] == "=1" and labels["c"] == "3"
    assert summary["c"]["rank"] == 3 and summary["b"]["rank"] == 1
    b_vs_a = summary["b"]["paired_vs_best"]  # a is first of the equal means (stable order)
    assert b_vs_a["best"] == "a" and b_vs_a["mean"] == 0.0 and b_vs_a["method"] == "BCa"
    assert b_vs_a["low"] < 0 < b_vs_a["high"]
    assert summary["c"]["paired_vs_best"]["low"] == summary["c"]["paired_vs_best"]["high"]


def test_groups_below_the_first_are_formed_against_their_own_leader():
    a = np.array([30.0, 31.0, 29.0, 32.0])
    robust = {"a": a.tolist(), "b": (a - 1.0).tolist(),
              "c": (a - 1.0 + np.array([0.05, -0.05, 0.02, -0.02])).tolist(),
              "d": (a - 3.0).tolist()}
    summary = _summary(**robust)
    rank_with_ties(summary, robust, PROTOCOL)
    assert [summary[m]["rank_label"] for m in "abcd"] == ["1", "=2", "=2", "4"]
    assert summary["c"]["rank_leader"] == "b"
    assert summary["c"]["rank_leader"] == "b"
    assert summary["c"]["paired_vs_leader"]["leader"] == "b"
    assert summary["c"]["paired_vs_leader"]["low"] <= 0 <= summary["c"]["paired_vs_leader"]["high"]


def test_the_board_keeps_each_rank_group_together():
    # a leads; b is tied with a (a noisy copy), c is clearly below a but its mean is above
    # b's: the board lists a's group (a, b) before c, not by mean alone
    a = np.array([30.0, 31.0, 29.0, 32.0, 30.5, 29.5])
    b = a + np.array([1.5, -2.0, 1.0, -1.5, 0.5, -0.6])
    c = a - 0.1
    robust = {"a": a.tolist(), "b": b.tolist(), "c": c.tolist()}
    summary = _summary(**robust)
    assert summary["c"]["robust_psnr"]["mean"] > summary["b"]["robust_psnr"]["mean"]
    order = rank_with_ties(summary, robust, PROTOCOL)
    assert [summary[m]["rank_label"] for m in order] == ["=1", "=1", "3"]
    assert order == ["a", "b", "c"]
