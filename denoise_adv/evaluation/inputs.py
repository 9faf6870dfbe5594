"""The inputs of every evaluation, and their score: datasets, the seeded Gaussian noise of each
image (the noise owner's level, the ``"noise"`` stream), the attacks' random starts, random
perturbations of a budget's size, and the metrics of one output."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import seeding
from ..data import MAX_PIXELS, iter_images
from ..metrics import mae, psnr, ssim
from ..noise import gaussian_noise

__all__ = ["Image", "attack_generator", "attacked_input", "load_dataset", "measured_image",
           "noisy_image", "random_perturbation", "random_perturbation_like", "score"]

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
    """``clean + sigma * n`` with ``n`` (:func:`denoise_adv.noise.gaussian_noise`, the noise
    owner's draw) from the ``"noise"`` stream of image ``image`` (its name): the same for
    every model, every command and every run, wherever the image sits in its folder.
    ``draw > 0`` gives further independent noises of the same image."""
    keys = (image,) if draw == 0 else (image, draw)
    unit = gaussian_noise(clean.shape, 1.0, seeding.generator(seed, "noise", *keys),
                          dtype=torch.float32)  # drawn in float32 on the CPU: every device agrees
    return clean + sigma * unit.to(clean.device, clean.dtype)  # scaled in the image's dtype


def measured_image(clean: torch.Tensor, task: str, sigma: float, seed: int, image: str,
                   draw: int = 0) -> torch.Tensor:
    """The measurement ``A(clean) + sigma * n`` of a restoration task
    (:func:`denoise_adv.restoration.make_physics` at the clean image's size, its fixed parts
    from seed 0), ``n`` from the same ``"noise"`` stream as :func:`noisy_image`: the same for
    every model, command and run. ``clean``: (1, C, H, W). Needs the ``[deepinv]`` extra.

    Example:
        >>> y = measured_image(torch.rand(1, 1, 16, 16), "sr2", 0.01, 0, "x")
        >>> tuple(y.shape)
        (1, 1, 8, 8)
    """
    from ..restoration.tasks import make_physics

    physics = make_physics(task, tuple(clean.shape[-2:]), clean.shape[-3], sigma).to(clean.device)
    with torch.no_grad():
        return noisy_image(physics.A(clean), sigma, seed, image, draw)


def attacked_input(clean: torch.Tensor, sigma: float, seed: int, image: str,
                   task: str | None = None) -> torch.Tensor:
    """What a protocol attacks and scores for an image: its noisy version
    (:func:`noisy_image`), or under a restoration ``task`` its measurement
    (:func:`measured_image`)."""
    if task is None:
        return noisy_image(clean, sigma, seed, image)
    return measured_image(clean, task, sigma, seed, image)


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


def random_perturbation(like: torch.Tensor, norm: str, size: float | torch.Tensor,
                        generator: torch.Generator) -> torch.Tensor:
    """A random perturbation shaped like ``like``: random signs times ``size`` for L-inf, a
    uniformly random direction of L2 norm ``size`` for L2 (drawn on the CPU from
    ``generator``, so a seed gives the same perturbation on every device).

    Example:
        >>> d = random_perturbation(torch.zeros(1, 1, 4, 4), "l2", 2.0, torch.Generator())
        >>> round(float(d.norm()), 4)
        2.0
    """
    g = torch.randn(like.shape, generator=generator).to(like)
    if norm == "linf":
        return torch.where(g >= 0, 1.0, -1.0).to(like) * size
    return g / g.norm() * size


def random_perturbation_like(delta: torch.Tensor, norm: str, generator: torch.Generator
                             ) -> torch.Tensor:
    """A random perturbation with the size of ``delta``: random signs times ``max|delta|`` for
    L-inf, a uniformly random direction with ``delta``'s L2 norm for L2."""
    size = delta.abs().amax() if norm == "linf" else delta.norm()
    return random_perturbation(delta, norm, size, generator)
