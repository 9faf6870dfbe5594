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

The noise *specification* has one owner, :class:`NoiseSpec` (a frozen value: the level and its
shape rule, the method, T and p, the TS-Def./TS-Pres. presets and their one check); the
torchvision transforms, deepinv's noise models, ART's preprocessor and the training strategies
wrap it. The defaults are written once, here: :data:`DEFAULT_SIGMA` (25/255),
:data:`DEFAULT_TS_ITERATIONS` (T = 10), :data:`TS_DEF_P` and :data:`TS_PRES_P`, the mixed
presets :data:`MIXED_PRESETS` (:func:`mixed_sigmas`) and levels :data:`DEFAULT_MIXED_SIGMAS`,
and :data:`LEVEL` (255 levels per unit: the command line's ``--sigma 25`` is ``25 / LEVEL``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

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

__all__ = ["DEFAULT_MIXED_SIGMAS", "DEFAULT_SIGMA", "DEFAULT_TS_ITERATIONS", "LEVEL", "METHODS",
           "MIXED_PRESETS", "NoiseSpec", "PRESETS", "Sigma", "TS_DEF_P", "TS_PRES_P", "check_ts",
           "draw_levels", "gaussian_noise", "level_column", "mixed_noise", "mixed_sigmas",
           "mixing_levels", "random_like", "ts_gain", "ts_noise"]

#: TS samplers: ``"exact"`` (cost independent of T) and ``"screening"`` (the literal loop).
METHODS = ("exact", "screening")

#: Levels per unit on 8-bit images: the command line's ``--sigma 25`` is ``25 / LEVEL``.
LEVEL = 255.0
#: The paper's noise level, sigma 25 on 8-bit images: the default everywhere.
DEFAULT_SIGMA = 25 / LEVEL
#: T of Algorithm 3.1 by default. The paper's T is not in our copy. On 40x40 training patches
#: (d = 1600) T = 10 raises the mean AEP deviation to 0.028 (effective sigma 25.7 for 25),
#: between the paper's mixed-noise strategies (25.5: 0.020; 26: 0.041), at the cost of sampling
#: once; :func:`denoise_adv.typical.ts_iterations_for` picks T for an attack budget instead.
DEFAULT_TS_ITERATIONS = 10
#: TS-Def. (paper section 4.2): Gaussian:TS = 1:1, the probability of TS noise per sample.
TS_DEF_P = 1 / 2
#: TS-Pres.: Gaussian:TS = 2:1.
TS_PRES_P = 1 / 3
#: The presets by strategy name: ``p`` of each.
PRESETS = {"ts-def": TS_DEF_P, "ts-pres": TS_PRES_P}
#: Mixed-noise sampling (section 4.3), the presets by strategy name: the second level of each,
#: as an offset above sigma in 8-bit levels (``"mixed-25.5"``: 25 mixed with 25.5 at the paper's
#: sigma; the 1:1 ratio is our reconstruction). :func:`mixed_sigmas` gives their levels.
MIXED_PRESETS = {"mixed-25.5": 0.5, "mixed-26": 1.0}
#: Mixed-noise sampling by default: 25 mixed 1:1 with 26 (``mixed_sigmas("mixed-26")``).
DEFAULT_MIXED_SIGMAS = (25 / LEVEL, 26 / LEVEL)


def from_levels(value: float) -> float:
    """A noise level or budget in 8-bit levels as the API's [0, 1] units (``25 -> 25/255``):
    the one conversion (the command line and the protocols speak in levels).

    Example:
        >>> from_levels(25) == 25 / 255
        True
    """
    return value / LEVEL


def mixed_sigmas(name: str, sigma: float = DEFAULT_SIGMA) -> tuple[float, float]:
    """The two levels, [0, 1] units, of the mixed-noise preset ``name`` of
    :data:`MIXED_PRESETS` at ``sigma``: ``(sigma, sigma + offset / LEVEL)``.

    Raises:
        ValueError: a name that is not a preset.

    Example:
        >>> [round(level * LEVEL, 6) for level in mixed_sigmas("mixed-25.5")]
        [25.0, 25.5]
        >>> mixed_sigmas("mixed-26") == DEFAULT_MIXED_SIGMAS
        True
    """
    if name not in MIXED_PRESETS:
        raise ValueError(f"name must be one of {sorted(MIXED_PRESETS)}, got {name!r}")
    return sigma, sigma + MIXED_PRESETS[name] / LEVEL


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


def level_column(sigma: float | torch.Tensor, batch: int, ndim: int,
                 device: str | torch.device | None = None, dtype: torch.dtype | None = None
                 ) -> float | torch.Tensor:
    """The shape rule of a noise level, written once: how a level meets a batch of ``batch``
    samples of ``ndim`` dimensions. A number stays a number (it broadcasts); a tensor holding one
    level, or one level per sample (shape (B,) or deepinv's (B, 1, ..., 1)), becomes a
    (B, 1, ..., 1) column on ``device`` in ``dtype``. Values are checked by
    :func:`~denoise_adv._checks.check_sigma`, not here (this runs on every draw).

    Raises:
        ValueError: a tensor with neither one level nor one per sample.

    Example:
        >>> level_column(torch.tensor([0.1, 0.2]), 2, 4).shape
        torch.Size([2, 1, 1, 1])
        >>> level_column(0.1, 2, 4)
        0.1
    """
    if not isinstance(sigma, torch.Tensor):
        return sigma
    if sigma.numel() == 1:
        sigma = sigma.reshape(1).expand(batch)
    elif sigma.dim() >= 1 and sigma.shape[0] == batch and all(s == 1 for s in sigma.shape[1:]):
        sigma = sigma.reshape(batch)
    else:
        raise ValueError(f"sigma must be a float or a tensor of shape ({batch},) or ({batch}, "
                         f"1, ..., 1): one level per sample ({batch}), one value per image; got "
                         f"shape {tuple(sigma.shape)}")
    return sigma.to(device=device, dtype=dtype).view(batch, *([1] * (ndim - 1)))


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
    sigma = level_column(draw_levels(sigma, shape[0], generator), shape[0], len(shape), device,
                         dtype)
    return _randn(shape, generator, device, dtype) * sigma


def _ts_iterations(iterations: float | None, shift: float | None, d: int) -> float:
    if (iterations is None) == (shift is None):
        raise ValueError("give exactly one of iterations (T) and shift (target mean AEP shift)")
    if shift is not None:
        return ts_iterations_for(d, shift)
    return iterations


def check_ts(iterations: object, p: object, method: object) -> tuple[float, float, str]:
    """The one check of TS parameters: ``iterations`` (T) a real >= 0, whole for
    ``"screening"``; ``p`` in [0, 1]; ``method`` one of :data:`METHODS`. Returns them checked.

    Example:
        >>> check_ts(10, 0.5, "exact")
        (10.0, 0.5, 'exact')
        >>> check_ts(2.5, 1.0, "screening")
        Traceback (most recent call last):
        ...
        ValueError: iterations must be a whole number for method='screening', got 2.5
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = check_real(p, "p", minimum=0.0, maximum=1.0)
    iterations = check_real(iterations, "iterations", minimum=0.0)
    if method == "screening" and iterations != int(iterations):
        raise ValueError(f"iterations must be a whole number for method='screening', got "
                         f"{iterations}")
    return iterations, p, method


def ts_noise(
    shape: Sequence[int],
    sigma: Sigma,
    iterations: float | None = DEFAULT_TS_ITERATIONS,
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
            (Default: :data:`DEFAULT_TS_ITERATIONS`, 10: see there for why.)
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
    batch = shape[0]
    iterations, p, method = check_ts(_ts_iterations(iterations, shift, math.prod(shape[1:])), p,
                                     method)
    if method == "screening":
        _check_screening(shape, iterations)
    dtype = dtype or torch.get_default_dtype()
    levels = level_column(draw_levels(sigma, batch, generator), batch, len(shape), device,
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
    """Screening runs ``iterations`` (whole, by :func:`check_ts`) loop passes over the batch:
    the loop must fit the time bound (:func:`~denoise_adv._checks.check_budget`, an optimistic
    estimate), else T = 1e9 would hang; the exact sampler's cost does not grow with T."""
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
    sigmas: Sequence[float] = DEFAULT_MIXED_SIGMAS,
    weights: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Gaussian noise whose level is drawn per sample from ``sigmas`` (paper section 4.3).

    Args:
        shape: (B, ...).
        sigmas: candidate levels. (Default: :data:`DEFAULT_MIXED_SIGMAS`, 25/255 and 26/255,
            the "mixed-26" strategy)
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


@dataclasses.dataclass(frozen=True)
class NoiseSpec:
    """What noise to add, as one frozen value: the owner of the level, its shape rule, the TS
    parameters, the presets and their one check. Every noise wrapper (torchvision's
    :class:`~denoise_adv.transforms.TSNoise`, deepinv's
    :class:`~denoise_adv.integrations.deepinv.TSNoiseModel`, ART's
    :class:`~denoise_adv.integrations.art.TSAugmentation`, the training strategies) holds its
    parameters in its library's own form and derives a spec from them when it draws, so a
    changed parameter is always the one drawn with.

    Per sample, the noise is TS (the least likely of ``iterations + 1`` Gaussian draws) with
    probability ``p`` and plain Gaussian otherwise; noise is always added. ``p = 0`` draws
    exactly :func:`gaussian_noise`, ``p = 1`` exactly :func:`ts_noise`.

    Args:
        sigma: the level, [0, 1] units: a number, a ``(low, high)`` range (a level per sample,
            uniform in it: blind training) or a tensor of per-sample levels (shape rule:
            :func:`level_column`). (Default: :data:`DEFAULT_SIGMA`, 25/255)
        iterations: T of Algorithm 3.1, >= 0; whole for ``"screening"``.
            (Default: :data:`DEFAULT_TS_ITERATIONS`, 10)
        p: probability, per sample, of TS rather than Gaussian noise. (Default: 1.0)
        method: ``"exact"`` or ``"screening"`` (:data:`METHODS`). (Default: ``"exact"``)

    Raises:
        ValueError, TypeError: a bad field, named (:func:`check_sigma`, :func:`check_ts`).

    Example:
        >>> spec = NoiseSpec.ts_def(0.1)
        >>> spec.p, spec.iterations
        (0.5, 10.0)
        >>> spec.replace(sigma=0.2).sigma
        0.2
        >>> spec.sample((2, 1, 4, 4), torch.Generator().manual_seed(0)).shape
        torch.Size([2, 1, 4, 4])
    """

    sigma: Sigma = DEFAULT_SIGMA
    iterations: float = DEFAULT_TS_ITERATIONS
    p: float = 1.0
    method: str = "exact"

    def __post_init__(self) -> None:
        iterations, p, method = check_ts(self.iterations, self.p, self.method)
        object.__setattr__(self, "sigma", check_sigma(self.sigma))
        object.__setattr__(self, "iterations", iterations)
        object.__setattr__(self, "p", p)

    @classmethod
    def gaussian(cls, sigma: Sigma = DEFAULT_SIGMA) -> NoiseSpec:
        """Plain Gaussian noise (``p = 0``)."""
        return cls(sigma, p=0.0)

    @classmethod
    def preset(cls, name: str, sigma: Sigma = DEFAULT_SIGMA, **fields: Any) -> NoiseSpec:
        """A named preset of :data:`PRESETS` (``"ts-def"``, ``"ts-pres"``) at ``sigma``."""
        if name not in PRESETS:
            raise ValueError(f"name must be one of {sorted(PRESETS)}, got {name!r}")
        return cls(sigma, p=PRESETS[name], **fields)

    @classmethod
    def ts_def(cls, sigma: Sigma = DEFAULT_SIGMA, **fields: Any) -> NoiseSpec:
        """TS-Def. (paper section 4.2): Gaussian:TS = 1:1, ``p`` = :data:`TS_DEF_P`."""
        return cls.preset("ts-def", sigma, **fields)

    @classmethod
    def ts_pres(cls, sigma: Sigma = DEFAULT_SIGMA, **fields: Any) -> NoiseSpec:
        """TS-Pres. (paper section 4.2): Gaussian:TS = 2:1, ``p`` = :data:`TS_PRES_P`."""
        return cls.preset("ts-pres", sigma, **fields)

    def replace(self, **changes: Any) -> NoiseSpec:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    def sample(self, shape: Sequence[int], generator: torch.Generator | None = None,
               device: str | torch.device | None = None, dtype: torch.dtype | None = None
               ) -> torch.Tensor:
        """Noise of ``shape`` (B, ...) by this spec (:func:`gaussian_noise` when ``p = 0``,
        else :func:`ts_noise`, which draws plain Gaussian rows with probability ``1 - p``)."""
        if self.p == 0.0:
            return gaussian_noise(shape, self.sigma, generator, device, dtype)
        return ts_noise(shape, self.sigma, self.iterations, self.method, generator=generator,
                        device=device, dtype=dtype, p=self.p)
