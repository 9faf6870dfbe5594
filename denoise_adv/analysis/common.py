"""Pieces every analysis shares: datasets, seeded noise, the attack protocol, scoring."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import seeding
from ..data import MAX_PIXELS, iter_images
from ..metrics import mae, psnr, ssim

__all__ = ["Image", "attack_generator", "load_dataset", "noisy_image", "score"]

Image = tuple[str, torch.Tensor]  # (name, clean (C, H, W))


def load_dataset(spec: str | Sequence[Image], channels: int = 1,
                 max_pixels: int | None = MAX_PIXELS) -> list[Image]:
    """A list of ``(name, clean image)`` from a folder, a file, ``builtin:...`` or a list.

    Files larger than ``max_pixels`` are refused (see :func:`~denoise_adv.data.load_image`).

    Raises:
        ValueError: no images (an empty folder raises with its name), or two images of one name
            (a name keys the image's noise and its output files).
    """
    images = list(iter_images(spec, channels, max_pixels=max_pixels)) if isinstance(
        spec, (str, bytes)) or hasattr(spec, "__fspath__") else list(spec)
    if not images:
        raise ValueError(f"no images in {spec}")
    names = [name for name, _ in images]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"images must have distinct names, got {twice} more than once")
    return images


def noisy_image(clean: torch.Tensor, sigma: float, seed: int, image: str, draw: int = 0
                ) -> torch.Tensor:
    """``clean + sigma * n`` with ``n`` from the ``"noise"`` stream of image ``image`` (its
    name): the same for every model, every command and every run, wherever the image sits in
    its folder. ``draw > 0`` gives further independent noises of the same image."""
    keys = (image,) if draw == 0 else (image, draw)
    noise = torch.randn(clean.shape, generator=seeding.generator(seed, "noise", *keys))
    return clean + sigma * noise.to(clean.device, clean.dtype)


def attack_generator(seed: int, image: str, attack: str) -> torch.Generator:
    """The random start of attack ``attack`` on image ``image``: the same in every analysis, so
    a white-box evaluation, an adversarial set and a transfer-matrix diagonal agree exactly."""
    return seeding.generator(seed, "attack", image, attack)


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
