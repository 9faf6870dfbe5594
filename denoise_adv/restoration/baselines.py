"""Classical restoration baselines, one per task, called ``baseline(y, physics)`` as deepinv's
reconstructors are: the answer to "is the network more fragile than the classical method", as
BM3D gives one for denoising. All three are differentiable (FFTs, interpolation, convolutions),
so white-box attacks run on them too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_real

__all__ = ["BicubicUpsampling", "MaskedAverageInpainting", "WienerDeconvolution"]


def _gradient_spectrum(height: int, width: int, device: torch.device, dtype: torch.dtype
                       ) -> torch.Tensor:
    """``|D_h|^2 + |D_w|^2`` of the circular forward differences on an ``height x width``
    grid (the Fourier symbol of the discrete Laplacian's negative)."""
    fy = torch.fft.fftfreq(height, device=device, dtype=dtype).view(-1, 1)
    fx = torch.fft.fftfreq(width, device=device, dtype=dtype).view(1, -1)
    return (2 - 2 * torch.cos(2 * math.pi * fy)) + (2 - 2 * torch.cos(2 * math.pi * fx))


class WienerDeconvolution(nn.Module):
    r"""Wiener (Tikhonov) deconvolution with a smoothness prior, for a shift-invariant blur with
    circular boundaries (deepinv's ``BlurFFT``):

    .. math:: \hat x = \mathcal{F}^{-1}\left[\frac{\overline{H}\, Y}{|H|^2 + \lambda |D|^2}
              \right],

    :math:`H` the blur's transfer function (the FFT of its response to an impulse at the
    origin, so any circular shift-invariant physics works), :math:`|D|^2` that of the discrete
    gradient; the zero frequency is restored exactly (:math:`D = 0` there, :math:`H = 1` for
    a normalised kernel).

    Args:
        lam: regularisation weight :math:`\lambda` > 0. The default, 1e-2, was the best of
            2e-3 to 5e-2 on 64x64 crops of ``builtin:test`` at noise 0.01 (both kernels of
            :mod:`~denoise_adv.restoration.tasks`).

    Example:
        >>> import deepinv as dinv
        >>> from deepinv.physics.functional import gaussian_blur
        >>> physics = dinv.physics.BlurFFT(img_size=(1, 32, 32), filter=gaussian_blur(sigma=1.0))
        >>> x = torch.rand(1, 1, 32, 32)
        >>> x_hat = WienerDeconvolution(lam=1e-6)(physics.A(x), physics)
        >>> bool((x_hat - x).abs().max() < 0.05)
        True
    """

    def __init__(self, lam: float = 1e-2) -> None:
        super().__init__()
        self.lam = check_real(lam, "lam", minimum=0.0, strict=True)

    def forward(self, y: torch.Tensor, physics: nn.Module) -> torch.Tensor:
        height, width = y.shape[-2:]
        impulse = torch.zeros(1, y.shape[1], height, width, device=y.device, dtype=y.dtype)
        impulse[..., 0, 0] = 1
        with torch.no_grad():
            transfer = torch.fft.fft2(physics.A(impulse))
        penalty = self.lam * _gradient_spectrum(height, width, y.device, y.dtype)
        spectrum = transfer.conj() * torch.fft.fft2(y) / (transfer.abs().pow(2) + penalty)
        return torch.fft.ifft2(spectrum).real

    def extra_repr(self) -> str:
        return f"lam={self.lam:g}"


class BicubicUpsampling(nn.Module):
    """Bicubic interpolation by the physics' ``factor`` (deepinv's ``Downsampling``): the
    classical super-resolution baseline.

    Example:
        >>> import deepinv as dinv
        >>> physics = dinv.physics.Downsampling(img_size=(1, 16, 16), factor=4,
        ...                                     filter="bicubic")
        >>> BicubicUpsampling()(torch.rand(2, 1, 4, 4), physics).shape
        torch.Size([2, 1, 16, 16])
    """

    def forward(self, y: torch.Tensor, physics: nn.Module) -> torch.Tensor:
        factor = getattr(physics, "factor", None)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
            raise TypeError(f"physics must have a positive numeric factor (deepinv's "
                            f"Downsampling), got {type(physics).__name__}")
        return F.interpolate(y, scale_factor=factor, mode="bicubic", align_corners=False)


class MaskedAverageInpainting(nn.Module):
    r"""Inpainting by normalised convolution (Knutsson and Westin 1993): each missing pixel
    becomes the Gaussian-weighted mean of the observed pixels around it,

    .. math:: \hat x = m \odot y + (1 - m) \odot \frac{G * (m \odot y)}{G * m},

    :math:`m` the physics' mask (deepinv's ``Inpainting``), :math:`G` a Gaussian of standard
    deviation ``sigma`` pixels; observed pixels are kept.

    Args:
        sigma: the Gaussian's standard deviation in pixels, > 0. The default, 1.0, was the
            best of 0.7 to 2 on 64x64 crops of ``builtin:test`` with half the pixels kept.

    Example:
        >>> import deepinv as dinv
        >>> mask = torch.ones(1, 1, 8, 8)
        >>> mask[..., 3, 4] = 0
        >>> physics = dinv.physics.Inpainting(img_size=(1, 8, 8), mask=mask)
        >>> x_hat = MaskedAverageInpainting()(physics.A(torch.full((1, 1, 8, 8), 0.5)), physics)
        >>> round(float(x_hat[0, 0, 3, 4]), 4)
        0.5
    """

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        self.sigma = check_real(sigma, "sigma", minimum=0.0, strict=True)
        radius = max(1, math.ceil(3 * self.sigma))
        taps = torch.exp(-torch.arange(-radius, radius + 1.0).pow(2) / (2 * self.sigma ** 2))
        self.register_buffer("taps", taps / taps.sum(), persistent=False)

    def _smooth(self, x: torch.Tensor) -> torch.Tensor:
        channels, size = x.shape[1], self.taps.numel()
        taps = self.taps.to(x.dtype)
        rows = taps.view(1, 1, 1, size).expand(channels, 1, 1, size)
        cols = taps.view(1, 1, size, 1).expand(channels, 1, size, 1)
        x = F.conv2d(F.pad(x, (size // 2, size // 2, 0, 0), mode="reflect"), rows,
                     groups=channels)
        return F.conv2d(F.pad(x, (0, 0, size // 2, size // 2), mode="reflect"), cols,
                        groups=channels)

    def forward(self, y: torch.Tensor, physics: nn.Module) -> torch.Tensor:
        mask = getattr(physics, "mask", None)
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"physics must have a mask tensor (deepinv's Inpainting), got "
                            f"{type(physics).__name__}")
        mask = mask.to(y).expand_as(y)
        filled = self._smooth(mask * y) / self._smooth(mask).clamp(min=1e-6)
        return mask * y + (1 - mask) * filled

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}"
