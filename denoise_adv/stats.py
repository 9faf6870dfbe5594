r"""Intervals, multiple comparisons, rank groups and power for leaderboards and studies.

This module owns the statistics of the benchmark leaderboards and of the training studies.
:mod:`scipy.stats` does the work underneath (the t distribution, the t-tests and their
intervals, the noncentral t for power); only Holm's step-down adjustment, which scipy lacks,
is written here.

========================================  ==============================================
function                                  what it is for
========================================  ==============================================
:func:`paired_interval`                   interval for mean(a - b) over paired per-image
                                          scores (paired t; ``scipy.stats.ttest_rel``)
:func:`mean_interval`, :func:`summarize`  a t-interval for one mean (a model's mean PSNR
                                          over images; a branch's mean over seeds)
:func:`holm`                              Holm-Bonferroni adjusted p-values
:func:`pairwise_tests`                    every pair of a board: paired t, Holm-adjusted
:func:`rank_groups`, :func:`rank_labels`  competition ranks with shared ranks ("=k"),
                                          family-wise error controlled by Holm
:func:`detectable_difference`,            smallest difference detected at 80% power
:func:`board_detectable_difference`       (noncentral t, Bonferroni over comparisons)
:func:`welch_interval`                    seeds of a branch against seeds of a control
                                          (Welch two-sample t)
:func:`compare_to_control`                every branch against the control, Holm-adjusted
========================================  ==============================================

**What is resampled.** Images (or seeds, in a study) are the sampling unit: the intervals say
how the mean would move over other images drawn like these. Everything else is fixed: the
noise seed, the attack's random start, the trained weights (for a leaderboard).

**Measured coverage** of the nominal 95% intervals for the mean paired difference, on
simulated boards with fixed seeds (script of issue 29: 100000 boards for the t-interval,
2000 boards of 2000 resamples for BCa; gamma(4) has skewness 1, exponential 2).
tests/test_stats.py checks the rows marked * (20000 boards, coverage in [0.93, 0.975]):

=============  ======  ========  ===========================
differences    images  paired t  paired BCa (the old method)
=============  ======  ========  ===========================
normal         6 *     0.951     0.857
normal         12 *    0.949     0.905
normal         24      0.950     0.924
gamma(4)       6       0.933     0.855
gamma(4)       12      0.938     0.900
gamma(4)       24 *    0.943     0.924
exponential    6       0.887     0.831
exponential    12      0.905     0.886
exponential    24      0.924     0.921
=============  ======  ========  ===========================

The t-interval assumes roughly normal differences: very skewed ones undercover at six
images, where more images is the remedy (the bootstrap does worse still).

**Family-wise error of** :func:`rank_groups` (6 models, 6 images; each model's score is a
shared per-image effect with sd 1.5 dB plus its own noise with sd 0.05 dB; 2000 boards):
with no real difference, 4.3% of boards rank some model below 1 (Holm's bound: 5%); the old
rule (the BCa interval against the leader contains 0) did so on 64.6% (500 boards). A model
0.5 / 0.2 / 0.1 dB worse on every image is ranked below 1 on 100% / 99.5% / 58.5% of boards
(one given model against it, Holm-adjusted: 100% / 85% / 25% of 500 boards). The
detectable difference for one pair there (:func:`detectable_difference`, sd 0.0707, 6
images, 15 pairs) is 0.19 dB.

Degenerate inputs: fewer than two values, NaN or infinite values raise :class:`ValueError`
naming the argument. Differences that are all equal have no spread: their interval is the
single point ``(d, d)`` and their p-value is 1 if ``d == 0`` else 0 (every image agrees).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import combinations
from typing import Any

import numpy as np
from scipy import optimize, stats

from ._checks import check_int, check_real

__all__ = [
    "board_detectable_difference",
    "compare_to_control",
    "detectable_difference",
    "holm",
    "mean_interval",
    "paired_interval",
    "pairwise_tests",
    "rank_groups",
    "rank_labels",
    "summarize",
    "welch_interval",
]


def _values(values: object, name: str, minimum: int = 2) -> np.ndarray:
    """``values`` as a 1-D float64 array of at least ``minimum`` finite numbers."""
    if isinstance(values, (str, bytes, Mapping)):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a sequence of numbers ({error})") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per image or seed), got "
                         f"shape {x.shape}")
    if x.size < minimum:
        raise ValueError(f"{name} must have at least {minimum} values, got {x.size}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {x[bad[0]]} at index {bad[0]}")
    return x


def _paired(a: object, b: object, name_a: str = "a", name_b: str = "b"
            ) -> tuple[np.ndarray, np.ndarray]:
    x, y = _values(a, name_a), _values(b, name_b)
    if x.size != y.size:
        raise ValueError(f"{name_b} must have one value per value of {name_a} (paired): got "
                         f"{y.size} and {x.size}")
    return x, y


def _confidence(confidence: object) -> float:
    value = check_real(confidence, "confidence", minimum=0.0, strict=True, maximum=1.0)
    if value == 1.0:
        raise ValueError("confidence must be < 1, got 1.0")
    return value


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence scipy's 'precision loss' warning: nearly equal differences are still read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        yield


def _ttest_1samp(d: np.ndarray, confidence: float) -> tuple[Any, Any, Any]:
    """``(p, low, high)`` of the one-sample t-test of ``d`` (last axis) against 0, with the
    documented rule for rows without spread (p = 1 if all zero; the interval is the point)."""
    with _quiet():
        result = stats.ttest_1samp(d, 0.0, axis=-1)
        ci = result.confidence_interval(confidence)
    p = np.where(np.isnan(result.pvalue), 1.0, result.pvalue)  # NaN only for all-zero rows
    return p, ci.low, ci.high


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95
                    ) -> tuple[float, float]:
    """Paired t-interval for ``mean(a - b)``, pairs matched by position (one per image).

    ``scipy.stats.ttest_rel(a, b).confidence_interval(confidence)`` (computed as the
    one-sample t of ``a - b``, which is what ``ttest_rel`` does). It keeps its coverage at
    6-24 images (module docstring); the BCa bootstrap does not. Differences without spread
    (all equal to ``d``) give the point ``(d, d)``.

    Args:
        a: one model's per-image scores.
        b: the other model's scores on the same images, in the same order.
        confidence: the interval's level, in (0, 1).

    Returns:
        ``(low, high)``.

    Raises:
        ValueError: fewer than 2 pairs, lengths differ, or a NaN/infinite value (the message
            names the argument).

    Example:
        >>> low, high = paired_interval([30.1, 31.4, 29.0, 32.2], [30.0, 31.0, 29.2, 31.9])
        >>> round(low, 3), round(high, 3)
        (-0.271, 0.571)
        >>> paired_interval([1.0, 2.0], [0.5, 1.5])
        (0.5, 0.5)
    """
    x, y = _paired(a, b)
    _, low, high = _ttest_1samp(x - y, _confidence(confidence))
    return float(low), float(high)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """One-sample t-interval for the mean of ``values`` (images of a model, seeds of a branch).

    ``scipy.stats.ttest_1samp(values, 0).confidence_interval(confidence)``; values that are
    all equal give the point ``(v, v)``.

    Args:
        values: one value per image (or seed), at least 2, finite.
        confidence: the interval's level, in (0, 1).

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = mean_interval([29.5, 30.0, 30.5])
        >>> round(low, 3), round(high, 3)
        (28.758, 31.242)
    """
    x = _values(values, "values")
    _, low, high = _ttest_1samp(x, _confidence(confidence))
    return float(low), float(high)


def summarize(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """``{"mean", "low", "high", "sd", "n", "method"}``: the mean, its t-interval
    (:func:`mean_interval`), the sample sd (``ddof=1``) and the count; the drop-in for a
    leaderboard cell or a study's per-branch row.

    Args:
        values: one value per image (or seed), at least 2, finite.
        confidence: the interval's level, in (0, 1).

    Example:
        >>> summarize([29.5, 30.0, 30.5])["sd"]
        0.5
    """
    x = _values(values, "values")
    low, high = mean_interval(x, confidence)
    return {"mean": float(x.mean()), "low": low, "high": high,
            "sd": float(x.std(ddof=1)), "n": int(x.size), "method": "t"}


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the order given.

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of the i-th is
    ``max over j <= i of min(1, (m - j + 1) * p_(j))``. Rejecting where the adjusted value is
    ``<= alpha`` controls the family-wise error at ``alpha`` under any dependence (Holm 1979).
    (scipy has no Holm: ``scipy.stats.false_discovery_control`` is Benjamini-Hochberg.)

    Args:
        pvalues: the family's p-values, each in [0, 1]; may be empty.

    Example:
        >>> holm([0.01, 0.04, 0.03]).tolist()
        [0.03, 0.06, 0.06]
    """
    p = _values(pvalues, "pvalues", minimum=0)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"pvalues must lie in [0, 1], got {p.min()} to {p.max()}")
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def _board(scores: object) -> tuple[list[str], np.ndarray]:
    """The labels and a (models, images) array of a board."""
    if not isinstance(scores, Mapping):
        raise TypeError(f"scores must be a mapping of model name to per-image scores, got "
                        f"{type(scores).__name__}")
    if not scores:
        raise ValueError("scores must name at least one model")
    labels = list(scores)
    rows = [_values(scores[k], f"scores[{k!r}]", minimum=1) for k in labels]
    for label, row in zip(labels[1:], rows[1:]):
        if row.size != rows[0].size:
            raise ValueError(f"scores[{label!r}] must have one value per image like "
                             f"scores[{labels[0]!r}]: got {row.size} and {rows[0].size}")
    return labels, np.stack(rows)


def _pairs(x: np.ndarray, confidence: float) -> tuple[list[tuple[int, int]], np.ndarray,
                                                      np.ndarray, Any, Any, np.ndarray]:
    """All pairs (i < j) of a (models, images) array: mean of x_i - x_j, p, low, high, Holm."""
    pairs = list(combinations(range(x.shape[0]), 2))
    if not pairs or x.shape[1] < 2:  # nothing to compare, or one image: no test possible
        mean = np.array([x[i].mean() - x[j].mean() for i, j in pairs])
        return pairs, mean, np.ones(len(pairs)), mean * np.nan, mean * np.nan, np.ones(len(pairs))
    i, j = (np.array(k) for k in zip(*pairs))
    d = x[i] - x[j]
    p, low, high = _ttest_1samp(d, confidence)
    return pairs, d.mean(axis=1), p, low, high, holm(p)


def pairwise_tests(scores: Mapping[str, Sequence[float]], confidence: float = 0.95
                   ) -> list[dict[str, Any]]:
    """Every pair of a board, as the evidence behind :func:`rank_groups`.

    One dict per pair ``(a, b)`` in the order of ``scores``: ``mean`` (of a - b, per image),
    ``low``/``high`` (its paired t-interval at ``confidence``, *not* adjusted for the number of
    pairs), ``p`` (paired t-test) and ``p_holm`` (Holm over all pairs of the board). With one
    image no test is possible: ``p`` and ``p_holm`` are 1 and the interval is NaN.

    Args:
        scores: model name -> per-image scores (the same images in the same order for all).
        confidence: the level of the per-pair intervals, in (0, 1).

    Example:
        >>> tests = pairwise_tests({"x": [30.0, 31.0, 29.0], "y": [29.0, 30.2, 28.1]})
        >>> tests[0]["a"], tests[0]["b"], round(tests[0]["mean"], 3), round(tests[0]["p"], 4)
        ('x', 'y', 0.9, 0.0041)
    """
    labels, x = _board(scores)
    pairs, mean, p, low, high, adjusted = _pairs(x, _confidence(confidence))
    return [{"a": labels[i], "b": labels[j], "mean": float(mean[k]), "low": float(low[k]),
             "high": float(high[k]), "p": float(p[k]), "p_holm": float(adjusted[k])}
            for k, (i, j) in enumerate(pairs)]


def rank_groups(scores: Mapping[str, Sequence[float]], alpha: float = 0.05,
                higher_is_better: bool = True) -> dict[str, int]:
    """Competition ranks in which models the images cannot tell apart share a rank.

    Every pair of models is compared by a paired t-test on the per-image scores
    (:func:`pairwise_tests`); the p-values of all ``K(K-1)/2`` pairs are Holm-adjusted, so the
    chance that the board calls *any* difference that is not there is at most ``alpha``.
    A model's rank is ``1 + the number of models significantly better than it``.

    So ranks are shared: models with rank 1 are those no model beats. They need not be
    transitive: with A significantly above C and B distinguishable from neither, A and B get
    rank 1 and C rank 2, although B and C cannot be told apart. Ranks follow evidence, not the
    means: a model with the lower mean can hold the better rank. A leaderboard should sort by
    ``(rank, -mean)``, show ``"=k"`` where two or more models share rank k and ``"k"``
    otherwise (:func:`rank_labels`), and publish :func:`pairwise_tests` as the evidence.

    Args:
        scores: model name -> per-image scores (the same images in the same order for all).
        alpha: family-wise error rate over all pairs.
        higher_is_better: ``True`` for PSNR/SSIM, ``False`` for MAE or a drop.

    Returns:
        ``{model: rank}`` in the order of ``scores``. With one image no difference can be
        shown and every model gets rank 1.

    Example:
        >>> rank_groups({"a": [31.0, 30.0, 29.0, 32.0], "b": [30.9, 30.0, 28.8, 31.8],
        ...              "c": [30.0, 29.1, 28.1, 31.0]})
        {'a': 1, 'b': 1, 'c': 3}
    """
    alpha = check_real(alpha, "alpha", minimum=0.0, strict=True, maximum=1.0)
    if not isinstance(higher_is_better, bool):
        raise TypeError(f"higher_is_better must be a bool, got {type(higher_is_better).__name__}")
    labels, x = _board(scores)
    pairs, mean, _, _, _, adjusted = _pairs(x, 0.95)
    better = np.zeros(len(labels), dtype=int)
    sign = 1.0 if higher_is_better else -1.0
    for (i, j), diff, p in zip(pairs, mean, adjusted):
        if p <= alpha and diff != 0:
            better[j if sign * diff > 0 else i] += 1
    return {label: 1 + int(better[k]) for k, label in enumerate(labels)}


def rank_labels(ranks: Mapping[str, int]) -> dict[str, str]:
    """``"=k"`` for a rank that two or more models share, ``"k"`` for one held alone.

    Args:
        ranks: model name -> rank, as :func:`rank_groups` returns.

    Example:
        >>> rank_labels({"a": 1, "b": 1, "c": 3})
        {'a': '=1', 'b': '=1', 'c': '3'}
    """
    if not isinstance(ranks, Mapping):
        raise TypeError(f"ranks must be a mapping of model name to rank, got "
                        f"{type(ranks).__name__}")
    counts: dict[int, int] = {}
    for rank in ranks.values():
        check_int(rank, "ranks' values", minimum=1)
        counts[rank] = counts.get(rank, 0) + 1
    return {k: f"={r}" if counts[r] > 1 else str(r) for k, r in ranks.items()}


def _power(ncp: float, df: float, level: float) -> float:
    """Power of the two-sided t-test at ``level`` when the statistic is noncentral t."""
    critical = stats.t.ppf(1 - level / 2, df)
    # P(T < -c) as P(T' > c) at -ncp: nct.cdf(-c) returns NaN for some large ncp (scipy 1.17)
    wrong_side = float(np.nan_to_num(stats.nct.sf(critical, df, -ncp)))
    return float(stats.nct.sf(critical, df, ncp)) + wrong_side


def detectable_difference(sd_diff: float, n: int, alpha: float = 0.05, power: float = 0.8,
                          comparisons: int = 1, *, two_sample: bool = False) -> float:
    """The smallest mean difference a two-sided t-test detects with probability ``power``.

    Paired (default): ``n`` pairs whose differences have sd ``sd_diff``; the test statistic is
    noncentral t with ``n - 1`` degrees of freedom and noncentrality ``delta * sqrt(n) /
    sd_diff``. ``two_sample=True``: two groups of ``n`` (seeds of a branch and of the
    control) whose values each have sd ``sd_diff``; ``2n - 2`` degrees of freedom and
    noncentrality ``delta / (sd_diff * sqrt(2 / n))`` (the Welch test, with equal sds and
    sizes, is close to this). The level is ``alpha / comparisons`` (Bonferroni; Holm's first
    step), so for a board pass its number of pairs, for a study its number of branches.
    Solved for the noncentrality with :func:`scipy.optimize.brentq` on
    :data:`scipy.stats.nct`.

    Args:
        sd_diff: sd of the paired differences (of one group's values if ``two_sample``), > 0.
        n: pairs (images), or values per group if ``two_sample``; at least 2.
        alpha: the family's two-sided level.
        power: the probability of detection wanted, in (alpha / comparisons, 1).
        comparisons: the number of tests the level is shared by.
        two_sample: two independent groups (Welch/pooled t) instead of pairs.

    Returns:
        The difference, in the units of ``sd_diff``.

    Example:
        >>> round(detectable_difference(1.0, 6), 3)
        1.435
        >>> round(detectable_difference(0.1, 6, comparisons=15), 3)
        0.268
    """
    sd_diff = check_real(sd_diff, "sd_diff", minimum=0.0, strict=True)
    n = check_int(n, "n", minimum=2)
    alpha = check_real(alpha, "alpha", minimum=0.0, strict=True, maximum=1.0)
    comparisons = check_int(comparisons, "comparisons", minimum=1)
    level = alpha / comparisons
    power = check_real(power, "power", minimum=level, strict=True, maximum=1.0)
    if power == 1.0:
        raise ValueError("power must be < 1, got 1.0")
    df, scale = (2 * n - 2, math.sqrt(2.0 / n)) if two_sample else (n - 1, math.sqrt(1.0 / n))
    high = 1.0
    while _power(high, df, level) < power:
        high *= 2.0
    ncp = optimize.brentq(lambda c: _power(c, df, level) - power, 0.0, high, xtol=1e-10)
    return float(ncp * sd_diff * scale)


def board_detectable_difference(scores: Mapping[str, Sequence[float]], alpha: float = 0.05,
                                power: float = 0.8) -> float:
    """The smallest difference between two models that a board detects at ``power``.

    The sd of the per-image differences is pooled over all pairs of models (root mean
    square of the pairs' sds), and :func:`detectable_difference` is taken at the Bonferroni
    level ``alpha / pairs`` that Holm's first step uses: a conservative figure for the page
    ("differences smaller than this may go undetected"). Needs 2+ models and 2+ images.

    Args:
        scores: model name -> per-image scores, as for :func:`rank_groups`.
        alpha: the board's family-wise level.
        power: the probability of detection wanted.

    Example:
        >>> board = {"a": [30.0, 31.0, 29.0, 32.0], "b": [29.9, 30.8, 29.0, 31.9]}
        >>> round(board_detectable_difference(board), 3)
        0.174
    """
    labels, x = _board(scores)
    if len(labels) < 2:
        raise ValueError("scores must name at least 2 models to compare")
    if x.shape[1] < 2:
        raise ValueError(f"scores must have at least 2 images per model, got {x.shape[1]}")
    i, j = (np.array(k) for k in zip(*combinations(range(len(labels)), 2)))
    sd = float(np.sqrt(np.mean((x[i] - x[j]).var(axis=1, ddof=1))))
    if sd == 0:
        return 0.0
    return detectable_difference(sd, x.shape[1], alpha, power, comparisons=i.size)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95
                   ) -> tuple[float, float, float, float]:
    """Welch two-sample t for ``mean(a) - mean(b)``: ``(diff, low, high, p)``.

    For independent samples such as the seeds of a branch (``a``) and of the control
    (``b``): ``scipy.stats.ttest_ind(a, b, equal_var=False)`` and its interval. Both samples
    without spread give the point interval and p = 1 if the means are equal else 0.

    Args:
        a: the branch's values (one per seed), at least 2.
        b: the control's values, at least 2; the sizes may differ.
        confidence: the interval's level, in (0, 1).

    Example:
        >>> diff, low, high, p = welch_interval([1.2, 1.0, 1.1, 1.3], [1.0, 0.9, 1.0, 0.8])
        >>> round(diff, 3), round(low, 3), round(high, 3), round(p, 4)
        (0.225, 0.024, 0.426, 0.034)
    """
    x, y = _values(a, "a"), _values(b, "b")
    confidence = _confidence(confidence)
    with _quiet():
        result = stats.ttest_ind(x, y, equal_var=False)
        ci = result.confidence_interval(confidence)
    diff = float(x.mean() - y.mean())
    if np.isnan(result.pvalue):  # no spread in either sample
        return diff, diff, diff, 1.0 if diff == 0 else 0.0
    return diff, float(ci.low), float(ci.high), float(result.pvalue)


def compare_to_control(groups: Mapping[str, Sequence[float]], control: str,
                       confidence: float = 0.95) -> dict[str, dict[str, Any]]:
    """Each branch against the control, by :func:`welch_interval`, Holm-adjusted over branches.

    ``{branch: {"diff", "low", "high", "p", "p_holm", "n", "n_control"}}`` for every key of
    ``groups`` except ``control``, in order. The intervals are at ``confidence`` unadjusted;
    ``p_holm`` controls the family-wise error over the branches of this call (to make two
    metrics one family, pass their ``p`` values together to :func:`holm`).

    Args:
        groups: branch -> per-seed values (at least 2 each), the control among them.
        control: the key of the control branch (``"normal"`` in the FFDNet study).
        confidence: the intervals' level, in (0, 1).

    Example:
        >>> out = compare_to_control({"normal": [1.0, 0.9, 1.0, 0.8],
        ...                           "ts": [1.2, 1.0, 1.1, 1.3]}, "normal")
        >>> round(out["ts"]["diff"], 3), round(out["ts"]["p_holm"], 4)
        (0.225, 0.034)
    """
    if not isinstance(groups, Mapping):
        raise TypeError(f"groups must be a mapping of branch to per-seed values, got "
                        f"{type(groups).__name__}")
    if control not in groups:
        raise ValueError(f"control must be one of the groups {list(groups)}, got {control!r}")
    base = _values(groups[control], f"groups[{control!r}]")
    out: dict[str, dict[str, Any]] = {}
    for branch, values in groups.items():
        if branch == control:
            continue
        x = _values(values, f"groups[{branch!r}]")
        diff, low, high, p = welch_interval(x, base, confidence)
        out[branch] = {"diff": diff, "low": low, "high": high, "p": p,
                       "n": int(x.size), "n_control": int(base.size)}
    for branch, adjusted in zip(out, holm([r["p"] for r in out.values()])):
        out[branch]["p_holm"] = float(adjusted)
    return out
