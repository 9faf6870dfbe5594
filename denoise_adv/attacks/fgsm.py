"""Denoising FGSM."""

from __future__ import annotations

from torch import nn

from .._checks import check_real
from .base import Loss
from .pgd import DenoisePGD

__all__ = ["DenoiseFGSM"]


class DenoiseFGSM(DenoisePGD):
    r"""FGSM from 'Explaining and Harnessing Adversarial Examples' (Goodfellow et al., 2015)
    [https://arxiv.org/abs/1412.6572] with a regression loss: one step
    :math:`\delta = \epsilon\,\mathrm{sign}(\nabla_\delta L)` at :math:`\delta = 0`.

    Distance Measure : Linf

    FGSM has no random start, so it needs the clean image: ``atk(noisy)`` alone raises
    :class:`ValueError` (the loss to the model's own output has zero gradient at 0).

    Arguments:
        model (nn.Module): denoiser mapping noisy -> clean.
        eps (float): maximum perturbation per pixel. (Default: 2/255)
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
        >>> from denoise_adv import DenoiseFGSM
        >>> from denoise_adv.models import DnCNN
        >>> atk = DenoiseFGSM(DnCNN(depth=5, features=16).eval(), eps=2 / 255)
        >>> clean = torch.rand(1, 1, 16, 16)
        >>> noisy = clean + 0.1 * torch.randn_like(clean)
        >>> adv = atk(noisy, clean)
        >>> round((adv - noisy).abs().max().item() * 255, 4)  # every pixel moves by eps
        2.0
    """

    _has_random_start = False
    _param_names = ("eps", "clip")

    def __init__(
        self,
        model: nn.Module,
        eps: float = 2 / 255,
        clip: tuple[float, float] | None = None,
        loss: Loss | None = None,
        *,
        amp: str | None = None,
        eot_iter: int = 1,
    ) -> None:
        eps = check_real(eps, "eps", minimum=0.0)
        # One step of length eps; with eps = 0 any positive step is projected back to 0.
        super().__init__(model, eps=eps, alpha=eps if eps > 0 else 1.0, steps=1,
                         random_start=False, clip=clip, loss=loss, amp=amp, eot_iter=eot_iter,
                         _name="DenoiseFGSM")
