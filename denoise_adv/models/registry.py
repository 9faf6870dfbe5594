"""Model registry and checkpoint format.

A checkpoint is a plain dict, loadable with ``torch.load(..., weights_only=True)``::

    {"format": "denoise_adv.checkpoint", "version": 1,
     "model": "dncnn",                  # registry name
     "kwargs": {"channels": 1, ...},    # constructor arguments
     "state_dict": {...},
     "meta": {...}}                     # free-form: strategy, sigma, metrics, training state ...

Later work adds fields to ``meta``; the top-level keys stay.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .._io import atomic_torch_save, load_weights

__all__ = ["MODELS", "build", "load", "load_checkpoint", "register_model", "save_checkpoint"]

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


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (a registered model) and ``meta`` to ``path`` atomically.

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
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": name,
        "kwargs": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    return atomic_torch_save(payload, path)


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Returns:
        ``(model, meta)``; the model is in eval mode.
    """
    path = Path(path)
    payload = load_weights(path, "model checkpoint", map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a denoise_adv checkpoint")
    model = build(payload["model"], **payload["kwargs"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload["meta"]


def load(path_or_name: str | os.PathLike, map_location: str | torch.device = "cpu"
         ) -> nn.Module:
    """Load only the model of a checkpoint (see :func:`load_checkpoint`), or a shipped zoo
    model given as ``zoo:NAME`` (see :func:`~denoise_adv.models.pretrained`).

    A registered architecture name instead of a path raises :class:`ValueError` pointing to the
    zoo, ``denoise-adv convert`` (published weights) and ``denoise-adv train``.
    """
    if str(path_or_name).startswith("zoo:"):
        from .zoo import pretrained

        return pretrained(str(path_or_name), map_location)
    if str(path_or_name) in MODELS and not Path(path_or_name).exists():
        raise ValueError(f"{path_or_name!r} is an architecture name, not weights: load a shipped "
                         "model with load('zoo:NAME') (see denoise_adv.models.zoo_manifest()), "
                         "convert published weights with `denoise-adv convert`, train with "
                         f"`denoise-adv train`, or use build({str(path_or_name)!r}) for untrained "
                         "weights")
    return load_checkpoint(path_or_name, map_location)[0]
