"""An unfolding denoiser: unrolled proximal gradient descent with learned proximal maps."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_int
from ._common import check_input
from .registry import register_model

__all__ = ["UnfoldingDenoiser"]


def _prox_net(channels: int, features: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(features, channels, 3, padding=1))
    return nn.Sequential(*layers)


@register_model("unfolding")
class UnfoldingDenoiser(nn.Module):
    r"""A deep unfolding denoiser in the manner of DGUNet ('Deep Generalized Unfolding Networks
    for Image Restoration', Mou et al., CVPR 2022) and DeamNet (Ren et al., CVPR 2021): proximal
    gradient descent on :math:`\frac12\|x - y\|^2 + R(x)` unrolled for ``stages`` steps,

    .. math:: z_k = x_{k-1} - \eta_k (x_{k-1} - y), \qquad x_k = z_k - P_k(z_k),

    with learned step sizes :math:`\eta_k \in (0, 1)` and learned residual proximal maps
    :math:`P_k` (small CNNs without BatchNorm), starting at :math:`x_0 = y`. This is a compact
    reconstruction of the model family, not either paper's exact network.

    Args:
        channels: image channels. (Default: 1)
        stages: unrolled iterations. (Default: 5)
        features: channels of each proximal CNN. (Default: 32)
        depth: conv layers of each proximal CNN, >= 2. (Default: 5)
        shared: one proximal CNN for all stages. (Default: False)

    Shape:
        - noisy: :math:`(B, C, H, W)`.
        - output: :math:`(B, C, H, W)`.

    Example:
        >>> model = UnfoldingDenoiser(stages=2, features=8, depth=3)
        >>> model(torch.rand(1, 1, 9, 7)).shape
        torch.Size([1, 1, 9, 7])
    """

    takes_sigma = False  # a fixed-level denoiser (see denoise_adv.models.adapters)

    def __init__(self, channels: int = 1, stages: int = 5, features: int = 32, depth: int = 5,
                 shared: bool = False) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        stages = check_int(stages, "stages", minimum=1)
        features = check_int(features, "features", minimum=1)
        depth = check_int(depth, "depth", minimum=2)
        self.config = {"channels": channels, "stages": stages, "features": features,
                       "depth": depth, "shared": bool(shared)}
        count = 1 if shared else stages
        self.prox = nn.ModuleList(_prox_net(channels, features, depth) for _ in range(count))
        self.step_logits = nn.Parameter(torch.zeros(stages))  # eta_k = sigmoid(.) = 0.5 at init
        self.stages = stages

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        check_input(noisy, self.channels)
        x = noisy
        eta = torch.sigmoid(self.step_logits)
        for k in range(self.stages):
            z = x - eta[k] * (x - noisy)
            x = z - self.prox[k % len(self.prox)](z)
        return x
