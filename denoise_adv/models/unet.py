"""DRUNet (UNetRes), the denoiser prior of DPIR (Zhang et al., 2021)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_flag, check_int
from ._common import check_input, pad_to_multiple, sigma_map
from .registry import register_model

__all__ = ["UNetRes"]


class _ResBlock(nn.Module):
    def __init__(self, features: int, bias: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(features, features, 3, padding=1, bias=bias),
                                  nn.ReLU(inplace=True),
                                  nn.Conv2d(features, features, 3, padding=1, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("drunet")
class UNetRes(nn.Module):
    r"""DRUNet ("UNetRes") from 'Plug-and-Play Image Restoration with Deep Denoiser Prior'
    (Zhang et al., IEEE TPAMI 2021) [https://arxiv.org/abs/2008.13751].

    A four-scale U-Net of residual blocks (strided-conv down, transposed-conv up, additive
    skips, no BatchNorm, no biases) taking the noisy image and a noise-level map. Sizes that are
    not multiples of 8 are replicate-padded and cropped back. The default configuration
    (features 64/128/256/512, 4 blocks per scale) is the published one, 32.6M parameters for
    gray images; the layers are KAIR's ``UNetRes`` (and deepinv's ``DRUNet``) one for one, so
    :func:`~denoise_adv.models.load_pretrained` imports ``drunet_gray.pth``/``drunet_color.pth``.
    The input is the image with the noise-level map as its last channel; ``sigma`` is in
    [0, 1] units (KAIR's map is ``noise_level / 255``).

    Args:
        channels: image channels. (Default: 1)
        features: channels of the four scales. (Default: (64, 128, 256, 512))
        blocks: residual blocks per scale. (Default: 4)
        bias: biases in every convolution (KAIR's ``UNetRes`` option; the released DRUNet
            weights have none). (Default: False)

    Shape:
        - noisy: :math:`(B, C, H, W)`; sigma: a number, (B,) or (B, 1, 1, 1).
        - output: :math:`(B, C, H, W)`.

    Example:
        >>> model = UNetRes(features=(4, 8, 8, 8), blocks=1)
        >>> model(torch.rand(1, 1, 20, 13), 0.1).shape
        torch.Size([1, 1, 20, 13])
    """

    #: forward takes (noisy, sigma); see :func:`denoise_adv.models.as_denoiser`.
    takes_sigma = True

    def __init__(self, channels: int = 1, features: tuple[int, int, int, int] = (64, 128, 256, 512),
                 blocks: int = 4, bias: bool = False) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        blocks = check_int(blocks, "blocks", minimum=1)
        features = tuple(check_int(f, "features[i]", minimum=1) for f in features)
        if len(features) != 4:
            raise ValueError(f"features must have 4 entries, got {len(features)}")
        self.config = {"channels": channels, "features": list(features), "blocks": blocks}
        if check_flag(bias, "bias"):
            self.config["bias"] = True  # only when set: older checkpoints read the same
        f, b = features, bias
        self.head = nn.Conv2d(channels + 1, f[0], 3, padding=1, bias=b)
        self.downs = nn.ModuleList(
            nn.Sequential(*[_ResBlock(f[i], b) for _ in range(blocks)],
                          nn.Conv2d(f[i], f[i + 1], 2, stride=2, bias=b))
            for i in range(3))
        self.body = nn.Sequential(*[_ResBlock(f[3], b) for _ in range(blocks)])
        self.ups = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(f[i + 1], f[i], 2, stride=2, bias=b),
                          *[_ResBlock(f[i], b) for _ in range(blocks)])
            for i in reversed(range(3)))
        self.tail = nn.Conv2d(f[0], channels, 3, padding=1, bias=b)

    def forward(self, noisy: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        check_input(noisy, self.channels)
        x, h, w = pad_to_multiple(noisy, 8)
        x = self.head(torch.cat([x, sigma_map(sigma, x, x.shape[-2], x.shape[-1])], dim=1))
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.body(x)
        for up, skip in zip(self.ups, reversed(skips[1:])):
            x = up(x + skip)
        return self.tail(x + skips[0])[..., :h, :w]
