"""Model registry and checkpoint format (how every loader in
:mod:`denoise_adv.models.loading` ends: a registered architecture and its weights).

A checkpoint is a plain dict, loadable with ``torch.load(..., weights_only=True)``::

    {"format": "denoise_adv.checkpoint", "version": 1,
     "model": "dncnn",                  # registry name
     "kwargs": {"channels": 1, ...},    # constructor arguments
     "state_dict": {...},
     "weights_sha256": "...",           # weights_sha256(state_dict), checked on load
     "meta": {...}}                     # free-form: strategy, sigma, metrics, training state ...

Later work adds fields to ``meta``; the top-level keys stay. ``weights_sha256`` was added later
(same format version): files without it (the shipped zoo's, older checkpoints) still load,
unverified by it; a file with it loads only if its weights hash to it, so a flipped byte in a
weight is an error, not a silently different model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .._io import atomic_torch_save, load_weights, plain_values

__all__ = ["MODELS", "build", "load_checkpoint", "register_model", "save_checkpoint",
           "weights_sha256"]

CHECKPOINT_FORMAT = "denoise_adv.checkpoint"
CHECKPOINT_VERSION = 1

MODELS: dict[str, type[nn.Module]] = {}

M = TypeVar("M", bound=type[nn.Module])


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator adding a model to :data:`MODELS` under ``name``.

    The class must expose its constructor arguments as a ``config`` dict.
    """

    def decorator(cls: M) -> M:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        cls.registry_name = name
        MODELS[name] = cls
        return cls

    return decorator


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Example:
        >>> build("dncnn", depth=3, features=8).config
        {'channels': 1, 'depth': 3, 'features': 8}
    """
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)


def weights_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The hex SHA-256 of a state dict's weights, in a fixed order: for each entry, sorted
    by name, its name, dtype, shape and the bytes of its values (C order, as stored on this
    machine: little-endian on every platform PyTorch ships for). Independent of the device
    and of the dict's order; any change of a value, a name, a dtype or a shape changes it.

    Example:
        >>> a = {"w": torch.zeros(2), "b": torch.ones(1)}
        >>> weights_sha256(a) == weights_sha256({"b": torch.ones(1), "w": torch.zeros(2)})
        True
        >>> weights_sha256(a) == weights_sha256({"w": torch.tensor([0.0, 1e-30]), "b": a["b"]})
        False
    """
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}] must be a tensor, got {type(tensor).__name__}")
        digest.update(f"{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        values = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(values.view(torch.uint8).numpy().tobytes() if values.numel() else b"")
    return digest.hexdigest()


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (a registered model) and ``meta`` to ``path`` atomically.

    ``meta`` holds plain values: NumPy scalars and arrays are stored as Python numbers and
    lists, paths as strings; anything else :func:`load_checkpoint` could not read back
    (``weights_only=True``) raises :class:`TypeError` here, before writing. The file records
    :func:`weights_sha256` of the weights, which :func:`load_checkpoint` verifies.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
        >>> _ = save_checkpoint(build("dncnn", depth=3, features=8), path, {"sigma": 25 / 255})
        >>> model, meta = load_checkpoint(path)
        >>> type(model).__name__, meta["sigma"] == 25 / 255
        ('DnCNN', True)
    """
    name = getattr(type(model), "registry_name", None)
    if name is None or not hasattr(model, "config"):
        raise TypeError(f"model must be a registered denoise_adv model, got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": name,
        "kwargs": dict(model.config),
        "state_dict": state,
        "weights_sha256": weights_sha256(state),
        "meta": plain_values(dict(meta or {}), "meta"),
    }
    return atomic_torch_save(payload, path)


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    The file is checked before anything is built from it: its format ``version``, the
    constructor arguments against the weights it holds (the model is first built on the
    ``meta`` device, which allocates nothing, and every tensor's name and shape must match, so
    a crafted ``{"features": 200000}`` cannot make it allocate terabytes), the weights must
    be finite and, when the file records ``weights_sha256`` (every file :func:`save_checkpoint`
    writes; older files and the shipped zoo's do not), they must hash to it.

    Returns:
        ``(model, meta)``; the model is in eval mode.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this format or version, arguments, weights and
            shapes that do not agree, or weights that do not match their recorded sha256
            (the message names the file and the entry).
    """
    path = Path(path)
    payload = load_weights(path, "model checkpoint", map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a denoise_adv checkpoint")
    name, kwargs, state = _checked_payload(payload, path)
    try:
        with torch.device("meta"):
            skeleton = build(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot build {name!r} from its kwargs {kwargs}: {exc}") from None
    _check_state_shapes(skeleton.state_dict(), state, path)
    model = build(name, **kwargs)
    model.load_state_dict(state)
    model.eval()
    return model, payload.get("meta", {})


def _checked_payload(payload: dict[str, Any], path: Path
                     ) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """``(name, kwargs, state_dict)`` of a checkpoint payload, each entry checked."""
    version = payload.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not (
            1 <= version <= CHECKPOINT_VERSION):
        raise ValueError(f"{path} has checkpoint format version {version!r}; this version of "
                         f"denoise_adv reads versions 1 to {CHECKPOINT_VERSION} (upgrade it to "
                         "read newer files)")
    name, kwargs, state = payload.get("model"), payload.get("kwargs"), payload.get("state_dict")
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"{path}: unknown model {name!r}; known: {sorted(MODELS)}")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"{path}: kwargs must be a dict of constructor arguments, got "
                         f"{type(kwargs).__name__}")
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{path}: state_dict must map names to tensors")
    if not isinstance(payload.get("meta", {}), dict):
        raise ValueError(f"{path}: meta must be a dict, got {type(payload['meta']).__name__}")
    _check_sizes(kwargs, state, path)
    _check_weights_sha256(payload, state, path)
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{path}: weight {key!r} contains NaN or Inf values")
    return name, kwargs, state


def _check_weights_sha256(payload: dict[str, Any], state: dict[str, torch.Tensor],
                          path: Path) -> None:
    """The weights hash to the file's ``weights_sha256`` (files without it are not checked)."""
    if "weights_sha256" not in payload:
        return
    recorded = payload["weights_sha256"]
    if not isinstance(recorded, str):
        raise ValueError(f"{path}: weights_sha256 must be a hex string, got "
                         f"{type(recorded).__name__}")
    if weights_sha256(state) != recorded:
        raise ValueError(f"{path}: its weights do not match the sha256 recorded with them "
                         "(weights_sha256): the file is damaged or was edited")


def _check_sizes(kwargs: dict[str, Any], state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse whole-number arguments larger than anything the weights could need (the number
    of tensors, their largest dimension, or 4096): building even on the ``meta`` device costs
    time and memory per layer."""
    bound = max([4096, len(state), *(max(v.shape, default=0) for v in state.values())])
    stack = list(kwargs.items())
    while stack:
        key, value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > bound:
            raise ValueError(f"{path}: kwargs {key}={value} is larger than its weights could "
                             f"need (at most {bound}); the file is damaged or crafted")


def _check_state_shapes(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                        path: Path) -> None:
    """Every tensor the kwargs imply, with its shape, and no other."""
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or wrong:
        parts = [f"{label} {', '.join(items[:3])}{', ...' if len(items) > 3 else ''}"
                 for label, items in (("missing", missing), ("unexpected", extra),
                                      ("wrong shapes", wrong)) if items]
        raise ValueError(f"{path}: the weights do not fit the model its kwargs describe "
                         f"({'; '.join(parts)})")

