"""FFDNet (Zhang et al., 2018): a fast denoiser conditioned on a noise-level map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_flag, check_int
from ._common import check_input, pad_to_multiple, sigma_map
from .registry import register_model

__all__ = ["FFDNet"]


@register_model("ffdnet")
class FFDNet(nn.Module):
    r"""FFDNet from 'FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image Denoising'
    (Zhang, Zuo, Zhang, IEEE TIP 2018) [https://arxiv.org/abs/1710.04026].

    The noisy image is reversibly downsampled into four sub-images (pixel unshuffle), a
    noise-level map is concatenated, Conv+ReLU / (Conv+BN+ReLU) x (depth-2) / Conv predict the
    four clean sub-images, and pixel shuffle reassembles them. Odd sizes are replicate-padded
    and cropped back.

    Defaults are the published gray model (15 layers, 64 features); the colour model uses
    ``channels=3, depth=12, features=96``. KAIR's released weights (``ffdnet_gray.pth``,
    ``ffdnet_color.pth``, ...) have no BatchNorm and a bias in every convolution:
    ``batchnorm=False``, imported by :func:`~denoise_adv.models.load_pretrained`. ``sigma`` is
    in [0, 1] units, as in KAIR (``noise_level / 255``).

    Args:
        channels: image channels. (Default: 1)
        depth: convolution layers, >= 2. (Default: 15)
        features: hidden channels. (Default: 64)
        batchnorm: Conv+BN+ReLU hidden blocks (``False``: Conv+ReLU with biases). (Default: True)

    Shape:
        - noisy: :math:`(B, C, H, W)`; sigma: a number, (B,) or (B, 1, 1, 1), in [0, 1] units.
        - output: :math:`(B, C, H, W)`, the clean estimate.

    Example:
        >>> model = FFDNet(depth=4, features=16)
        >>> model(torch.rand(2, 1, 17, 20), 25 / 255).shape
        torch.Size([2, 1, 17, 20])
    """

    #: forward takes (noisy, sigma); see :func:`denoise_adv.models.as_denoiser`.
    takes_sigma = True

    def __init__(self, channels: int = 1, depth: int = 15, features: int = 64,
                 batchnorm: bool = True) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        depth = check_int(depth, "depth", minimum=2)
        features = check_int(features, "features", minimum=1)
        self.config = {"channels": channels, "depth": depth, "features": features}
        if not check_flag(batchnorm, "batchnorm"):
            self.config["batchnorm"] = False  # only when set: older checkpoints read the same
        layers: list[nn.Module] = [nn.Conv2d(4 * channels + 1, features, 3, padding=1),
                                   nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            if batchnorm:
                layers += [nn.Conv2d(features, features, 3, padding=1, bias=False),
                           nn.BatchNorm2d(features)]
            else:
                layers.append(nn.Conv2d(features, features, 3, padding=1))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(features, 4 * channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, noisy: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        check_input(noisy, self.channels)
        x, h, w = pad_to_multiple(noisy, 2)
        sub = F.pixel_unshuffle(x, 2)
        level = sigma_map(sigma, x, sub.shape[-2], sub.shape[-1])
        out = F.pixel_shuffle(self.net(torch.cat([sub, level], dim=1)), 2)
        return out[..., :h, :w]
