r"""Functional noise samplers: Gaussian, TS (paper section 3.5) and mixed-level Gaussian.

Every sampler is batched (dim 0 is the batch; each sample is one noise vector over the other
dimensions, ``d = C*H*W``), takes a :class:`torch.Generator` (the global RNG when ``None``) and
returns a tensor on ``device`` in ``dtype``. ``sigma`` is a float or a per-sample tensor of
shape (B,), in [0, 1] units.

TS, Out-of-Distribution Typical Set Sampling (Algorithm 3.1 of the paper, reconstructed from its
description because our copy lost it), per sample::

    n ~ N(0, sigma^2 I_d)
    repeat T times: m ~ N(0, sigma^2 I_d); if log p(m) < log p(n): n <- m

so :math:`\|n\|^2/\sigma^2` is the maximum of T+1 independent :math:`\chi^2_d` draws and the
direction is uniform. ``method="screening"`` runs that loop literally; ``method="exact"`` draws
the same distribution at a cost independent of T by stretching one Gaussian draw along its own
direction: :math:`g \sim N(0, I_d)`, :math:`n = \sigma\, g\, k(\|g\|)` with
:math:`k(r)^2 r^2 = F^{-1}(F(r^2)^{1/(T+1)})`, :math:`F` the :math:`\chi^2_d` CDF. The
direction :math:`g/\|g\|` is uniform and independent of :math:`\|g\|^2 \sim \chi^2_d`, so
:math:`F(\|g\|^2)` is uniform and the new squared radius has CDF :math:`F^{T+1}`, the law of
the largest of T+1 draws (:func:`ts_gain`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import special

from ._checks import (
    SECONDS_PER_CALL,
    SECONDS_PER_ELEMENT,
    Sigma,
    check_budget,
    check_int,
    check_real,
    check_sigma,
)
from .typical import ts_iterations_for

__all__ = ["Sigma", "draw_levels", "gaussian_noise", "mixed_noise", "mixing_levels",
           "random_like", "ts_gain", "ts_noise"]

METHODS = ("exact", "screening")


def _shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise ValueError(f"shape must be (B, ...) with every size >= 1, got {shape}")
    return shape


def draw_levels(sigma: Sigma, batch: int, generator: torch.Generator | None = None
                ) -> float | torch.Tensor:
    """The level of each sample: ``sigma`` itself, or for a ``(low, high)`` range a (B,)
    float64 tensor uniform in it (drawn from ``generator``).

    Example:
        >>> levels = draw_levels((0.0, 0.2), 3, torch.Generator().manual_seed(0))
        >>> tuple(levels.shape), bool(((levels >= 0) & (levels <= 0.2)).all())
        ((3,), True)
    """
    sigma = check_sigma(sigma)
    if not isinstance(sigma, tuple):
        return sigma
    u = _rand((batch,), generator, None, torch.float64).cpu()
    return sigma[0] + (sigma[1] - sigma[0]) * u


def _sigma_column(sigma: float | torch.Tensor, batch: int, ndim: int, device, dtype):
    """Levels from :func:`draw_levels` (already checked there) as a float or a (B, 1, ..., 1)
    tensor broadcasting over each sample."""
    if isinstance(sigma, torch.Tensor):
        if sigma.dim() == 0:
            sigma = sigma.reshape(1).expand(batch)
        if sigma.dim() != 1 or sigma.shape[0] != batch:
            raise ValueError(f"sigma must be a float or a tensor of shape ({batch},), got shape "
                             f"{tuple(sigma.shape)}")
        return sigma.to(device=device, dtype=dtype).view(batch, *([1] * (ndim - 1)))
    return sigma


def _generator_device(generator: torch.Generator | None, device) -> torch.device:
    return generator.device if generator is not None else torch.device(device or "cpu")


def _randn(shape, generator, device, dtype) -> torch.Tensor:
    """Standard normal draws from ``generator`` (made on its device, then moved)."""
    out = torch.randn(shape, generator=generator, device=_generator_device(generator, device),
                      dtype=dtype)
    return out.to(device) if device is not None else out


def _rand(shape, generator, device, dtype) -> torch.Tensor:
    out = torch.rand(shape, generator=generator, device=_generator_device(generator, device),
                     dtype=dtype)
    return out.to(device) if device is not None else out.cpu()


def random_like(like: torch.Tensor, kind: str, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """Standard normal (``"normal"``) or uniform [0, 1) (``"uniform"``) draws shaped like
    ``like``, on its device and dtype, from ``generator`` (drawn where the generator lives, then
    moved), or from the global RNG of ``like``'s device.

    Example:
        >>> a = random_like(torch.zeros(2), "uniform", torch.Generator().manual_seed(0))
        >>> bool(((a >= 0) & (a < 1)).all())
        True
    """
    draw = {"normal": _randn, "uniform": _rand}.get(kind)
    if draw is None:
        raise ValueError(f"kind must be 'normal' or 'uniform', got {kind!r}")
    return draw(like.shape, generator, like.device, like.dtype)


def gaussian_noise(
    shape: Sequence[int],
    sigma: Sigma,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """I.i.d. Gaussian noise :math:`N(0, \\sigma^2)` of the given shape; ``sigma`` a level, a
    (B,) tensor of levels, or a ``(low, high)`` range (a uniform level per sample).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> gaussian_noise((2, 1, 4, 4), sigma=torch.tensor([0.0, 0.1]), generator=g)[0].abs().max()
        tensor(0.)
    """
    shape = _shape(shape)
    dtype = dtype or torch.get_default_dtype()
    sigma = _sigma_column(draw_levels(sigma, shape[0], generator), shape[0], len(shape), device,
                          dtype)
    return _randn(shape, generator, device, dtype) * sigma


def _ts_iterations(iterations: float | None, shift: float | None, d: int) -> float:
    if (iterations is None) == (shift is None):
        raise ValueError("give exactly one of iterations (T) and shift (target mean AEP shift)")
    if shift is not None:
        return ts_iterations_for(d, shift)
    return check_real(iterations, "iterations", minimum=0.0)


def ts_noise(
    shape: Sequence[int],
    sigma: Sigma,
    iterations: float | None = 10,
    method: str = "exact",
    shift: float | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    *,
    p: float = 1.0,
) -> torch.Tensor:
    """TS noise: per sample, the least likely of ``iterations + 1`` Gaussian draws.

    Args:
        shape: (B, ...); each sample is one vector of ``d = prod(shape[1:])`` values.
        sigma: noise level: a float, a (B,) tensor, or a ``(low, high)`` range (a uniform level
            per sample: blind TS training, DnCNN-B style).
        iterations: T of Algorithm 3.1, >= 0 (fractional T only with ``"exact"``).
            (Default: 10, see :class:`denoise_adv.transforms.TSNoise` for why.)
        method: ``"exact"`` (cost independent of T) or ``"screening"`` (the literal loop).
        shift: instead of ``iterations``, the target mean AEP deviation
            (:func:`denoise_adv.typical.ts_iterations_for` turns it into T); pass
            ``iterations=None`` with it.
        generator: RNG; ``None`` for the global one.
        device: output device (default: the generator's, else CPU).
        dtype: output dtype (default: ``torch.get_default_dtype()``).
        p: probability, per sample, that its noise is TS rather than plain Gaussian (TS-Def.
            1/2, TS-Pres. 1/3); noise is always added. (Default: 1.0)

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> n = ts_noise((256, 1600), sigma=1.0, iterations=10, generator=g)
        >>> round(float(((n.pow(2).mean(1) - 1) / 2).mean()), 2)  # E[e(n)] = 0.028
        0.03
    """
    shape = _shape(shape)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = check_real(p, "p", minimum=0.0, maximum=1.0)
    batch = shape[0]
    iterations = _ts_iterations(iterations, shift, math.prod(shape[1:]))
    if method == "screening":
        _check_screening(shape, iterations)
    dtype = dtype or torch.get_default_dtype()
    levels = _sigma_column(draw_levels(sigma, batch, generator), batch, len(shape), device,
                           dtype)
    if p == 1.0:
        return _unit_ts(shape, iterations, method, generator, device, dtype, levels)
    if p == 0.0:  # plain Gaussian, drawn exactly as gaussian_noise draws it
        return _randn(shape, generator, device, dtype) * levels
    is_ts = _rand((batch,), generator, None, torch.float64).cpu() < p
    unit = _randn(shape, generator, device, dtype)
    if bool(is_ts.any()):
        rows = is_ts.to(unit.device)
        unit[rows] = _unit_ts((int(is_ts.sum()), *shape[1:]), iterations, method, generator,
                              device, dtype).to(unit.device)
    return unit * levels


#: Tensor operations of one screening iteration (draw, square, sum, compare, two selects).
_SCREENING_CALLS = 6


def _check_screening(shape: tuple[int, ...], iterations: float) -> None:
    """Screening runs ``iterations`` loop passes over the batch: T must be whole, and the
    loop must fit the time bound (:func:`~denoise_adv._checks.check_budget`, an optimistic
    estimate), else T = 1e9 would hang; the exact sampler's cost does not grow with T."""
    if iterations != int(iterations):
        raise ValueError(f"iterations must be a whole number for method='screening', got "
                         f"{iterations}")
    numel = math.prod(shape)
    per_pass = _SCREENING_CALLS * SECONDS_PER_CALL + 3 * numel * SECONDS_PER_ELEMENT
    check_budget("iterations", f"screening with T = {iterations:g} passes over {numel:,} "
                 "values", seconds=iterations * per_pass,
                 advice="use method='exact' (the same distribution, at a cost independent of T)")


def _unit_ts(shape: tuple[int, ...], iterations: float, method: str, generator, device, dtype,
             levels: float | torch.Tensor = 1.0) -> torch.Tensor:
    """TS noise at level ``levels`` (a float or a (B, 1, ...) column; see :func:`ts_noise`),
    the level folded into the per-sample scale so the exact sampler makes one pass."""
    batch, d = shape[0], math.prod(shape[1:])
    if method == "screening":
        n = _randn(shape, generator, device, dtype)
        energy = n.flatten(1).pow(2).sum(1)
        for _ in range(int(iterations)):
            m = _randn(shape, generator, device, dtype)
            m_energy = m.flatten(1).pow(2).sum(1)
            lower_density = m_energy > energy  # log p(m) < log p(n): same sigma, larger norm
            n = torch.where(lower_density.view(batch, *([1] * (len(shape) - 1))), m, n)
            energy = torch.where(lower_density, m_energy, energy)
        return n * levels
    g = _randn(shape, generator, device, dtype)
    norm = torch.linalg.vector_norm(g.view(batch, -1), dim=1).cpu().numpy()
    gain = _ts_gain(norm, d, iterations, fast=dtype != torch.float64)
    return g.mul_(_column(gain * _levels_float64(levels, dtype), len(shape), g.device, dtype))


#: numpy's spelling of the torch dtypes it has (the others convert through torch).
_NUMPY_DTYPES = {torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16}


def _column(values: np.ndarray, ndim: int, device: torch.device, dtype: torch.dtype
            ) -> torch.Tensor:
    """Per-sample float64 values as a (B, 1, ..., 1) tensor (converted by numpy where it can:
    one torch call fewer on this hot path)."""
    values = values.reshape(-1, *([1] * (ndim - 1)))
    if dtype in _NUMPY_DTYPES:
        return torch.from_numpy(values.astype(_NUMPY_DTYPES[dtype])).to(device)
    return torch.from_numpy(values).to(device=device, dtype=dtype)


def _levels_float64(levels: float | torch.Tensor, dtype: torch.dtype) -> float | np.ndarray:
    """The level(s) rounded to the output dtype, then as float64: a float and a tensor of
    levels give the same bits (deepinv's noise model holds its level as a tensor)."""
    if isinstance(levels, torch.Tensor):
        return levels.to(dtype).double().cpu().numpy().reshape(-1)
    return _rounded(levels, dtype)


@functools.lru_cache(maxsize=64)
def _rounded(level: float, dtype: torch.dtype) -> float:
    return torch.tensor(level, dtype=dtype).item()


def _ts_gain_direct(norms: np.ndarray, d: int, iterations: float) -> np.ndarray:
    """:func:`ts_gain` from scipy's incomplete gamma function and its inverse."""
    a = d / 2.0
    x = np.square(norms.astype(np.float64)) / 2.0  # chi2_d / 2 ~ Gamma(d/2)
    with np.errstate(all="ignore"):
        upper = special.gammaincc(a, x)
        log_cdf = np.where(upper < 0.5, np.log1p(-upper), np.log(special.gammainc(a, x)))
        # The new radius through its upper tail q = 1 - F^(1/(T+1)): exact for large T.
        q = -np.expm1(log_cdf / (iterations + 1.0))
        gain = np.sqrt(special.gammainccinv(a, q) / x)
    # Where float64 runs out (a zero draw; one so far out that q underflows) n = g.
    return np.where(np.isfinite(gain), gain, 1.0)


#: The dimensions d where :func:`ts_gain` may read its table (TS patches from 32x32 to
#: 3x256x256 pixels: the range its tests check).
_TABLE_DIMS = (1000, 262144)

#: The table's norms, in standard deviations of the chi distribution (about 1/sqrt(2)) from
#: sqrt(d), and its size: fine enough for linear interpolation to reproduce the direct
#: evaluation (itself good to about 1e-8), no finer (it is read with the caches cold, just
#: after the noise is drawn: a larger table costs more misses).
_TABLE_SPAN, _TABLE_SIZE = (-8.0, 10.0), 4097


@functools.lru_cache(maxsize=32)
def _ts_gain_table(d: int, iterations: float) -> tuple[np.ndarray, np.ndarray]:
    """Norms and their gains for one (d, T), evaluated directly (a few ms, once)."""
    sd = math.sqrt(0.5)
    norms = np.linspace(math.sqrt(d) + _TABLE_SPAN[0] * sd, math.sqrt(d) + _TABLE_SPAN[1] * sd,
                        _TABLE_SIZE)
    return norms, _ts_gain_direct(norms, d, iterations)


def ts_gain(norms: np.ndarray, d: int, iterations: float, fast: bool = True) -> np.ndarray:
    r"""The factor :math:`k(r)` that turns a Gaussian draw :math:`g \sim N(0, I_d)` of norm
    :math:`r` into TS noise :math:`g\,k(r)` (``iterations`` = T, level 1): the
    :math:`\chi^2_d` quantile of :math:`F(r^2)^{1/(T+1)}` is :math:`(k(r)\, r)^2`. It is 1 at
    T = 0 (up to rounding) and at least 1 for every T (TS only ever stretches a draw).

    With ``fast`` and ``1000 <= d <= 262144``, it interpolates a table made once per (d, T):
    several times cheaper than the direct evaluation, which it still uses for norms beyond the
    table (more than 8 standard deviations below or 10 above the mean: never seen in practice).
    The two agree within 2e-8 relative (measured for d from 1000 to 262144 and T up to 4406),
    below float32 resolution; ``fast=False`` (float64 noise) always evaluates directly.

    Args:
        norms: the draws' Euclidean norms, any shape (float32 or float64).
        d: their dimension.
        iterations: T, >= 0.
        fast: whether the table may be used.

    Returns:
        The gains, float64, shaped like ``norms``.

    Example:
        >>> k = ts_gain(np.array([38.0, 40.0, 42.0]), d=1600, iterations=10)
        >>> bool((k > 1).all() and (np.diff(k * [38.0, 40.0, 42.0]) > 0).all())
        True
    """
    d = check_int(d, "d", minimum=1)
    iterations = check_real(iterations, "iterations", minimum=0.0)
    return _ts_gain(np.asarray(norms), d, iterations, bool(fast))


def _ts_gain(norms: np.ndarray, d: int, iterations: float, fast: bool) -> np.ndarray:
    """:func:`ts_gain` of checked arguments (the exact sampler's own call)."""
    if not (fast and _TABLE_DIMS[0] <= d <= _TABLE_DIMS[1]):
        return _ts_gain_direct(norms, d, iterations)
    grid, gains = _ts_gain_table(d, float(iterations))
    gain = np.interp(norms, grid, gains, left=np.nan, right=np.nan)
    if math.isnan(gain.sum()):  # a norm beyond the table (or not a number): evaluated directly
        far = np.isnan(gain)
        gain[far] = _ts_gain_direct(norms[far], d, iterations)
    return gain


def mixing_levels(sigmas: Sequence[float], weights: Sequence[float] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked noise levels and their normalised probabilities (float64), for
    :func:`mixed_noise` and :class:`~denoise_adv.transforms.MixedNoise`.

    Example:
        >>> mixing_levels((0.1, 0.2), (1, 3))[1]
        tensor([0.2500, 0.7500], dtype=torch.float64)
    """
    levels = torch.tensor([check_real(s, f"sigmas[{i}]", minimum=0.0)
                           for i, s in enumerate(sigmas)], dtype=torch.float64)
    if levels.numel() == 0:
        raise ValueError("sigmas must not be empty")
    if weights is None:
        return levels, torch.full((levels.numel(),), 1.0 / levels.numel(), dtype=torch.float64)
    if len(weights) != levels.numel():
        raise ValueError(f"weights must have one entry per sigma ({levels.numel()}), got "
                         f"{len(weights)}")
    probs = torch.tensor([check_real(w, f"weights[{i}]", minimum=0.0)
                          for i, w in enumerate(weights)], dtype=torch.float64)
    if probs.sum() <= 0:
        raise ValueError("weights must not all be zero")
    return levels, probs / probs.sum()


def mixed_noise(
    shape: Sequence[int],
    sigmas: Sequence[float] = (25 / 255, 26 / 255),
    weights: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Gaussian noise whose level is drawn per sample from ``sigmas`` (paper section 4.3).

    Args:
        shape: (B, ...).
        sigmas: candidate levels. (Default: 25/255 and 26/255, the "mixed-26" strategy)
        weights: their probabilities (normalised); ``None`` for equal weights (the 1:1 ratio is
            our reconstruction: the paper's is not in our copy).
        generator, device, dtype: as in :func:`gaussian_noise`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mixed_noise((4, 1, 8, 8), sigmas=(0.1, 0.2), generator=g).shape
        torch.Size([4, 1, 8, 8])
    """
    shape = _shape(shape)
    levels, probs = mixing_levels(sigmas, weights)
    u = _rand((shape[0],), generator, None, torch.float64).cpu()
    index = torch.searchsorted(probs.cumsum(0), u, right=True).clamp_max(levels.numel() - 1)
    dtype = dtype or torch.get_default_dtype()
    return gaussian_noise(shape, levels[index].to(dtype), generator, device, dtype)
