"""L-inf Denoising-PGD."""

from __future__ import annotations

import torch
from torch import nn

from .base import DenoiseAttack, Loss

__all__ = ["DenoisePGD"]


class DenoisePGD(DenoiseAttack):
    r"""Denoising-PGD (L-inf) from 'Evaluating Similitude and Robustness of Deep Image Denoising
    Models via Adversarial Attack' (Ning et al., 2023) [https://arxiv.org/abs/2306.16050], the
    attack of 'Adversarial Transferability in Deep Denoising Models' (Ning et al.); PGD of
    'Towards Deep Learning Models Resistant to Adversarial Attacks' (Madry et al., 2018)
    [https://arxiv.org/abs/1706.06083] with a regression loss.

    Distance Measure : Linf

    Maximises ``loss(model(noisy + delta), clean)`` (MSE by default) over
    :math:`\|\delta\|_\infty \le \epsilon`:
    :math:`\delta \leftarrow \mathrm{clip}_{[-\epsilon, \epsilon]}(\delta + \alpha\,
    \mathrm{sign}(\nabla_\delta L))`, starting from :math:`U(-\epsilon, \epsilon)` when
    ``random_start``.

    The paper's eps, alpha and steps were lost from our copy of its text. The defaults,
    eps = 2/255, alpha = 0.5/255, 10 steps, were chosen by measurement: on a small DnCNN at
    sigma = 25/255 they cost about 1 dB of PSNR, the size of the drops the paper reports (0.77 dB
    L-inf, 0.88 dB L2 on DnCNN).

    Models that take a noise level are attacked through the one adapter, e.g. deepinv's DRUNet:
    ``DenoisePGD(as_denoiser(dinv.models.DRUNet(...), sigma=25 / 255))`` (or
    :func:`denoise_adv.integrations.deepinv.denoiser_from_physics` to read the level from a
    deepinv physics); published KAIR/SwinIR/deepinv weights load with
    :func:`denoise_adv.models.load_pretrained`.

    Arguments:
        model (nn.Module): denoiser mapping noisy -> clean (see
            :func:`denoise_adv.models.as_denoiser`).
        eps (float): maximum perturbation per pixel, in [0, 1] units. (Default: 2/255)
        alpha (float): step size. (Default: 0.5/255)
        steps (int): number of steps. (Default: 10)
        random_start (bool): start from a uniformly random delta. (Default: True)
        clip (tuple or None): bounds ``(low, high)`` for the adversarial image; ``None`` leaves
            it unclipped, as noisy images are. (Default: None)
        loss (callable or None): ``loss(output, reference)``; ``None`` for MSE. (Default: None)
        generator (torch.Generator or None): RNG of the random start. (Default: None)
        amp (str or None): ``"bf16"`` runs the model's forward/backward under bfloat16 autocast
            (delta, projection and loss stay float32); ``None`` for float32. (Default: None)
        eot_iter (int): gradients averaged over this many passes, for models with test-time
            randomness (EOT, Athalye et al., 2018); a step costs ``eot_iter`` passes. (Default: 1)

    Shape:
        - noisy: :math:`(N, C, H, W)`, any real values (noisy images are not clipped).
        - clean (optional): :math:`(N, C, H, W)`, the clean images (or targets in targeted mode).
        - output: :math:`(N, C, H, W)`, the adversarial noisy images ``noisy + delta``.

    Examples::
        >>> import torch
        >>> from denoise_adv import DenoisePGD
        >>> from denoise_adv.models import DnCNN
        >>> model = DnCNN(depth=5, features=16).eval()
        >>> clean = torch.rand(2, 1, 32, 32)
        >>> noisy = clean + 25 / 255 * torch.randn_like(clean)
        >>> atk = DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=10, random_start=True)
        >>> adv = atk(noisy, clean)
        >>> bool((adv - noisy).abs().max() <= 2 / 255 + 1e-7)
        True
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 2 / 255,
        alpha: float = 0.5 / 255,
        steps: int = 10,
        random_start: bool = True,
        clip: tuple[float, float] | None = None,
        loss: Loss | None = None,
        generator: torch.Generator | None = None,
        *,
        amp: str | None = None,
        eot_iter: int = 1,
        _name: str = "DenoisePGD",
    ) -> None:
        super().__init__(_name, model, eps, alpha, steps, random_start, clip, loss, generator,
                         amp, eot_iter)

    def _random_delta(self, noisy: torch.Tensor) -> torch.Tensor:
        return (2 * self._random(noisy, "uniform") - 1) * self.eps

    def _ascent(self, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return delta + self.alpha * grad.sign()

    def _project_ball(self, delta: torch.Tensor) -> torch.Tensor:
        return delta.clamp(-self.eps, self.eps)
