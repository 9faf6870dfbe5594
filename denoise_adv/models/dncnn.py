"""DnCNN (Zhang et al., 2017), the denoiser the paper attacks and defends."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_flag, check_int
from .contract import conv_radius
from .registry import register_model

__all__ = ["DnCNN"]


@register_model("dncnn")
class DnCNN(nn.Module):
    r"""DnCNN from 'Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
    Denoising' (Zhang et al., IEEE TIP 2017) [https://arxiv.org/abs/1608.03981].

    Conv+ReLU, then ``depth - 2`` blocks of Conv+BatchNorm+ReLU, then Conv; 3x3 kernels,
    ``features`` channels. The network predicts the noise (residual learning) and
    :meth:`forward` returns the clean estimate ``noisy - net(noisy)``, so the module follows the
    package's denoiser contract ``model(noisy) -> clean`` directly.

    The default (``depth=17``, ``features=64``, gray) is DnCNN-S with 556,096 parameters; the
    blind DnCNN-B uses ``depth=20``. ``batchnorm=False`` gives the layout of published weights
    whose BatchNorm was merged into the convolutions (KAIR's ``dncnn_*.pth``, deepinv's
    ``DnCNN``): Conv+ReLU blocks only, a bias in every convolution (none with ``bias=False``);
    :func:`~denoise_adv.models.load_pretrained` imports them.

    Args:
        channels: image channels, 1 (gray) or 3 (colour). (Default: 1)
        depth: number of convolution layers, at least 2. (Default: 17)
        features: channels of the hidden layers. (Default: 64)
        batchnorm: BatchNorm after the hidden convolutions (the reference layout: a bias in the
            first convolution only). (Default: True)
        bias: with ``batchnorm=False``, whether every convolution has a bias; ``False`` with
            BatchNorm raises :class:`ValueError`. (Default: True)

    Shape:
        - noisy: :math:`(B, C, H, W)`, any H and W (the network is fully convolutional).
        - output: :math:`(B, C, H, W)`.

    Example:
        >>> model = DnCNN(channels=1, depth=5, features=16)
        >>> model(torch.rand(2, 1, 33, 17)).shape
        torch.Size([2, 1, 33, 17])
    """

    #: forward takes only the noisy image (the denoiser contract of
    #: :mod:`denoise_adv.models.adapters`).
    takes_sigma = False

    def __init__(self, channels: int = 1, depth: int = 17, features: int = 64,
                 batchnorm: bool = True, bias: bool = True) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", minimum=1)
        self.depth = check_int(depth, "depth", minimum=2)
        self.features = check_int(features, "features", minimum=1)
        self.batchnorm = check_flag(batchnorm, "batchnorm")
        self.bias = check_flag(bias, "bias")
        if batchnorm and not bias:
            raise ValueError("bias=False needs batchnorm=False (the BatchNorm layout has a bias in "
                             "its first convolution only)")
        layers: list[nn.Module] = [
            nn.Conv2d(channels, features, 3, padding=1, bias=bias),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            if batchnorm:
                layers += [nn.Conv2d(features, features, 3, padding=1, bias=False),
                           nn.BatchNorm2d(features, eps=1e-4, momentum=0.05)]
            else:
                layers.append(nn.Conv2d(features, features, 3, padding=1, bias=bias))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(features, channels, 3, padding=1, bias=bias and not batchnorm))
        self.net = nn.Sequential(*layers)
        self._init_weights()

    @property
    def config(self) -> dict[str, int | bool]:
        """Constructor arguments, stored in checkpoints to rebuild the model (``batchnorm`` and
        ``bias`` only when they differ from the defaults, so older checkpoints read the same)."""
        config: dict[str, int | bool] = {"channels": self.channels, "depth": self.depth,
                                         "features": self.features}
        if not self.batchnorm:
            config["batchnorm"] = False
        if not self.bias:
            config["bias"] = False
        return config

    def _init_weights(self) -> None:
        # Orthogonal init as in the reference implementation; BatchNorm starts at identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def receptive_radius(self) -> int | None:
        """An output pixel depends on the inputs within ``depth`` pixels (one per 3x3
        convolution): the denoiser contract's locality (see
        :func:`~denoise_adv.models.contract.receptive_field`).

        Example:
            >>> DnCNN(depth=10, features=4).receptive_radius
            10
        """
        return conv_radius(self.net)

    def noise(self, noisy: torch.Tensor) -> torch.Tensor:
        """The predicted noise (the residual the network learns)."""
        return self.net(noisy)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """Return the clean estimate ``noisy - noise(noisy)``."""
        # Shape only: a finiteness check here would cost a pass over the data every step.
        if not isinstance(noisy, torch.Tensor) or noisy.dim() != 4:
            raise ValueError(f"noisy must be a tensor of shape (B, C, H, W), got "
                             f"{getattr(noisy, 'shape', type(noisy).__name__)}")
        if noisy.shape[1] != self.channels:
            raise ValueError(f"noisy must have {self.channels} channel(s) for this DnCNN, "
                             f"got {noisy.shape[1]}")
        return noisy - self.net(noisy)
