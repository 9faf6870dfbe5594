"""Image quality metrics, computed per image.

Conventions (docs/usage.rst, "Metrics"): images in [0, 1]; PSNR uses a peak of ``data_range``
(1.0 here is the same as 255 on 8-bit images); MAE is reported on the 8-bit scale, as in the
paper's tables; SSIM is Wang et al. (2004) with an 11x11 Gaussian window of sigma 1.5 and
population (not sample) covariances, averaged over the channels and over the pixels whose
window lies inside the image -- the choices of ``skimage.metrics.structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)``, which it
matches (and ``piq.ssim(..., downsample=False)``). Implementations differ on these choices
(MATLAB's ``ssim`` and torchmetrics keep the border; piq average-pools images by
``round(min(H, W) / 256)`` by default), so compare numbers across papers with care. Images
smaller than the 11x11 window need an explicit smaller odd ``win_size``, as in scikit-image.

PSNR of an exact match is ``inf`` (scikit-image, torchmetrics); deepinv reports 80 dB (it adds
1e-8 to the normalised MSE). ``psnr(..., max_db=80)`` caps the value when a finite one is needed.

The functions are pure: they do not clamp. Clamp a denoiser's output to [0, 1] before scoring
it (``model(noisy).clamp(0, 1)``), as the command line does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_image_batch, check_int, check_real, check_same_shape

__all__ = ["SSIM_WINDOW", "mae", "mse", "psnr", "ssim"]

#: Side of SSIM's default window: a Gaussian of sigma 1.5 truncated at 3.5 sigma, 11 pixels.
#: SSIM averages over the pixels whose whole window lies inside the image, so smaller images
#: have none: :func:`ssim` refuses them (:class:`ValueError`) unless given a smaller
#: ``win_size``, and the command line refuses them before scoring.
SSIM_WINDOW = 2 * int(3.5 * 1.5 + 0.5) + 1


def _pair(preds: torch.Tensor, target: torch.Tensor) -> None:
    check_image_batch(preds, "preds")
    check_image_batch(target, "target")
    check_same_shape(target, preds, "target", "preds")


def mse(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each image.

    Args:
        preds: estimates, shape (B, C, H, W).
        target: references, same shape.

    Returns:
        Tensor of shape (B,).

    Example:
        >>> mse(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5))
        tensor([0.2500, 0.2500])
    """
    _pair(preds, target)
    return (preds - target).pow(2).flatten(1).mean(dim=1)


def psnr(preds: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         max_db: float | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image, in dB.

    ``10 * log10(data_range**2 / MSE)``. An exact match (MSE = 0) gives ``inf`` by default, as
    scikit-image's ``peak_signal_noise_ratio`` and torchmetrics do: the exact value, which no
    table can confuse with a measurement. ``max_db`` caps the result instead (``min(PSNR,
    max_db)``), for averages that must stay finite. deepinv's ``PSNR`` computes
    ``-10 log10(MSE / range**2 + 1e-8)``: a smooth ceiling of 80 dB that also lowers every
    value slightly (by < 0.005 dB below 50 dB); ``max_db=80`` gives the same ceiling without
    that bias.

    Args:
        preds: estimates, shape (B, C, H, W).
        target: references, same shape.
        data_range: peak value (1.0 for images in [0, 1]).
        max_db: upper bound of the result, or ``None`` for none (``inf`` on exact matches).

    Returns:
        Tensor of shape (B,), in the dtype of ``preds``.

    Example:
        >>> clean = torch.zeros(1, 1, 8, 8)
        >>> round(psnr(clean + 0.1, clean).item(), 4)
        20.0
        >>> psnr(clean, clean), psnr(clean, clean, max_db=80)
        (tensor([inf]), tensor([80.]))
    """
    data_range = check_real(data_range, "data_range", minimum=0.0, strict=True)
    value = 10.0 * torch.log10(data_range**2 / mse(preds, target))
    if max_db is not None:
        value = value.clamp(max=check_real(max_db, "max_db"))
    return value


def mae(preds: torch.Tensor, target: torch.Tensor, scale: float = 255.0) -> torch.Tensor:
    """Mean absolute error of each image, multiplied by ``scale`` (8-bit levels by default).

    Args:
        preds: estimates, shape (B, C, H, W).
        target: references, same shape.
        scale: factor applied to the error (255 reports it on the 8-bit scale).

    Returns:
        Tensor of shape (B,).

    Example:
        >>> mae(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2 / 255))
        tensor([2.])
    """
    _pair(preds, target)
    scale = check_real(scale, "scale", minimum=0.0, strict=True)
    return (preds - target).abs().flatten(1).mean(dim=1) * scale


def _gaussian_window(sigma: float, radius: int, device, dtype) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _reflect_index(size: int, radius: int, device) -> torch.Tensor:
    """Indices extending ``range(size)`` by ``radius`` on each side as SciPy's ``"reflect"``
    mode does (``d c b a | a b c d | d c b a``, repeated when ``radius > size``)."""
    i = torch.arange(-radius, size + radius, device=device).remainder(2 * size)
    return torch.where(i >= size, 2 * size - 1 - i, i)


def _check_win_size(win_size: int | None, radius: int, height: int, width: int) -> int:
    size = 2 * radius + 1 if win_size is None else check_int(win_size, "win_size", minimum=1)
    if size % 2 == 0:
        raise ValueError(f"win_size must be odd, got {size}")
    if min(height, width) < size:
        largest = min(height, width) - (1 - min(height, width) % 2)
        reason = ("the SSIM map is averaged over the pixels whose whole window lies inside the "
                  "image, and there are none")
        raise ValueError(f"preds must be at least {size}x{size} for SSIM with a {size}x{size} "
                         f"window, got {height}x{width}: {reason}; pass an odd "
                         f"win_size <= {min(height, width)} (e.g. win_size={largest}), as "
                         f"scikit-image asks")
    return size


def ssim(preds: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         sigma: float = 1.5, win_size: int | None = None) -> torch.Tensor:
    """Structural similarity (Wang et al., 2004) of each image, as scikit-image computes it.

    Gaussian window of ``sigma`` truncated at 3.5 sigma (11x11 for 1.5), K1 = 0.01, K2 = 0.03,
    population covariances; the SSIM map is averaged over the channels and over the pixels at
    least ``(win_size - 1) / 2`` from the border. Differentiable. Equal to
    ``skimage.metrics.structural_similarity(target, preds, win_size=win_size,
    gaussian_weights=True, sigma=sigma, use_sample_covariance=False, data_range=data_range,
    channel_axis=0)`` per image, and to ``piq.ssim(..., kernel_size=11, kernel_sigma=1.5,
    downsample=False)`` for the default window.

    Small images: ``win_size`` (odd, at most the smaller side) shrinks the averaged region as
    scikit-image's does: the Gaussian filter keeps its size and extends the image by reflection
    (SciPy's ``"reflect"`` mode), and ``(win_size - 1) / 2`` pixels are cropped from each border.
    Images smaller than the window raise a :class:`ValueError` that gives the largest valid
    ``win_size``; the default is never shrunk silently.

    Args:
        preds: estimates, shape (B, C, H, W), H and W at least the window size.
        target: references, same shape.
        data_range: dynamic range of the images (1.0 for [0, 1]).
        sigma: standard deviation of the Gaussian window. (Default: 1.5)
        win_size: odd side of the cropped window; ``None`` for the filter's own size,
            ``2 * int(3.5 * sigma + 0.5) + 1`` (11). (Default: None)

    Returns:
        Tensor of shape (B,).

    Example:
        >>> x = torch.rand(2, 1, 16, 16)
        >>> ssim(x, x)
        tensor([1., 1.])
        >>> ssim(x[..., :7, :7], x[..., :7, :7], win_size=7)
        tensor([1., 1.])
    """
    _pair(preds, target)
    data_range = check_real(data_range, "data_range", minimum=0.0, strict=True)
    sigma = check_real(sigma, "sigma", minimum=0.0, strict=True)
    radius = int(3.5 * sigma + 0.5)
    size = 2 * radius + 1
    height, width = preds.shape[-2:]
    crop = (_check_win_size(win_size, radius, height, width) - 1) // 2
    channels = preds.shape[1]
    w = _gaussian_window(sigma, radius, preds.device, preds.dtype)
    w_h = w.view(1, 1, size, 1).expand(channels, 1, size, 1)
    w_w = w.view(1, 1, 1, size).expand(channels, 1, 1, size)
    rows = _reflect_index(height, radius, preds.device)[crop:crop + height - 2 * crop + 2 * radius]
    cols = _reflect_index(width, radius, preds.device)[crop:crop + width - 2 * crop + 2 * radius]

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable, on the reflected extension
        x = x.index_select(-2, rows).index_select(-1, cols)
        return F.conv2d(F.conv2d(x, w_h, groups=channels), w_w, groups=channels)

    ux, uy = blur(preds), blur(target)
    vx = blur(preds * preds) - ux * ux
    vy = blur(target * target) - uy * uy
    vxy = blur(preds * target) - ux * uy
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1)
