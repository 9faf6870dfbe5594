"""File format of saved adversarial sets (what :meth:`DenoiseAttack.save` writes).

A ``.pt`` file holding a dict that loads with ``torch.load(..., weights_only=True)``; the tensor
keys follow :meth:`torchattacks.Attack.save` so its users recognise them:

- ``adv_inputs`` (N, C, H, W): adversarial noisy images, float, NOT clipped to [0, 1];
- ``labels`` (N, C, H, W): the clean images (the regression targets);
- ``preds`` (optional): the model's output on ``adv_inputs``;
- ``clean_inputs`` (optional): the noisy inputs before the attack (torchattacks' name: "clean"
  means "not attacked" there);
- ``save_type``: always ``"float"``;
- ``meta``: dict of plain values (attack name and parameters, model name, anything the caller adds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_torch_save

__all__ = ["load_adversarial_set", "save_adversarial_set"]

TENSOR_KEYS = ("adv_inputs", "labels", "preds", "clean_inputs")


def save_adversarial_set(
    path: str | os.PathLike,
    adv_inputs: torch.Tensor,
    labels: torch.Tensor,
    meta: dict[str, Any] | None = None,
    **extra: torch.Tensor,
) -> Path:
    """Write an adversarial set atomically.

    Args:
        path: destination ``.pt`` file.
        adv_inputs: adversarial noisy images, (N, C, H, W).
        labels: clean images, same shape.
        meta: plain values describing how the set was made.
        **extra: optional ``preds`` and ``clean_inputs`` tensors.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "adv.pt")
        >>> adv, clean = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
        >>> _ = save_adversarial_set(p, adv, clean, {"eps": 0.1})
        >>> load_adversarial_set(p)["meta"]
        {'eps': 0.1}
    """
    unknown = set(extra) - set(TENSOR_KEYS)
    if unknown:
        raise ValueError(f"unknown adversarial-set keys {sorted(unknown)}; allowed: {TENSOR_KEYS}")
    if adv_inputs.shape != labels.shape:
        raise ValueError(f"labels must have the shape of adv_inputs: got {tuple(labels.shape)} "
                         f"and {tuple(adv_inputs.shape)}")
    payload: dict[str, Any] = {"adv_inputs": adv_inputs.detach().cpu(),
                               "labels": labels.detach().cpu()}
    payload.update({k: v.detach().cpu() for k, v in extra.items()})
    payload["save_type"] = "float"
    payload["meta"] = dict(meta or {})
    return atomic_torch_save(payload, path)


def load_adversarial_set(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_adversarial_set` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"adversarial set not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read adversarial set {path}: {exc}") from exc
    if not isinstance(payload, dict) or "adv_inputs" not in payload or "labels" not in payload:
        raise ValueError(f"{path} is not an adversarial set (needs 'adv_inputs' and 'labels')")
    return payload
