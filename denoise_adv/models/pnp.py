"""Plug-and-play denoising: half-quadratic splitting around a denoiser prior (DPIR)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_int, check_module, check_real
from .adapters import as_prior
from .contract import fixed_level, takes_sigma

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

    Args:
        prior: the denoiser prior, called ``prior(x, sigma_k)``. Models of this package are
            adapted by :func:`~denoise_adv.models.as_prior` (fixed-level ones ignore
            ``sigma_k``); a foreign model must take ``(x, sigma)`` as deepinv's denoisers do
            (wrap a foreign fixed-level denoiser in ``as_prior``).
        sigma: noise level of the input, [0, 1] units, > 0.
        iterations: HQS iterations K. (Default: 8)
        sigma_max: first prior noise level. (Default: 49/255)
        lam: regularisation weight lambda. (Default: 0.23)

    Shape:
        - noisy: :math:`(B, C, H, W)`.
        - output: :math:`(B, C, H, W)`.

    Example:
        >>> from denoise_adv.models import UNetRes
        >>> pnp = PnPDenoiser(UNetRes(features=(4, 4, 4, 4), blocks=1), sigma=25 / 255,
        ...                   iterations=3)
        >>> pnp(torch.rand(1, 1, 16, 16)).shape
        torch.Size([1, 1, 16, 16])
    """

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

    def sigmas(self) -> list[float]:
        """The prior's noise levels, geometric from ``max(sigma_max, sigma)`` to ``sigma``."""
        start = max(self.sigma_max, self.sigma)
        if self.iterations == 1:
            return [self.sigma]
        ratio = math.log(self.sigma / start) / (self.iterations - 1)
        return [start * math.exp(ratio * k) for k in range(self.iterations)]

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        z = noisy
        for sigma_k in self.sigmas():
            rho = self.lam * self.sigma**2 / sigma_k**2
            x = (noisy + rho * z) / (1 + rho)
            z = self.prior(x, sigma_k)
        return z
