"""Plug-and-play denoising: half-quadratic splitting around a denoiser prior (DPIR)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_int, check_module, check_real, check_sigma
from ..noise import level_column
from .adapters import as_prior
from .contract import channels_of, fixed_level, takes_sigma

__all__ = ["PnPDenoiser"]


class PnPDenoiser(nn.Module):
    r"""DPIR-style plug-and-play denoiser, after 'Plug-and-Play Image Restoration with Deep
    Denoiser Prior' (Zhang et al., IEEE TPAMI 2021) [https://arxiv.org/abs/2008.13751].

    Half-quadratic splitting of :math:`\frac{1}{2\sigma^2}\|y - x\|^2 + \lambda R(x)` with the
    identity degradation, the prior step played by a denoiser at a decreasing noise level
    :math:`\sigma_k` (geometric from ``sigma_max`` to ``sigma``):

    .. math:: x_k = \frac{y + \rho_k z_{k-1}}{1 + \rho_k}, \quad
              \rho_k = \lambda \sigma^2 / \sigma_k^2, \quad z_k = D(x_k, \sigma_k),

    from :math:`z_0 = y`; returns :math:`z_K`. DPIR's defaults: 8 iterations,
    ``sigma_max = 49/255``, ``lam = 0.23``.

    The wrapper takes a noise level (``takes_sigma = True``, the denoiser contract of
    :mod:`~denoise_adv.models.contract`): ``pnp(noisy, s)`` runs the splitting for an input of
    noise level ``s`` (DPIR's :math:`\sigma`: the data weight and the schedule's last level),
    ``pnp(noisy)`` for ``sigma``, its default. So ``as_deepinv_denoiser(pnp)(x, s)`` and
    ``as_denoiser(pnp, sigma=s)`` follow the level they are given, as deepinv's denoisers do.

    Args:
        prior: the denoiser prior, called ``prior(x, sigma_k)``. Models of this package are
            adapted by :func:`~denoise_adv.models.as_prior` (fixed-level ones ignore
            ``sigma_k`` and warn once); a foreign model must take ``(x, sigma)`` as deepinv's
            denoisers do (wrap a foreign fixed-level denoiser in ``as_prior``).
        sigma: default noise level of the input, [0, 1] units, > 0.
        iterations: HQS iterations K. (Default: 8)
        sigma_max: first prior noise level. (Default: 49/255)
        lam: regularisation weight lambda. (Default: 0.23)

    Shape:
        - noisy: :math:`(B, C, H, W)`; sigma: a number, or one level per sample ((B,) or
          (B, 1, 1, 1)), each > 0.
        - output: :math:`(B, C, H, W)`.

    Example:
        >>> from denoise_adv.models import UNetRes
        >>> pnp = PnPDenoiser(UNetRes(features=(4, 4, 4, 4), blocks=1), sigma=25 / 255,
        ...                   iterations=3)
        >>> y = torch.rand(1, 1, 16, 16)
        >>> pnp(y).shape
        torch.Size([1, 1, 16, 16])
        >>> torch.equal(pnp(y), pnp(y, 25 / 255)), torch.equal(pnp(y), pnp(y, 10 / 255))
        (True, False)
    """

    #: forward takes (noisy, sigma): the input's noise level, DPIR's sigma.
    takes_sigma = True

    def __init__(self, prior: nn.Module, sigma: float, iterations: int = 8,
                 sigma_max: float = 49 / 255, lam: float = 0.23) -> None:
        super().__init__()
        check_module(prior, "prior")
        # one of ours (it declares its level contract) becomes prior(x, sigma); a foreign
        # prior is taken to have that signature already
        self.prior = as_prior(prior) if takes_sigma(prior) or fixed_level(prior) else prior
        self.sigma = check_real(sigma, "sigma", minimum=0.0, strict=True)
        self.iterations = check_int(iterations, "iterations", minimum=1)
        self.sigma_max = check_real(sigma_max, "sigma_max", minimum=0.0, strict=True)
        self.lam = check_real(lam, "lam", minimum=0.0)
        channels = channels_of(prior)
        if channels is not None:
            self.channels = channels

    def sigmas(self, sigma: float | torch.Tensor | None = None) -> list[float | torch.Tensor]:
        """The prior's noise levels, geometric from ``max(sigma_max, sigma)`` to ``sigma``
        (``None``: the default ``sigma``). A per-sample (B, 1, 1, 1) tensor gives a schedule
        per sample: a list of such tensors.

        Example:
            >>> pnp = PnPDenoiser(torch.nn.Identity(), sigma=0.1, iterations=3, sigma_max=0.4)
            >>> [round(s, 3) for s in pnp.sigmas()]
            [0.4, 0.2, 0.1]
        """
        sigma = self.sigma if sigma is None else sigma
        if self.iterations == 1:
            return [sigma]
        if isinstance(sigma, torch.Tensor):
            start = sigma.clamp(min=self.sigma_max)
            return [start * (sigma / start) ** (k / (self.iterations - 1))
                    for k in range(self.iterations)]
        start = max(self.sigma_max, sigma)
        ratio = math.log(sigma / start) / (self.iterations - 1)
        return [start * math.exp(ratio * k) for k in range(self.iterations)]

    def _level(self, noisy: torch.Tensor, sigma: float | torch.Tensor | None
               ) -> float | torch.Tensor:
        """The input's level: ``sigma`` checked (> 0), a one-level tensor as a float, per-sample
        levels as a (B, 1, ..., 1) column on ``noisy``'s device; ``None``: the default."""
        if sigma is None:
            return self.sigma
        if not isinstance(sigma, torch.Tensor):
            return check_real(sigma, "sigma", minimum=0.0, strict=True)
        sigma = check_sigma(sigma.detach())
        if bool((sigma <= 0).any()):
            raise ValueError("sigma must be > 0 (the data term divides by it)")
        if sigma.numel() == 1:
            return float(sigma.item())
        return level_column(sigma, noisy.shape[0], noisy.dim(), noisy.device, noisy.dtype)

    def forward(self, noisy: torch.Tensor, sigma: float | torch.Tensor | None = None
                ) -> torch.Tensor:
        level = self._level(noisy, sigma)
        z = noisy
        for sigma_k in self.sigmas(level):
            rho = self.lam * level**2 / sigma_k**2
            x = (noisy + rho * z) / (1 + rho)
            z = self.prior(x, sigma_k)
        return z

    def extra_repr(self) -> str:
        return (f"sigma={self.sigma}, iterations={self.iterations}, sigma_max={self.sigma_max}, "
                f"lam={self.lam}")
