"""ObsAtk: L2 PGD with zero-mean perturbations."""

from __future__ import annotations

import torch
from torch import nn

from .base import Loss
from .pgdl2 import DenoisePGDL2

__all__ = ["ObsAtk"]


def _zero_mean(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=(1, 2, 3), keepdim=True)


class ObsAtk(DenoisePGDL2):
    r"""ObsAtk from 'Towards Adversarially Robust Deep Image Denoising' (Yan et al., IJCAI 2022)
    [https://arxiv.org/abs/2201.04397]: L2 PGD whose perturbation is projected to zero mean per
    image (over all channels together), so the attack cannot act as a brightness shift.

    Distance Measure : L2 (zero-mean subspace)

    Each step moves along the zero-mean part of the gradient, normalised, then removes the mean
    and projects onto the ball. For a linear denoiser ``f(y) = a*y`` the optimum is
    :math:`\delta = \epsilon\,\mathrm{sign}(a)\,Pr/\|Pr\|` with :math:`r = a y - x` and
    :math:`P = I - \mathbf{1}\mathbf{1}^T/d`.

    Arguments:
        model (nn.Module): denoiser mapping noisy -> clean.
        eps (float): radius of the L2 ball (see ``per_pixel``). (Default: 1.0)
        alpha (float): step length (see ``per_pixel``). (Default: 0.2)
        steps (int): number of steps. (Default: 10)
        random_start (bool): start from a random zero-mean point of the ball. (Default: True)
        clip (tuple or None): bounds for the adversarial image (clipping can break the zero
            mean). (Default: None)
        per_pixel (bool): read eps/alpha as RMS per pixel, as
            :class:`~denoise_adv.attacks.DenoisePGDL2` does. (Default: False)
        loss (callable or None): ``loss(output, reference)``; ``None`` for MSE. (Default: None)
        generator (torch.Generator or None): RNG of the random start. (Default: None)
        amp (str or None): ``"bf16"`` runs the model's forward/backward under bfloat16 autocast
            (delta, projection and loss stay float32); ``None`` for float32. (Default: None)
        eot_iter (int): gradients averaged over this many passes, for models with test-time
            randomness (EOT, Athalye et al., 2018); a step costs ``eot_iter`` passes. (Default: 1)

    Shape:
        - noisy: :math:`(N, C, H, W)`.
        - clean (optional): :math:`(N, C, H, W)`.
        - output: :math:`(N, C, H, W)`.

    Examples::
        >>> import torch
        >>> from denoise_adv import ObsAtk
        >>> from denoise_adv.models import DnCNN
        >>> atk = ObsAtk(DnCNN(depth=5, features=16).eval(), eps=0.5, alpha=0.1, steps=10)
        >>> clean = torch.rand(1, 1, 16, 16)
        >>> noisy = clean + 0.1 * torch.randn_like(clean)
        >>> delta = atk(noisy, clean) - noisy
        >>> abs(delta.mean().item()) < 1e-6
        True
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 1.0,
        alpha: float = 0.2,
        steps: int = 10,
        random_start: bool = True,
        clip: tuple[float, float] | None = None,
        per_pixel: bool = False,
        loss: Loss | None = None,
        generator: torch.Generator | None = None,
        *,
        amp: str | None = None,
        eot_iter: int = 1,
    ) -> None:
        super().__init__(model, eps, alpha, steps, random_start, clip, per_pixel, loss, generator,
                         amp=amp, eot_iter=eot_iter, _name="ObsAtk")

    def _ascent(self, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return super()._ascent(delta, _zero_mean(grad))

    def _project_ball(self, delta: torch.Tensor) -> torch.Tensor:
        # Scaling keeps the mean at zero, so centring first gives the exact projection.
        return super()._project_ball(_zero_mean(delta))
