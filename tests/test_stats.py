"""denoise_adv.stats: every statistic checked against scipy, a closed form or a simulation.

Simulations use fixed seeds and are vectorised; the bounds are several Monte Carlo standard
errors away from the measured rates, so they fail when the method is wrong, not by chance.
"""

import math

import numpy as np
import pytest
from scipy import stats

from denoise_adv.stats import (
    board_detectable_difference,
    compare_to_control,
    detectable_difference,
    holm,
    mean_interval,
    paired_interval,
    pairwise_tests,
    rank_groups,
    rank_labels,
    summarize,
    welch_interval,
)

A = [30.1, 31.4, 29.0, 32.2, 28.7, 30.6]
B = [30.0, 31.0, 29.2, 31.9, 28.1, 30.1]


# ---------------------------------------------------------------- paired_interval


def test_paired_interval_is_scipy_ttest_rel_and_the_closed_form():
    low, high = paired_interval(A, B, confidence=0.9)
    ci = stats.ttest_rel(A, B).confidence_interval(0.9)
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    d = np.subtract(A, B)
    half = stats.t.ppf(0.95, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    assert paired_interval(B, A, confidence=0.9) == pytest.approx((-high, -low), abs=1e-12)


def test_paired_interval_without_spread_is_the_point():
    assert paired_interval([1.0, 2.0, 3.0], [0.5, 1.5, 2.5]) == (0.5, 0.5)
    assert paired_interval(A, A) == (0.0, 0.0)


def _differences(kind: str, boards: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Paired differences with true mean 0: normal, or gamma with shape 4 (skewness 1)."""
    if kind == "normal":
        return rng.normal(0.0, 1.0, (boards, n))
    return rng.gamma(4.0, 1.0, (boards, n)) - 4.0


@pytest.mark.parametrize("kind, n", [("normal", 6), ("normal", 12), ("gamma", 24)])
def test_paired_interval_keeps_its_coverage(kind, n):
    rng = np.random.default_rng([29, n])
    d = _differences(kind, 20_000, n, rng)
    shift = rng.normal(30.0, 1.5, d.shape)  # the per-image level the pairing removes
    # the public function on the first boards ...
    public = np.array([paired_interval(s + x, s) for s, x in zip(shift[:300], d[:300])])
    # ... equals the vectorised scipy computation used for the rate over all boards
    ci = stats.ttest_rel(shift + d, shift, axis=-1).confidence_interval(0.95)
    np.testing.assert_allclose(public, np.column_stack([ci.low, ci.high])[:300], atol=1e-9)
    coverage = np.mean((ci.low <= 0.0) & (ci.high >= 0.0))
    assert 0.93 <= coverage <= 0.975, coverage


# ---------------------------------------------------------------- one sample


def test_mean_interval_and_summarize_are_the_one_sample_t():
    low, high = mean_interval(A, confidence=0.99)
    ci = stats.ttest_1samp(A, 0.0).confidence_interval(0.99)
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    s = summarize(A, confidence=0.99)
    assert s == {"mean": pytest.approx(np.mean(A)), "low": low, "high": high,
                 "sd": pytest.approx(np.std(A, ddof=1)), "n": 6, "method": "t"}
    assert mean_interval([2.0, 2.0]) == (2.0, 2.0)


def test_mean_interval_covers_at_six_values():
    values = np.random.default_rng(6).normal(1.0, 2.0, (20_000, 6))
    ci = stats.ttest_1samp(values, 0.0, axis=-1).confidence_interval(0.95)
    public = np.array([mean_interval(v) for v in values[:100]])
    np.testing.assert_allclose(public, np.column_stack([ci.low, ci.high])[:100], atol=1e-9)
    assert 0.94 <= np.mean((ci.low <= 1.0) & (ci.high >= 1.0)) <= 0.96


# ---------------------------------------------------------------- holm


def test_holm_by_hand():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]  # 0.5*2 capped at 1; monotone after
    assert holm([0.02, 0.02]).tolist() == [0.04, 0.04]  # ties
    assert holm([0.3]).tolist() == [0.3]
    assert holm([]).size == 0


def _statsmodels_holm(p: np.ndarray) -> np.ndarray:
    """statsmodels.stats.multitest.multipletests(method="holm"), its formula written out."""
    order = np.argsort(p)
    corrected = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    out = np.empty_like(p)
    out[order] = np.minimum(corrected, 1.0)
    return out


def _step_down_rejects(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's procedure as stated: reject the k-th smallest while p_(k) <= alpha/(m-k+1)."""
    reject = np.zeros(p.size, dtype=bool)
    for k, i in enumerate(np.argsort(p)):
        if p[i] > alpha / (p.size - k):
            break
        reject[i] = True
    return reject


def test_holm_matches_statsmodels_formula_and_the_step_down_procedure():
    rng = np.random.default_rng(1979)
    for m in (1, 2, 5, 15, 40):
        for _ in range(50):
            p = rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3)
            adjusted = holm(p)
            np.testing.assert_allclose(adjusted, _statsmodels_holm(p), rtol=1e-12)
            for alpha in (0.01, 0.05, 0.1):
                np.testing.assert_array_equal(adjusted <= alpha, _step_down_rejects(p, alpha))


def test_holm_controls_the_family_wise_error():
    p = np.random.default_rng(3).uniform(size=(5000, 10))  # ten true null hypotheses
    rate = np.mean([bool((holm(row) <= 0.05).any()) for row in p])
    assert 0.03 <= rate <= 0.065, rate


@pytest.mark.parametrize("bad, message", [([0.1, 1.5], r"\[0, 1\]"), ([0.1, -0.1], r"\[0, 1\]"),
                                          ([0.1, float("nan")], "pvalues must be finite")])
def test_holm_refuses_bad_pvalues(bad, message):
    with pytest.raises(ValueError, match=message):
        holm(bad)


# ---------------------------------------------------------------- rank_groups


def _board(rng: np.random.Generator, worse: float = 0.0, models: int = 6, n: int = 6) -> dict:
    """Models that share a per-image effect (sd 1.5 dB) plus their own noise (sd 0.05 dB);
    the last one is ``worse`` dB worse on every image."""
    x = 30.0 + rng.normal(0.0, 1.5, n) + rng.normal(0.0, 0.05, (models, n))
    x[-1] -= worse
    return {f"m{k}": row for k, row in enumerate(x)}


def test_rank_groups_controls_false_differences():
    rng = np.random.default_rng(2906)
    false = [max(rank_groups(_board(rng)).values()) > 1 for _ in range(1000)]
    assert 0.01 <= np.mean(false) <= 0.10, np.mean(false)  # nominal 0.05 under Holm


def test_rank_groups_finds_a_model_half_a_db_worse():
    rng = np.random.default_rng(2907)
    boards = [rank_groups(_board(rng, worse=0.5)) for _ in range(1000)]
    assert np.mean([r["m5"] > 1 for r in boards]) >= 0.90
    others = [max(r[k] for k in r if k != "m5") for r in boards]
    assert np.mean(np.array(others) > 1) <= 0.10  # the equal models still share rank 1


def test_rank_groups_is_one_plus_the_models_significantly_better():
    base = np.array([31.0, 30.0, 29.0, 32.0, 30.5, 29.5])
    scores = {"a": base, "b": base - [0.1, 0.3, -0.1, 0.2, 0.05, 0.0],
              "c": base - [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]}
    assert rank_groups(scores) == {"a": 1, "b": 1, "c": 3}
    # lower is better: c beats both; a and b still cannot be told apart
    assert rank_groups(scores, higher_is_better=False) == {"a": 2, "b": 2, "c": 1}
    tests = pairwise_tests(scores)
    for t in tests:
        p = stats.ttest_rel(scores[t["a"]], scores[t["b"]]).pvalue
        assert t["p"] == pytest.approx(p, rel=1e-12)
    assert [t["p_holm"] for t in tests] == pytest.approx(holm([t["p"] for t in tests]).tolist())


def test_rank_groups_need_not_be_transitive():
    # B cannot be told from A or from C, but A beats C: A and B share rank 1, C is 2nd
    a = 30.0 + np.linspace(-2.0, 2.0, 12)
    swing = np.tile([0.8, -0.8], 6)  # B's image-to-image disagreement with A and C
    scores = {"A": a, "B": a - 0.25 + swing, "C": a - 0.5 + np.tile([0.05, -0.05, 0.0], 4)}
    tests = {(t["a"], t["b"]): t["p_holm"] for t in pairwise_tests(scores)}
    assert tests[("A", "C")] <= 0.05 < min(tests[("A", "B")], tests[("B", "C")])
    assert rank_groups(scores) == {"A": 1, "B": 1, "C": 2}
    assert rank_labels(rank_groups(scores)) == {"A": "=1", "B": "=1", "C": "2"}


def test_rank_groups_degenerate_boards():
    assert rank_groups({"only": [30.0, 31.0]}) == {"only": 1}
    assert rank_groups({"x": [30.0], "y": [20.0]}) == {"x": 1, "y": 1}  # one image: no test
    assert rank_groups({"x": A, "y": A}) == {"x": 1, "y": 1}  # identical models
    offset = {"x": [30.0, 31.0, 29.0], "y": [29.5, 30.5, 28.5]}  # y 0.5 worse on every image
    assert rank_groups(offset) == {"x": 1, "y": 2}


def test_rank_labels():
    assert rank_labels({"a": 1, "b": 2, "c": 2, "d": 4}) == {"a": "1", "b": "=2", "c": "=2",
                                                             "d": "4"}
    with pytest.raises(ValueError, match="ranks"):
        rank_labels({"a": 0})


def test_rank_groups_refuses_bad_boards():
    with pytest.raises(ValueError, match=r"scores\['y'\] must have one value per image"):
        rank_groups({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"scores\['y'\] must be finite"):
        rank_groups({"x": [1.0, 2.0], "y": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="scores must name at least one model"):
        rank_groups({})
    with pytest.raises(TypeError, match="scores must be a mapping"):
        rank_groups([[1.0, 2.0]])
    with pytest.raises(ValueError, match="alpha"):
        rank_groups({"x": [1.0, 2.0]}, alpha=0.0)


# ---------------------------------------------------------------- power


@pytest.mark.parametrize("n, comparisons", [(6, 1), (6, 15), (12, 1)])
def test_detectable_difference_has_the_power_it_claims(n, comparisons):
    delta = detectable_difference(1.0, n, comparisons=comparisons)
    d = np.random.default_rng([n, comparisons]).normal(delta, 1.0, (40_000, n))
    power = np.mean(stats.ttest_1samp(d, 0.0, axis=-1).pvalue <= 0.05 / comparisons)
    assert power == pytest.approx(0.8, abs=0.012)
    # the alternative just below is detected less often, so delta is the smallest
    low = np.mean(stats.ttest_1samp(d - 0.2 * delta, 0.0, axis=-1).pvalue <= 0.05 / comparisons)
    assert low < 0.75


def test_detectable_difference_two_sample():
    delta = detectable_difference(0.3, 5, two_sample=True)
    rng = np.random.default_rng(55)
    a, b = rng.normal(delta, 0.3, (40_000, 5)), rng.normal(0.0, 0.3, (40_000, 5))
    pooled = np.mean(stats.ttest_ind(a, b, axis=-1).pvalue <= 0.05)
    welch = np.mean(stats.ttest_ind(a, b, axis=-1, equal_var=False).pvalue <= 0.05)
    assert pooled == pytest.approx(0.8, abs=0.012)
    assert 0.72 <= welch <= pooled  # Welch spends a little power on unequal variances


def test_detectable_difference_moves_the_right_way():
    by_n = [detectable_difference(1.0, n) for n in range(2, 40)]
    assert all(x > y for x, y in zip(by_n, by_n[1:]))
    assert detectable_difference(2.0, 6) == pytest.approx(2 * detectable_difference(1.0, 6))
    assert detectable_difference(1.0, 6, comparisons=15) > detectable_difference(1.0, 6)
    assert detectable_difference(1.0, 6, power=0.9) > detectable_difference(1.0, 6)
    # large n: the normal approximation (z_{1-alpha/2} + z_power) * sd / sqrt(n)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert detectable_difference(1.0, 10_000) == pytest.approx(z / 100, rel=1e-3)


def test_board_detectable_difference_pools_the_pairs():
    rng = np.random.default_rng(8)
    board = _board(rng)
    x = np.stack(list(board.values()))
    sds = [np.std(x[i] - x[j], ddof=1) for i in range(6) for j in range(i + 1, 6)]
    expected = detectable_difference(math.sqrt(np.mean(np.square(sds))), 6, comparisons=15)
    assert board_detectable_difference(board) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2 models"):
        board_detectable_difference({"x": [1.0, 2.0]})


@pytest.mark.parametrize("kwargs, message", [
    ({"sd_diff": 0.0}, "sd_diff must be > 0"), ({"n": 1}, "n must be >= 2"),
    ({"power": 0.01}, "power must be >"), ({"comparisons": 0}, "comparisons must be >= 1"),
    ({"alpha": 1.5}, "alpha must be <= 1")])
def test_detectable_difference_refuses_bad_arguments(kwargs, message):
    args = {"sd_diff": 1.0, "n": 6, **kwargs}
    with pytest.raises(ValueError, match=message):
        detectable_difference(**args)


# ---------------------------------------------------------------- welch


def test_welch_interval_is_scipy_and_the_closed_form():
    a, b = [1.2, 1.0, 1.1, 1.3, 1.25], [1.0, 0.9, 1.0, 0.8]
    diff, low, high, p = welch_interval(a, b, confidence=0.9)
    result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(0.9)
    assert (low, high, p) == pytest.approx((ci.low, ci.high, result.pvalue), rel=1e-12)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))  # Welch-Satterthwaite
    se = math.sqrt(va + vb)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    half = stats.t.ppf(0.95, df) * se
    assert (low, high) == pytest.approx((diff - half, diff + half), rel=1e-12)
    assert p == pytest.approx(2 * stats.t.sf(abs(diff) / se, df), rel=1e-10)


def test_welch_interval_without_spread():
    assert welch_interval([1.0, 1.0], [1.0, 1.0]) == (0.0, 0.0, 0.0, 1.0)
    assert welch_interval([2.0, 2.0], [1.0, 1.0]) == (1.0, 1.0, 1.0, 0.0)


def test_compare_to_control_is_welch_with_holm_over_branches():
    groups = {"normal": [1.0, 0.9, 1.0, 0.8, 0.95], "ts": [1.2, 1.0, 1.1, 1.3, 1.15],
              "mixed": [0.9, 1.1, 1.0, 0.85, 1.0]}
    out = compare_to_control(groups, "normal")
    assert list(out) == ["ts", "mixed"]
    for branch in out:
        diff, low, high, p = welch_interval(groups[branch], groups["normal"])
        assert out[branch] == {"diff": diff, "low": low, "high": high, "p": p, "n": 5,
                               "n_control": 5, "p_holm": pytest.approx(out[branch]["p_holm"])}
    assert [r["p_holm"] for r in out.values()] == pytest.approx(
        holm([r["p"] for r in out.values()]).tolist())
    with pytest.raises(ValueError, match="control must be one of"):
        compare_to_control(groups, "nope")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("call, message", [
    (lambda: paired_interval([1.0, float("nan"), 2.0], [1.0, 2.0, 3.0]), "a must be finite"),
    (lambda: paired_interval([1.0, 2.0, 3.0], [1.0, float("inf"), 3.0]), "b must be finite"),
    (lambda: paired_interval([1.0, 2.0, 3.0], [1.0, 2.0]), "b must have one value per value of a"),
    (lambda: paired_interval([1.0], [2.0]), "a must have at least 2 values"),
    (lambda: paired_interval([[1.0, 2.0]], [[1.0, 2.0]]), "a must be one-dimensional"),
    (lambda: paired_interval(A, B, confidence=1.0), "confidence must be < 1"),
    (lambda: paired_interval(A, B, confidence=0.0), "confidence must be > 0"),
    (lambda: mean_interval([float("nan"), 1.0]), "values must be finite"),
    (lambda: mean_interval([3.0]), "values must have at least 2 values"),
    (lambda: summarize([]), "values must have at least 2 values"),
    (lambda: welch_interval([1.0], [1.0, 2.0]), "a must have at least 2 values"),
    (lambda: welch_interval([1.0, 2.0], [1.0, float("nan")]), "b must be finite"),
    (lambda: compare_to_control({"n": [1.0, 2.0], "t": [1.0]}, "n"),
     r"groups\['t'\] must have at least 2"),
])
def test_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: paired_interval("abc", "abd"), "a must be a sequence of numbers"),
    (lambda: paired_interval([1.0, 2.0], ["x", "y"]), "b must be a sequence of numbers"),
    (lambda: mean_interval(None), "values must be one-dimensional"),
    (lambda: rank_groups({"x": [1.0, 2.0]}, higher_is_better=1), "higher_is_better"),
])
def test_type_errors_name_the_argument(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
