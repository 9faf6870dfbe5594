"""Pieces every analysis shares: datasets, seeded noise, the attack protocol, scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks import DenoiseAttack, DenoisePGD, DenoisePGDL2
from ..data import derived_generator, iter_images
from ..metrics import mae, psnr, ssim

__all__ = ["AttackSpec", "Image", "attack_generator", "load_dataset", "noisy_image", "score"]

Image = tuple[str, torch.Tensor]  # (name, clean (C, H, W))


@dataclass(frozen=True)
class AttackSpec:
    """The evaluation protocol's attack: Denoising-PGD, L-inf or per-pixel L2.

    ``clip=(low, high)`` bounds the adversarial image (default: unclipped, as noisy images are).
    ``eps`` and ``alpha`` are per pixel in [0, 1] units (L2: RMS per pixel, radius
    ``eps * sqrt(C*H*W)``). The defaults (2/255, 0.5/255, 10 steps, random start) cost about
    1 dB on a small DnCNN at sigma 25, the size of the paper's drops.
    """

    norm: str = "linf"
    eps: float = 2 / 255
    alpha: float = 0.5 / 255
    steps: int = 10
    random_start: bool = True
    clip: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {self.norm!r}")

    def build(self, model: nn.Module, generator: torch.Generator | None = None) -> DenoiseAttack:
        """The attack on ``model`` (random start from ``generator``)."""
        common = dict(eps=self.eps, alpha=self.alpha, steps=self.steps,
                      random_start=self.random_start, clip=self.clip, generator=generator)
        if self.norm == "linf":
            return DenoisePGD(model, **common)
        return DenoisePGDL2(model, per_pixel=True, **common)

    def as_dict(self) -> dict:
        return {"norm": self.norm, "eps": self.eps, "alpha": self.alpha, "steps": self.steps,
                "random_start": self.random_start, "per_pixel": self.norm == "l2",
                "clip": list(self.clip) if self.clip else None}


def load_dataset(spec: str | Sequence[Image], channels: int = 1) -> list[Image]:
    """A list of ``(name, clean image)`` from a folder, a file, ``builtin:...`` or a list.

    Raises:
        ValueError: no images (an empty folder raises with its name).
    """
    images = list(iter_images(spec, channels)) if isinstance(spec, (str, bytes)) or hasattr(
        spec, "__fspath__") else list(spec)
    if not images:
        raise ValueError(f"no images in {spec}")
    return images


def noisy_image(clean: torch.Tensor, sigma: float, seed: int, index: int) -> torch.Tensor:
    """``clean + sigma * n`` with ``n`` drawn from ``(seed, index)``: the same for every model,
    every command and every run."""
    noise = torch.randn(clean.shape, generator=derived_generator(seed, index))
    return clean + sigma * noise.to(clean.dtype)


def attack_generator(seed: int, index: int, name: str) -> torch.Generator:
    """The random start of attack ``name`` on image ``index``: the same in every analysis, so a
    white-box evaluation, an adversarial set and a transfer-matrix diagonal agree exactly."""
    return derived_generator(seed, index, sum(map(ord, name)))


@torch.no_grad()
def score(model: nn.Module, inputs: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """PSNR, SSIM and MAE of the model's output on ``inputs`` (one image, (1, C, H, W)),
    clamped to [0, 1], against ``clean``."""
    device = next(model.parameters(), torch.empty(0)).device
    out = model(inputs.to(device)).float().clamp(0, 1).cpu()
    clean = clean.float().cpu()
    result = {"psnr": psnr(out, clean).item(), "mae": mae(out, clean).item()}
    result["ssim"] = ssim(out, clean).item() if min(clean.shape[-2:]) >= 11 else float("nan")
    return result
