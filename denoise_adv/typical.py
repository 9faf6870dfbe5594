r"""Typical sets of Gaussian noise and of its adversarially perturbed versions (paper section 3.4).

Our copy of the paper lost its formulas; the statements below are reconstructed from the
paper's description and each is checked by Monte Carlo in the tests (tests/test_typical.py).

For noise :math:`n \in \mathbb{R}^d`, :math:`n \sim N(0, \sigma^2 I_d)`:

- log-density :math:`\log p(n) = -\frac d2 \log(2\pi\sigma^2) - \|n\|^2/(2\sigma^2)`;
- differential entropy per component :math:`h = \frac12 \log(2\pi e \sigma^2)`;
- AEP deviation :math:`e(n) = -\frac1d \log p(n) - h = (\|n\|^2/(d\sigma^2) - 1)/2`;
- typical set :math:`A_\epsilon = \{n : |e(n)| \le \epsilon\}`.

A sample is one image (or patch): ``n`` has shape (B, ...) and ``d`` is the number of values of
one sample. All results are float64; every budget ``eta`` is in absolute units (an L2 radius, or
the L-inf bound per value). Volumes are natural logarithms.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy import integrate, optimize, special, stats

from ._checks import check_int, check_real, check_sigma

__all__ = [
    "aep_deviation",
    "attack_shift",
    "entropy",
    "hypercube_edge",
    "in_typical_set",
    "linf_slack_probability",
    "log_density",
    "log_volume",
    "log_volume_bounds",
    "norm_bounds",
    "perturbed_eps_l2",
    "perturbed_eps_linf",
    "ts_expected_shift",
    "ts_iterations_for",
    "typical_set_probability",
    "worst_linf_perturbation",
]


def _samples(n: object, name: str = "n") -> torch.Tensor:
    if not isinstance(n, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(n).__name__}")
    if n.dim() < 2:
        raise ValueError(f"{name} must have shape (B, ...) with one sample per row, got "
                         f"{tuple(n.shape)}")
    if n.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(n.shape)}")
    return n.detach().flatten(1).double()


def _sigma(sigma: float) -> float:
    """A single level > 0 (the formulas divide by it), by the package's one level check."""
    return check_sigma(sigma, ranges=False, tensors=False, positive=True)


def log_density(n: torch.Tensor, sigma: float) -> torch.Tensor:
    r""":math:`\log p(n)` of each sample under :math:`N(0, \sigma^2 I_d)`, shape (B,), float64.

    Example:
        >>> log_density(torch.zeros(1, 2), 1.0).item() == -math.log(2 * math.pi)
        True
    """
    x, sigma = _samples(n), _sigma(sigma)
    d = x.shape[1]
    return -0.5 * d * math.log(2 * math.pi * sigma**2) - x.pow(2).sum(1) / (2 * sigma**2)


def entropy(sigma: float) -> float:
    r"""Differential entropy per component, :math:`h = \frac12\log(2\pi e\sigma^2)` (nats).

    Example:
        >>> round(entropy(1.0), 4)
        1.4189
    """
    return 0.5 * math.log(2 * math.pi * math.e * _sigma(sigma) ** 2)


def aep_deviation(n: torch.Tensor, sigma: float) -> torch.Tensor:
    r"""AEP deviation :math:`e(n) = -\frac1d\log p(n) - h = (\|n\|^2/(d\sigma^2) - 1)/2` per sample.

    Lower density means larger ``e``. Shape (B,), float64.

    Example:
        >>> aep_deviation(torch.full((1, 4), 2.0), 1.0)
        tensor([1.5000], dtype=torch.float64)
    """
    x, sigma = _samples(n), _sigma(sigma)
    return (x.pow(2).mean(1) / sigma**2 - 1) / 2


def in_typical_set(n: torch.Tensor, sigma: float, eps: float) -> torch.Tensor:
    r"""Whether each sample lies in :math:`A_\epsilon` (definition 3.5), shape (B,), bool."""
    eps = check_real(eps, "eps", minimum=0.0)
    return aep_deviation(n, sigma).abs() <= eps


def norm_bounds(d: int, sigma: float, eps: float) -> tuple[float, float]:
    r"""Theorem 3.6: :math:`n \in A_\epsilon \iff
    \sigma\sqrt{d(1-2\epsilon)} \le \|n\|_2 \le \sigma\sqrt{d(1+2\epsilon)}`.

    Returns ``(low, high)``; ``low`` is 0 when :math:`\epsilon \ge 1/2`.

    Example:
        >>> norm_bounds(100, 1.0, 0.0)
        (10.0, 10.0)
    """
    d, sigma = check_int(d, "d", minimum=1), _sigma(sigma)
    eps = check_real(eps, "eps", minimum=0.0)
    return sigma * math.sqrt(d * max(0.0, 1 - 2 * eps)), sigma * math.sqrt(d * (1 + 2 * eps))


def typical_set_probability(d: int, eps: float) -> tuple[float, float]:
    r"""Probability of the typical set: ``(exact, chebyshev_lower_bound)``.

    Exact: :math:`P(|\chi^2_d/d - 1| \le 2\epsilon)` from the :math:`\chi^2_d` CDF.
    Chebyshev (the AEP's weak-law argument): :math:`\ge 1 - 1/(2d\epsilon^2)` (clipped at 0).

    Example:
        >>> exact, cheb = typical_set_probability(1600, 0.05)
        >>> exact > cheb > 0.8
        True
    """
    d = check_int(d, "d", minimum=1)
    eps = check_real(eps, "eps", minimum=0.0)
    hi = stats.chi2.cdf(d * (1 + 2 * eps), d)
    lo = stats.chi2.cdf(d * (1 - 2 * eps), d) if eps < 0.5 else 0.0
    chebyshev = 1 - 1 / (2 * d * eps**2) if eps > 0 else -math.inf
    return float(hi - lo), max(0.0, chebyshev)


def perturbed_eps_l2(d: int, sigma: float, eps: float, eta: float) -> float:
    r"""Theorem 3.10: for :math:`n \in A_\epsilon` and :math:`\|\delta\|_2 \le \eta`,
    :math:`n + \delta \in A_{\epsilon'}` with
    :math:`\epsilon' = \epsilon + \sqrt{1+2\epsilon}\,\eta/(\sigma\sqrt d) + \eta^2/(2d\sigma^2)`.

    The bound is reached when :math:`\delta` is parallel to :math:`n` (Lemma 3.8).
    """
    d, sigma = check_int(d, "d", minimum=1), _sigma(sigma)
    eps = check_real(eps, "eps", minimum=0.0)
    eta = check_real(eta, "eta", minimum=0.0)
    return eps + math.sqrt(1 + 2 * eps) * eta / (sigma * math.sqrt(d)) + eta**2 / (2 * d * sigma**2)


def perturbed_eps_linf(sigma: float, eps: float, eta: float, t: float | None = None) -> float:
    r"""Theorem 3.20: for :math:`n \in A_\epsilon` and :math:`\|\delta\|_\infty \le \eta`,
    :math:`n + \delta \in A_{\epsilon'}`.

    With ``t=None`` the always-true (Cauchy-Schwarz) bound
    :math:`\epsilon' = \epsilon + \sqrt{1+2\epsilon}\,\eta/\sigma + \eta^2/(2\sigma^2)`;
    with a slack ``t > 0`` (Lemma 3.16, holding with probability
    :func:`linf_slack_probability`) the tighter
    :math:`\epsilon' = \epsilon + \eta(\sqrt{2/\pi}+t)/\sigma + \eta^2/(2\sigma^2)`.
    Neither depends on ``d``: at equal absolute ``eta`` the L-inf set is much larger than the
    L2 one.
    """
    sigma = _sigma(sigma)
    eps = check_real(eps, "eps", minimum=0.0)
    eta = check_real(eta, "eta", minimum=0.0)
    if t is None:
        linear = math.sqrt(1 + 2 * eps)
    else:
        linear = math.sqrt(2 / math.pi) + check_real(t, "t", minimum=0.0, strict=True)
    return eps + eta * linear / sigma + eta**2 / (2 * sigma**2)


def linf_slack_probability(d: int, t: float) -> float:
    r"""Lemma 3.16 (Chebyshev): :math:`P(\|n\|_1/d \le \sigma(\sqrt{2/\pi} + t))
    \ge 1 - (1 - 2/\pi)/(d t^2)` (clipped at 0)."""
    d = check_int(d, "d", minimum=1)
    t = check_real(t, "t", minimum=0.0, strict=True)
    return max(0.0, 1 - (1 - 2 / math.pi) / (d * t**2))


def worst_linf_perturbation(n: torch.Tensor, eta: float) -> torch.Tensor:
    r"""Lemma 3.12: :math:`\arg\max_{\|\delta\|_\infty\le\eta}\|n+\delta\|^2 = \eta s` with
    :math:`s_i = +1` if :math:`n_i \ge 0` else :math:`-1` (not ``torch.sign``: a zero
    coordinate must move too).

    Example:
        >>> worst_linf_perturbation(torch.tensor([[-1.0, 0.0, 2.0]]), 0.5)
        tensor([[-0.5000,  0.5000,  0.5000]])
    """
    if not isinstance(n, torch.Tensor):
        raise TypeError(f"n must be a torch.Tensor, got {type(n).__name__}")
    eta = check_real(eta, "eta", minimum=0.0)
    return eta * (2 * (n >= 0).to(n.dtype) - 1)


def _log_ball_volume(d: int, radius: float) -> float:
    return 0.5 * d * math.log(math.pi) - special.gammaln(d / 2 + 1) + d * math.log(radius)


def log_volume(d: int, sigma: float, eps: float) -> float:
    r"""Natural log of the exact volume of :math:`A_\epsilon`, a spherical shell (Theorem 3.6).

    Computed in log space (``d`` is thousands); ``-inf`` for an empty shell (``eps = 0``).
    """
    low, high = norm_bounds(d, sigma, eps)
    log_high = _log_ball_volume(d, high)
    if low == 0.0:
        return log_high
    if low == high:
        return -math.inf
    # V(high) - V(low) = V(high) * (1 - (low/high)^d)
    return log_high + math.log(-math.expm1(d * math.log(low / high)))


def log_volume_bounds(d: int, sigma: float, eps: float) -> tuple[float, float]:
    r"""Propositions 3.22-3.26: :math:`\log P(A_\epsilon) + d(h-\epsilon) \le \log\mathrm{Vol}
    (A_\epsilon) \le d(h+\epsilon)`.

    Both follow from :math:`e^{-d(h+\epsilon)} \le p(n) \le e^{-d(h-\epsilon)}` on the set.
    """
    h = entropy(sigma)
    prob, _ = typical_set_probability(d, eps)
    lower = math.log(prob) + d * (h - eps) if prob > 0 else -math.inf
    return lower, d * (h + eps)


def hypercube_edge(sigma: float, eps: float) -> float:
    r"""Edge of the hypercube whose volume equals the upper bound :math:`e^{d(h+\epsilon)}`:
    :math:`\sigma\sqrt{2\pi e}\,e^{\epsilon}` (independent of ``d``).

    Example:
        >>> round(hypercube_edge(25 / 255, 0.0), 4)
        0.4052
    """
    eps = check_real(eps, "eps", minimum=0.0)
    return _sigma(sigma) * math.sqrt(2 * math.pi * math.e) * math.exp(eps)


@lru_cache(maxsize=4096)
def _ts_expected_max_chi2(d: int, iterations: float) -> float:
    """E[max of (T+1) independent chi^2_d] = int_0^inf 1 - F(x)^(T+1) dx, by quadrature."""
    if iterations == 0:
        return float(d)
    k = iterations + 1.0

    def tail(x: float) -> float:  # 1 - F(x)^k, accurate where F ~ 1
        return -math.expm1(k * math.log1p(-stats.chi2.sf(x, d)))

    hi = float(stats.chi2.isf(1e-13 / k, d))
    centre = float(stats.chi2.isf(1.0 / k, d))
    lo = max(0.0, float(stats.chi2.ppf(1e-12, d)))  # below it the integrand is 1 to 1e-12
    pieces = [lo, min(d, centre), max(d, centre), hi]
    total = lo
    for a, b in zip(pieces[:-1], pieces[1:]):
        if b > a:
            total += integrate.quad(tail, a, b, epsabs=1e-10 * d, epsrel=1e-12, limit=200)[0]
    return total


def ts_expected_shift(d: int, iterations: float) -> float:
    r"""Expected AEP deviation :math:`E[e(n)]` of TS noise with ``iterations`` = T.

    TS keeps, per sample, the least likely of T+1 Gaussian draws, so :math:`\|n\|^2/\sigma^2` is
    the maximum of T+1 independent :math:`\chi^2_d` variables and
    :math:`E[e(n)] = (E[\max]/d - 1)/2`, computed here by quadrature (exact, unlike the leading
    order :math:`z_T/\sqrt{2d}`, which ignores the skew of :math:`\chi^2` and overshoots T).
    Does not depend on :math:`\sigma`. ``iterations`` may be fractional (the exact sampler
    accepts it).

    Example:
        >>> round(ts_expected_shift(1600, 10), 3)
        0.028
    """
    d = check_int(d, "d", minimum=1)
    iterations = check_real(iterations, "iterations", minimum=0.0)
    return (_ts_expected_max_chi2(d, iterations) / d - 1) / 2


def attack_shift(sigma: float, eta: float, norm: str, d: int) -> float:
    r"""Expected AEP shift :math:`E[e(n+\delta) - e(n)]` of the worst-case perturbation.

    - ``"linf"`` (Lemma 3.12, 3.14): :math:`\eta\sqrt{2/\pi}/\sigma + \eta^2/(2\sigma^2)`;
    - ``"l2"`` (:math:`\delta = \eta\, n/\|n\|`, Lemma 3.8):
      :math:`\eta E\|n\|/(d\sigma^2) + \eta^2/(2d\sigma^2)` with the exact
      :math:`E\|n\| = \sigma\sqrt2\,\Gamma(\frac{d+1}2)/\Gamma(\frac d2)`.

    ``eta`` is absolute: for a per-pixel L2 budget pass ``eta = eps * sqrt(d)``.

    Example:
        >>> round(attack_shift(25 / 255, 2 / 255, "linf", 1600), 3)
        0.067
    """
    sigma = _sigma(sigma)
    eta = check_real(eta, "eta", minimum=0.0)
    d = check_int(d, "d", minimum=1)
    if norm == "linf":
        return eta * math.sqrt(2 / math.pi) / sigma + eta**2 / (2 * sigma**2)
    if norm == "l2":
        mean_norm = sigma * math.sqrt(2) * math.exp(special.gammaln((d + 1) / 2)
                                                    - special.gammaln(d / 2))
        return eta * mean_norm / (d * sigma**2) + eta**2 / (2 * d * sigma**2)
    raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")


_MAX_ITERATIONS = 1e200


def ts_iterations_for(d: int, shift: float) -> float:
    r"""The number of TS iterations T whose expected AEP shift equals ``shift``.

    Inverts :func:`ts_expected_shift` (increasing in T) by root finding on :math:`\log(1+T)`.
    Combine with :func:`attack_shift` to cover an attack budget, e.g. L-inf 2/255 at sigma
    25/255 on 40x40 patches::

        ts_iterations_for(1600, attack_shift(25 / 255, 2 / 255, "linf", 1600))  # ~4.4e3

    Returns a float (the exact sampler takes fractional T; round up for "screening").
    """
    d = check_int(d, "d", minimum=1)
    shift = check_real(shift, "shift", minimum=0.0)
    if shift == 0:
        return 0.0
    top = math.log1p(_MAX_ITERATIONS)
    if ts_expected_shift(d, _MAX_ITERATIONS) < shift:
        raise ValueError(f"shift {shift} is out of reach of TS for d = {d} (needs T > 1e200)")
    s = optimize.brentq(lambda s: ts_expected_shift(d, math.expm1(s)) - shift, 0.0, top,
                        xtol=1e-12, rtol=1e-10)
    return float(np.expm1(s))
