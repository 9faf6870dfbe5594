"""Helpers shared by the model definitions: input checks, noise-level maps, padding."""

from __future__ import annotations

from numbers import Real

import torch
import torch.nn.functional as F

from .._checks import check_sigma
from ..noise import level_column


def check_input(x: object, channels: int, name: str = "noisy") -> torch.Tensor:
    """Shape-only check of a model input (a data pass would cost every attack step)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"{name} must be a tensor of shape (B, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s) for this model, got {x.shape[1]}")
    return x


def sigma_map(sigma: float | torch.Tensor, x: torch.Tensor, height: int, width: int
              ) -> torch.Tensor:
    """A (B, 1, height, width) noise-level map from a float, a scalar, a (B,) or a
    (B, 1, 1, 1) tensor, on ``x``'s device and dtype; levels must be finite and >= 0 (the
    package's one level check and shape rule: :func:`~denoise_adv._checks.check_sigma`,
    :func:`~denoise_adv.noise.level_column`)."""
    batch = x.shape[0]
    if isinstance(sigma, Real):  # checked in Python: no device round trip (a bool is refused)
        s = torch.as_tensor(check_sigma(sigma, ranges=False, tensors=False), device=x.device,
                            dtype=x.dtype)
    else:  # converted first: check_sigma would read a two-element list as a range
        s = check_sigma(torch.as_tensor(sigma, device=x.device, dtype=x.dtype))
    return level_column(s, batch, 4, x.device, x.dtype).expand(batch, 1, height, width)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate"
                    ) -> tuple[torch.Tensor, int, int]:
    """Pad H and W at the bottom and right up to a multiple (``mode``: ``"replicate"`` or
    ``"reflect"``); returns the padded tensor and the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if mode == "reflect" and ((ph and ph >= h) or (pw and pw >= w)):
        raise ValueError(f"noisy is too small ({h}x{w}) to reflect-pad to a multiple of "
                         f"{multiple}")
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w
