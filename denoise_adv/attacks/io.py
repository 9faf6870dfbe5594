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

:func:`load_adversarial_set` trusts nothing in the file: every tensor must be a finite float
(N, C, H, W) tensor of the same shape, ``meta`` a dict whose known fields have their types
(``images``: N distinct names; ``sigma`` and budgets: finite numbers >= 0), and where the set
holds the inputs before the attack (``clean_inputs``) the perturbation must lie within the
budget it records (L-inf or L2, per pixel or absolute; with ``clip`` the distance to the clipped
input). Any violation raises a one-line :class:`ValueError` naming the file and the field.
"""

from __future__ import annotations

import math
import os
from numbers import Real
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_torch_save, load_weights, plain_values

__all__ = ["load_adversarial_set", "save_adversarial_set"]

TENSOR_KEYS = ("adv_inputs", "labels", "preds", "clean_inputs")
#: Attacks whose saved sets record an L-inf (``eps``) or an L2 (``eps``, ``per_pixel``) budget.
_LINF_ATTACKS = ("DenoisePGD", "DenoiseFGSM", "DenoiseBIM")
_L2_ATTACKS = ("DenoisePGDL2", "ObsAtk")
#: Attacks whose saved sets record their norm (``norm``: Linf or L2), ``eps``, ``per_pixel``.
_NORM_ATTACKS = ("DenoiseAPGD", "DenoiseSquare")
#: Relative slack of the budget check (float32 rounding of ``noisy + delta``).
_SLACK = 1e-4


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
        meta: plain values describing how the set was made (NumPy scalars and paths are
            stored as numbers and strings; values that could not be read back raise
            :class:`TypeError` here).
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
    payload["meta"] = plain_values(dict(meta or {}), "meta")
    return atomic_torch_save(payload, path)


def load_adversarial_set(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_adversarial_set` (``weights_only=True``), checking
    every field (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unreadable file, or a field that is missing, of the wrong type or shape,
            not finite, or a perturbation larger than the recorded budget.
    """
    path = Path(path)
    payload = load_weights(path, "adversarial set")
    if not isinstance(payload, dict) or "adv_inputs" not in payload or "labels" not in payload:
        raise ValueError(f"{path} is not an adversarial set (needs 'adv_inputs' and 'labels')")
    _check_tensors(payload, path)
    _check_meta(payload, path)
    _check_budget(payload, path)
    return payload


def _check_tensors(payload: dict[str, Any], path: Path) -> None:
    unknown = sorted(set(payload) - {*TENSOR_KEYS, "save_type", "meta"}, key=str)
    if unknown:
        raise ValueError(f"{path}: unexpected entries {unknown}; an adversarial set holds "
                         f"{', '.join(TENSOR_KEYS)}, save_type and meta")
    if payload.get("save_type", "float") != "float":
        raise ValueError(f"{path}: save_type must be 'float', got {payload['save_type']!r}")
    shape = None
    for key in TENSOR_KEYS:
        if key not in payload:
            continue
        value = payload[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            kind = f"a {value.dtype} tensor" if isinstance(value, torch.Tensor) else (
                f"a {type(value).__name__}")
            raise ValueError(f"{path}: {key} must be a float tensor (N, C, H, W), got {kind}")
        if value.dim() != 4 or value.numel() == 0:
            raise ValueError(f"{path}: {key} must have shape (N, C, H, W) with N >= 1, got "
                             f"{tuple(value.shape)}")
        if shape is not None and value.shape != shape:
            raise ValueError(f"{path}: {key} has shape {tuple(value.shape)} but adv_inputs has "
                             f"{tuple(shape)}: every tensor holds one entry per image")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{path}: {key} contains NaN or Inf values")
        shape = value.shape if shape is None else shape


def _number(meta: dict[str, Any], key: str, path: Path, where: str = "meta") -> float | None:
    """``meta[key]`` as a finite float >= 0, or None when absent."""
    if key not in meta:
        return None
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or (
            value < 0):
        raise ValueError(f"{path}: {where} {key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_meta(payload: dict[str, Any], path: Path) -> None:
    meta = payload.setdefault("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: meta must be a dict, got {type(meta).__name__}")
    count = len(payload["adv_inputs"])
    if "images" in meta:
        names = meta["images"]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{path}: meta images must be a list of image names")
        if len(names) != count:
            raise ValueError(f"{path}: meta names {len(names)} image(s) but the set holds "
                             f"{count}")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"{path}: meta images lists {twice} more than once")
    for key in ("sigma", "eps", "alpha"):
        _number(meta, key, path)
    shape = list(payload["adv_inputs"].shape[1:])
    if "shape" in meta and (not isinstance(meta["shape"], (list, tuple))
                            or list(meta["shape"]) != shape):
        raise ValueError(f"{path}: meta shape {meta['shape']!r} is not the shape of its images "
                         f"{shape}")
    protocol = meta.get("attack_protocol")
    if protocol is not None:
        if not isinstance(protocol, dict):
            raise ValueError(f"{path}: meta attack_protocol must be a dict, got "
                             f"{type(protocol).__name__}")
        if protocol.get("norm") not in ("linf", "l2"):
            raise ValueError(f"{path}: attack_protocol norm must be 'linf' or 'l2', got "
                             f"{protocol.get('norm')!r}")
        if _number(protocol, "eps", path, "attack_protocol") is None:
            raise ValueError(f"{path}: attack_protocol records no eps")
    for where, record in (("meta", meta), ("attack_protocol", protocol or {})):
        if not isinstance(record.get("per_pixel", False), bool):  # "no" would read as True
            raise ValueError(f"{path}: {where} per_pixel must be true or false, got "
                             f"{record['per_pixel']!r}")


def _recorded_budget(meta: dict[str, Any]) -> tuple[str, float, bool, Any] | None:
    """``(norm, eps, per_pixel, clip)`` that the set's metadata records, or None."""
    protocol = meta.get("attack_protocol")
    if isinstance(protocol, dict):
        return (protocol["norm"], float(protocol["eps"]), protocol.get("per_pixel",
                protocol["norm"] == "l2"), protocol.get("clip"))
    if meta.get("attack") in _NORM_ATTACKS and "eps" in meta and "norm" in meta:
        norm = str(meta["norm"]).lower()
        return norm, float(meta["eps"]), bool(meta.get("per_pixel", False)), meta.get("clip")
    if meta.get("attack") in _LINF_ATTACKS + _L2_ATTACKS and "eps" in meta:
        norm = "linf" if meta["attack"] in _LINF_ATTACKS else "l2"
        return norm, float(meta["eps"]), bool(meta.get("per_pixel", False)), meta.get("clip")
    return None


def _check_budget(payload: dict[str, Any], path: Path) -> None:
    """The perturbation ``adv_inputs - clean_inputs`` lies within the recorded budget."""
    budget = _recorded_budget(payload["meta"])
    if budget is None or "clean_inputs" not in payload:
        return
    norm, eps, per_pixel, clip = budget
    reference = payload["clean_inputs"].double()
    if clip is not None:
        if not (isinstance(clip, (list, tuple)) and len(clip) == 2 and all(
                isinstance(c, Real) and math.isfinite(c) for c in clip)):
            raise ValueError(f"{path}: meta clip must be None or [low, high], got {clip!r}")
        reference = reference.clamp(*clip)  # clipping is 1-Lipschitz: the budget still holds
    delta = payload["adv_inputs"].double() - reference
    rounding = 4 * torch.finfo(payload["adv_inputs"].dtype).eps * max(
        1.0, payload["adv_inputs"].abs().max().item())
    if norm == "linf":
        size, limit = delta.abs().max().item(), eps * (1 + _SLACK) + rounding
        what = f"||delta||_inf = {size:.6g}"
    else:
        d = delta[0].numel()
        radius = eps * math.sqrt(d) if per_pixel else eps
        size = delta.flatten(1).norm(dim=1).max().item()
        limit = radius * (1 + _SLACK) + rounding * math.sqrt(d)
        what = f"||delta||_2 = {size:.6g} (radius {radius:.6g})"
    if size > limit:
        raise ValueError(f"{path}: the perturbation exceeds the budget it records: {what} > "
                         f"{norm} eps {eps:.6g} ({eps * 255:.4g}/255); the file was edited or "
                         "made otherwise")
