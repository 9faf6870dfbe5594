"""The model zoo shipped inside the package, and model specs for every command.

The zoo's weights are package data (``denoise_adv/models/zoo/NAME.pt``) described by
``manifest.json``: for each model its training configuration, data, steps, seed, machine and
time, the file's sha256, and its Gaussian PSNR/SSIM on ``builtin:test`` at sigma 25 (noise seed
0). ``experiments/train_zoo.sh`` trains the models and ``experiments/export_zoo.py`` writes
them here; the tests re-evaluate every shipped model against its manifest.

A *model spec*, accepted wherever a command takes a model (:func:`load_model_spec`):
``zoo:NAME`` (a shipped model), ``bm3d`` / ``nlmeans`` (classical baselines at the run's
sigma), or a file: one of our checkpoints or a converted-on-the-fly pretrained file of a known
layout (KAIR, SwinIR, deepinv; see :func:`~denoise_adv.models.load_pretrained`).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import file_sha256

__all__ = ["ZOO_DIR", "load_model_spec", "pretrained", "zoo_manifest"]

#: Where the shipped weights live (inside the installed package).
ZOO_DIR = Path(__file__).with_name("zoo")
_BASELINES = ("bm3d", "nlmeans")


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    path = ZOO_DIR / "manifest.json"
    if not path.is_file():
        return {"models": {}}
    return json.loads(path.read_text())


def zoo_manifest() -> dict[str, Any]:
    """The manifest of the shipped zoo: ``{"protocol": ..., "models": {NAME: entry}}``.

    Example:
        >>> "dncnn-s25-normal" in zoo_manifest()["models"]
        True
    """
    return json.loads(json.dumps(_manifest()))  # a copy: callers may edit theirs


def pretrained(name: str, map_location: str | torch.device = "cpu") -> nn.Module:
    """A shipped zoo model by name, in eval mode (its file checked against the manifest).

    Args:
        name: a name of :func:`zoo_manifest` (``"dncnn-s25-normal"``...); ``"zoo:"`` optional.
        map_location: device to load onto. (Default: ``"cpu"``)

    Example:
        >>> model = pretrained("dncnn-s25-normal")
        >>> model.training, model(torch.rand(1, 1, 32, 32)).shape
        (False, torch.Size([1, 1, 32, 32]))
    """
    from .registry import load_checkpoint

    name = str(name).removeprefix("zoo:")
    models = _manifest()["models"]
    if name not in models:
        known = ", ".join(sorted(models)) or "none (the package was installed without them)"
        raise ValueError(f"unknown zoo model {name!r}; shipped: {known}")
    path = ZOO_DIR / models[name]["file"]
    if not path.is_file():
        raise FileNotFoundError(f"zoo model {name} is missing from the installation: {path}")
    if file_sha256(path) != models[name]["sha256"]:
        raise ValueError(f"zoo model file {path} does not match its manifest (sha256)")
    return load_checkpoint(path, map_location)[0]


def load_model_spec(spec: str | os.PathLike, sigma: float,
                    map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(model, meta)`` of a model spec (see the module docstring); the model is in eval mode
    and not yet adapted to a noise level (use :func:`~denoise_adv.models.as_denoiser`).

    Raises:
        ValueError: an unknown zoo name or baseline, or a file of no known layout.
        FileNotFoundError: a path that does not exist.

    Example:
        >>> model, meta = load_model_spec("nlmeans", 25 / 255)
        >>> type(model).__name__, meta["spec"]
        ('NLMeans', 'nlmeans')
    """
    from .pretrained import read_pretrained

    text = str(spec)
    if text.startswith("zoo:"):
        model = pretrained(text, map_location)
        entry = _manifest()["models"][text[4:]]
        return model, {"spec": text, **{k: entry[k] for k in ("strategy", "steps", "sha256")}}
    if text in _BASELINES:
        from .registry import build

        return build(text, sigma=sigma).eval(), {"spec": text, "baseline": True}
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {text} (give a checkpoint file, zoo:NAME "
                                f"with NAME in {sorted(_manifest()['models'])}, bm3d or nlmeans)")
    model, info = read_pretrained(path, map_location=map_location)
    meta = info.pop("source_meta", {})
    return model.eval(), {"spec": text, **info, **meta}
