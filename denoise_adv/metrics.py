"""Image quality metrics, computed per image.

Conventions (see the design notes): images are in [0, 1]; PSNR uses a peak of ``data_range``
(1.0 here is the same as 255 on 8-bit images); MAE is reported on the 8-bit scale, as in the
paper's tables. The functions are pure: they do not clamp. Clamp a denoiser's output to [0, 1]
before scoring it (``model(noisy).clamp(0, 1)``), as the command line does.
"""

from __future__ import annotations

import torch

from ._checks import check_image_batch, check_real, check_same_shape

__all__ = ["mae", "mse", "psnr"]


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


def psnr(preds: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image, in dB.

    ``10 * log10(data_range**2 / MSE)``; an exact match gives ``inf``.

    Args:
        preds: estimates, shape (B, C, H, W).
        target: references, same shape.
        data_range: peak value (1.0 for images in [0, 1]).

    Returns:
        Tensor of shape (B,), in the dtype of ``preds``.

    Example:
        >>> clean = torch.zeros(1, 1, 8, 8)
        >>> round(psnr(clean + 0.1, clean).item(), 4)
        20.0
    """
    data_range = check_real(data_range, "data_range", minimum=0.0, strict=True)
    return 10.0 * torch.log10(data_range**2 / mse(preds, target))


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
