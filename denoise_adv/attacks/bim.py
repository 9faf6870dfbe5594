"""Denoising BIM (iterative FGSM)."""

from __future__ import annotations

from torch import nn

from .base import Loss
from .pgd import DenoisePGD

__all__ = ["DenoiseBIM"]


class DenoiseBIM(DenoisePGD):
    r"""BIM from 'Adversarial Examples in the Physical World' (Kurakin et al., 2017)
    [https://arxiv.org/abs/1607.02533] with a regression loss: L-inf PGD started at
    :math:`\delta = 0` (no random start).

    Distance Measure : Linf

    BIM has no random start, so it needs the clean image: ``atk(noisy)`` alone raises
    :class:`ValueError`.

    Arguments:
        model (nn.Module): denoiser mapping noisy -> clean.
        eps (float): maximum perturbation per pixel. (Default: 2/255)
        alpha (float): step size. (Default: 0.5/255)
        steps (int): number of steps. (Default: 10)
        clip (tuple or None): bounds for the adversarial image, or ``None``. (Default: None)
        loss (callable or None): ``loss(output, reference)``; ``None`` for MSE. (Default: None)
        amp (str or None): ``"bf16"`` runs the model's forward/backward under bfloat16 autocast
            (delta, projection and loss stay float32); ``None`` for float32. (Default: None)
        eot_iter (int): gradients averaged over this many passes, for models with test-time
            randomness (EOT, Athalye et al., 2018); a step costs ``eot_iter`` passes. (Default: 1)

    Shape:
        - noisy: :math:`(N, C, H, W)`.
        - clean: :math:`(N, C, H, W)`.
        - output: :math:`(N, C, H, W)`.

    Examples::
        >>> import torch
        >>> from denoise_adv import DenoiseBIM
        >>> from denoise_adv.models import DnCNN
        >>> atk = DenoiseBIM(DnCNN(depth=5, features=16).eval(), eps=2 / 255, alpha=0.5 / 255,
        ...                  steps=10)
        >>> clean = torch.rand(1, 1, 16, 16)
        >>> noisy = clean + 0.1 * torch.randn_like(clean)
        >>> adv = atk(noisy, clean)
        >>> bool((adv - noisy).abs().max() <= 2 / 255 + 1e-7), adv.shape
        (True, torch.Size([1, 1, 16, 16]))
    """

    _has_random_start = False
    _param_names = ("eps", "alpha", "steps", "clip")

    def __init__(
        self,
        model: nn.Module,
        eps: float = 2 / 255,
        alpha: float = 0.5 / 255,
        steps: int = 10,
        clip: tuple[float, float] | None = None,
        loss: Loss | None = None,
        *,
        amp: str | None = None,
        eot_iter: int = 1,
    ) -> None:
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=False, clip=clip,
                         loss=loss, amp=amp, eot_iter=eot_iter, _name="DenoiseBIM")
