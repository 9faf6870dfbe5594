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
the same distribution at a cost independent of T: :math:`g \sim N(0, I_d)`,
:math:`u \sim U(0, 1)`, :math:`r^2 = F^{-1}_{\chi^2_d}(u^{1/(T+1)})`,
:math:`n = \sigma r\, g/\|g\|` (the upper-tail form of the inverse CDF keeps large T accurate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import special

from ._checks import Sigma, check_real, check_sigma
from .typical import ts_iterations_for

__all__ = ["Sigma", "draw_levels", "gaussian_noise", "mixed_noise", "mixing_levels",
           "random_like", "ts_noise"]

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
    if method == "screening" and iterations != int(iterations):
        raise ValueError(f"iterations must be a whole number for method='screening', got "
                         f"{iterations}")
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
    u = _rand((batch,), generator, None, torch.float64).numpy()
    u = np.maximum(u, np.finfo(np.float64).tiny)  # open interval: log(0) is -inf
    # r^2 = F^-1(u^(1/(T+1))) through the upper tail q = 1 - u^(1/(T+1)), exact for large T.
    q = -np.expm1(np.log(u) / (iterations + 1.0))
    radius = np.sqrt(chi2_isf(q, d, fast=dtype != torch.float64))
    norm = torch.linalg.vector_norm(g.view(batch, -1), dim=1).double().cpu().numpy()
    scale = torch.from_numpy(radius / np.maximum(norm, np.finfo(np.float64).tiny))
    scale = scale.to(device=g.device, dtype=dtype).view(batch, *([1] * (len(shape) - 1)))
    # The level multiplies in the output's dtype, as a float or as per-sample tensor alike, so
    # that both give the same bits (deepinv's noise model holds its level as a tensor).
    return g.mul_(scale * levels if isinstance(levels, torch.Tensor) or levels != 1.0 else scale)


#: The shape parameters (d/2) where :func:`chi2_isf` may take its fast path.
_FAST_SHAPES = (500.0, 8192.0)


def chi2_isf(q: np.ndarray, d: int, fast: bool = True) -> np.ndarray:
    """The chi-square quantile of upper tail ``q`` with ``d`` degrees of freedom: ``x`` with
    ``P(chi2_d > x) = q`` (float64, elementwise), as ``2 * scipy.special.gammainccinv(d/2, q)``.

    With ``fast`` and ``1000 <= d <= 16384`` (TS patches from 32x32 to 128x128 pixels), it
    starts from the Wilson-Hilferty approximation (relative error ~1e-5) and takes one Halley
    step on the regularised upper incomplete gamma function, half the cost of scipy's inverse;
    entries whose step is not small (a poor start, far in a tail) still use scipy's. The result
    differs from scipy's by less than 1e-10 relative (measured for q in [1e-300, 1 - 1e-6]),
    far below float32 resolution; ``fast=False`` (float64 noise) always uses scipy's inverse.

    Example:
        >>> q = np.array([0.9, 0.5, 1e-6])
        >>> bool(np.allclose(chi2_isf(q, 1600), 2 * special.gammainccinv(800, q), rtol=1e-12))
        True
    """
    a = d / 2.0
    if not (fast and _FAST_SHAPES[0] <= a <= _FAST_SHAPES[1]):
        return 2.0 * special.gammainccinv(a, q)
    h = 1.0 / (9.0 * a)
    x = a * (1.0 - h - special.ndtri(q) * np.sqrt(h)) ** 3  # ndtri(q) = -z of the upper tail
    with np.errstate(all="ignore"):
        f = special.gammaincc(a, x) - q
        density = np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a))
        newton = f / density  # Q(x) falls with x: Q'(x) = -density
        x = x + newton / (1.0 + 0.5 * newton * ((a - 1.0) / x - 1.0))  # Halley's correction
    poor = ~(np.abs(newton) <= 1e-5 * x)  # also catches nan and inf
    if poor.any():
        x[poor] = special.gammainccinv(a, q[poor])
    return 2.0 * x


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
