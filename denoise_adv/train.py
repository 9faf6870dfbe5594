"""Training denoisers on Gaussian noise (the ``normal`` strategy).

A compact, seeded loop: random patches from a list of clean images, random flips and rotations,
noise added on the fly, MSE on the clean estimate, Adam.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ._checks import check_int, check_module, check_real
from .data import augment

__all__ = ["random_patches", "train_denoiser"]


def random_patches(
    images: Sequence[torch.Tensor], count: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """Draw ``count`` random ``size`` x ``size`` patches, each randomly flipped/rotated.

    Args:
        images: clean images (C, H, W), all with the same C, each at least ``size`` on a side.
        count: number of patches.
        size: patch side.
        generator: RNG (CPU).

    Returns:
        Tensor (count, C, size, size).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> random_patches([torch.rand(1, 50, 60)], 4, 40, g).shape
        torch.Size([4, 1, 40, 40])
    """
    if not images:
        raise ValueError("images must not be empty")
    for i, img in enumerate(images):
        if img.dim() != 3 or min(img.shape[1:]) < size:
            raise ValueError(f"images[{i}] must be (C, H, W) with H, W >= {size}, "
                             f"got {tuple(img.shape)}")
    out = []
    for _ in range(count):
        img = images[int(torch.randint(len(images), (1,), generator=generator))]
        top = int(torch.randint(img.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(img.shape[2] - size + 1, (1,), generator=generator))
        patch = img[:, top : top + size, left : left + size]
        out.append(augment(patch, int(torch.randint(8, (1,), generator=generator))))
    return torch.stack(out)


def train_denoiser(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    sigma: float = 25 / 255,
    steps: int = 200,
    batch_size: int = 32,
    patch_size: int = 40,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> list[float]:
    """Train ``model`` (noisy -> clean) on Gaussian noise of level ``sigma``; returns the losses.

    Args:
        model: denoiser to train in place.
        images: clean training images (C, H, W) in [0, 1].
        sigma: noise standard deviation in [0, 1] units. (Default: 25/255)
        steps: optimisation steps. (Default: 200)
        batch_size: patches per step. (Default: 32)
        patch_size: patch side. (Default: 40)
        lr: Adam learning rate. (Default: 1e-3)
        seed: seed of patches and noise; same seed, same weights on the CPU. (Default: 0)
        device: where to train (default: where the model is).
        progress: show a tqdm bar. (Default: True)

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> model = DnCNN(depth=3, features=8)
        >>> losses = train_denoiser(model, [torch.rand(1, 48, 48)], steps=2, batch_size=4,
        ...                         progress=False)
        >>> len(losses)
        2
    """
    check_module(model, "model")
    sigma = check_real(sigma, "sigma", minimum=0.0)
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    lr = check_real(lr, "lr", minimum=0.0, strict=True)
    if device is None:
        device = next(model.parameters()).device
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in tqdm(range(steps), desc="train", disable=not progress):
        clean = random_patches(images, batch_size, patch_size, generator)
        noisy = clean + sigma * torch.randn(clean.shape, generator=generator)
        clean, noisy = clean.to(device), noisy.to(device)
        loss = nn.functional.mse_loss(model(noisy), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


# ------------------------------------------------------------------------------------------------
# The full recipe: strategies, patch data, checkpoints, exact resume, validation, DDP.
# ------------------------------------------------------------------------------------------------

#: Training strategies of the paper (sections 4.2-4.3) and the baselines.
STRATEGIES = ("normal", "ts-pres", "ts-def", "mixed-25.5", "mixed-26", "blind", "adversarial")


def strategy_noise(strategy: str, sigma: float, ts_iterations: float = 10,
                   ts_method: str = "exact", blind_range: tuple[float, float] = (0.0, 55 / 255)):
    """The noise transform of a training strategy.

    - ``normal`` and ``adversarial``: Gaussian at ``sigma`` (the adversarial strategy attacks
      the noisy batch inside the loop);
    - ``ts-pres`` / ``ts-def``: :class:`~denoise_adv.transforms.TSNoise` with p = 1/3 / 1/2;
    - ``mixed-25.5`` / ``mixed-26``: ``sigma`` mixed 1:1 with ``sigma + 0.5/255`` /
      ``sigma + 1/255`` (25 with 25.5 or 26 at the paper's sigma; the ratio is our
      reconstruction);
    - ``blind``: a level per sample uniform in ``blind_range`` (DnCNN-B).

    Example:
        >>> strategy_noise("ts-def", 25 / 255).p
        0.5
    """
    from .transforms import GaussianNoise, MixedNoise, TSNoise

    if strategy in ("normal", "adversarial"):
        return GaussianNoise(sigma)
    if strategy == "ts-pres":
        return TSNoise.ts_pres(sigma, iterations=ts_iterations, method=ts_method)
    if strategy == "ts-def":
        return TSNoise.ts_def(sigma, iterations=ts_iterations, method=ts_method)
    if strategy == "mixed-25.5":
        return MixedNoise((sigma, sigma + 0.5 / 255))
    if strategy == "mixed-26":
        return MixedNoise((sigma, sigma + 1 / 255))
    if strategy == "blind":
        return GaussianNoise(tuple(blind_range))
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
