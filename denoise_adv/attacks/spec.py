"""An attack as plain values: the protocol's Denoising-PGD (L-inf or per-pixel L2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._amp import check_amp
from .._checks import check_clip, check_flag, check_int
from .base import DenoiseAttack, check_budget
from .pgd import DenoisePGD
from .pgdl2 import DenoisePGDL2

__all__ = ["AttackSpec"]


@dataclass(frozen=True)
class AttackSpec:
    """The evaluation protocol's attack: Denoising-PGD, L-inf or per-pixel L2, as plain values
    (written into reports, adversarial sets and training configs; rebuilt with :meth:`build`).

    ``clip=(low, high)`` bounds the adversarial image (default: unclipped, as noisy images are).
    ``eps`` and ``alpha`` are per pixel in [0, 1] units (L2: RMS per pixel, radius
    ``eps * sqrt(C*H*W)``). The defaults (2/255, 0.5/255, 10 steps, random start) cost about
    1 dB on a small DnCNN at sigma 25, the size of the paper's drops. ``amp="bf16"`` crafts
    under bfloat16 autocast (see :class:`~denoise_adv.attacks.DenoiseAttack`).

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> atk = AttackSpec("l2", steps=2).build(DnCNN(depth=3, features=4))
        >>> type(atk).__name__, atk.per_pixel
        ('DenoisePGDL2', True)
    """

    norm: str = "linf"
    eps: float = 2 / 255
    alpha: float = 0.5 / 255
    steps: int = 10
    random_start: bool = True
    clip: tuple[float, float] | None = None
    amp: str | None = None

    def __post_init__(self) -> None:
        # Checked when the spec is made, not when the first image is attacked.
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {self.norm!r}")
        check_budget(self.eps, "eps")
        check_budget(self.alpha, "alpha", strict=True)
        check_int(self.steps, "steps", minimum=1)
        check_flag(self.random_start, "random_start")
        check_clip(self.clip)
        check_amp(self.amp)

    def build(self, model: nn.Module, generator: torch.Generator | None = None) -> DenoiseAttack:
        """The attack on ``model`` (random start from ``generator``)."""
        common = dict(eps=self.eps, alpha=self.alpha, steps=self.steps,
                      random_start=self.random_start, clip=self.clip, generator=generator,
                      amp=self.amp)
        if self.norm == "linf":
            return DenoisePGD(model, **common)
        return DenoisePGDL2(model, per_pixel=True, **common)

    def as_dict(self) -> dict[str, Any]:
        """The values, JSON-ready (``per_pixel`` is implied by the norm)."""
        return {"norm": self.norm, "eps": self.eps, "alpha": self.alpha, "steps": self.steps,
                "random_start": self.random_start, "per_pixel": self.norm == "l2",
                "clip": list(self.clip) if self.clip else None, "amp": self.amp}
