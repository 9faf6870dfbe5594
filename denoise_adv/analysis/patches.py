"""Patch attacks (paper section 3.3.3, Fig. 8): adversarial noise confined to a patch.

Method 1 crafts the attack for the patch alone (the patch as a small image) and replaces the
noise inside it; method 2 attacks the whole image and keeps the perturbation only inside the
patch. Both are scored by the local PSNR inside and outside the patch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..attacks import AttackSpec

__all__ = ["patch_attack"]


@torch.no_grad()
def _local(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor
           ) -> tuple[float, float]:
    """PSNR (peak 1) of the clamped output over the pixels inside / outside ``mask``."""
    err = (model(noisy).clamp(0, 1) - clean).pow(2)
    inside = err[mask.expand_as(err)].mean().item()
    outside = err[~mask.expand_as(err)].mean().item()
    return -10 * math.log10(inside), -10 * math.log10(outside)


def patch_attack(model: nn.Module, clean: torch.Tensor, noisy: torch.Tensor,
                 box: tuple[int, int, int, int], attack: AttackSpec | None = None,
                 generator: torch.Generator | None = None) -> dict[str, Any]:
    """Attack only ``box = (top, left, height, width)`` of one noisy image, both ways.

    Returns the local PSNR inside and outside the patch for the Gaussian input and for each
    method, their drops, and the adversarial inputs (``"method1"``, ``"method2"``).
    """
    attack = attack if attack is not None else AttackSpec()
    top, left, h, w = box
    if h < 1 or w < 1 or top < 0 or left < 0 or top + h > clean.shape[-2] or (
            left + w > clean.shape[-1]):
        raise ValueError(f"box {box} must lie inside the image {tuple(clean.shape[-2:])}")
    mask = torch.zeros_like(clean[:, :1], dtype=torch.bool)
    mask[..., top:top + h, left:left + w] = True
    region = (..., slice(top, top + h), slice(left, left + w))
    # method 1: an attack on the patch alone, pasted in
    adv_patch = attack.build(model, generator)(noisy[region], clean[region])
    method1 = noisy.clone()
    method1[region] = adv_patch
    # method 2: a whole-image attack, kept inside the patch only
    whole = attack.build(model, generator)(noisy, clean)
    method2 = torch.where(mask, whole, noisy)
    base_in, base_out = _local(model, noisy, clean, mask)
    result: dict[str, Any] = {"box": list(box), "gaussian": {"inside": base_in,
                                                             "outside": base_out}}
    for name, adv in (("method1", method1), ("method2", method2)):
        inside, outside = _local(model, adv, clean, mask)
        result[name] = {"inside": inside, "outside": outside, "drop_inside": base_in - inside,
                        "drop_outside": base_out - outside}
        result[f"{name}_input"] = adv
    return result
