"""Loading a model: the whole story, in one module.

Every way a model enters the package, and the module that keeps each part of it:

=====================================  ====================================================
what you have                          how it loads
=====================================  ====================================================
an architecture name                   :func:`~denoise_adv.models.build` (untrained;
                                       :mod:`~denoise_adv.models.registry`: the registry)
one of our checkpoints                 :func:`load` (``weights_only``, checked; the format is
                                       :mod:`~denoise_adv.models.registry`'s)
``zoo:NAME``, a shipped model          :func:`pretrained`: the file is checked against the
                                       manifest (:mod:`~denoise_adv.models.zoo`); its level
                                       is recorded as ``model.sigma`` (fixed-level: 25/255)
``zoo:NAME``, a published model        :func:`pretrained`: weights read from the user's
                                       installation of the authors' package
                                       (:mod:`~denoise_adv.models.published`)
another zoo's weights file (KAIR,      :func:`~denoise_adv.models.load_pretrained`: the
SwinIR, deepinv, IPOL)                 layout is detected (:mod:`~denoise_adv.models.pretrained`:
                                       the formats)
a *model spec* (any command's          :func:`load_model_spec`: ``zoo:NAME``, ``bm3d`` /
``--model``)                           ``nlmeans`` (the classical baselines at the run's
                                       sigma), or a file of any kind above
=====================================  ====================================================

Every loader returns the model in eval mode, its weights read with ``weights_only=True``. What
the model can do once loaded (a noise level or not, gradients, channels) is the denoiser
contract, :mod:`denoise_adv.models.contract`.

Imports run one way, with no deferred import: ``registry`` <- ``pretrained`` <- ``published``
<- ``zoo`` <- this module. The former homes of these functions (``zoo.pretrained``,
``zoo.load_model_spec``, ``registry.load``) still work: they are this module's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..noise import DEFAULT_SIGMA
from .pretrained import read_pretrained
from .published import PUBLISHED, load_published, published_info
from .registry import MODELS, build, load_checkpoint
from .zoo import BASELINES, known_names, shipped_file, zoo_manifest

__all__ = ["load", "load_model_spec", "pretrained"]


def pretrained(name: str, map_location: str | torch.device = "cpu",
               sigma: float | None = None) -> nn.Module:
    """A zoo model by name, in eval mode: a shipped model (its file checked against the
    manifest) or a published one (read from its package, see
    :mod:`~denoise_adv.models.published`).

    Args:
        name: a name of :func:`~denoise_adv.models.zoo_names` (``"dncnn-s25-normal"``,
            ``"ffdnet-ipol-gray"``...); ``"zoo:"`` optional.
        map_location: device to load onto. (Default: ``"cpu"``)
        sigma: the published (non-blind) models' default noise level, [0, 1] units
            (``None``: 25/255); ``model(x, s)`` still denoises at ``s``. The shipped models
            are fixed-level (sigma 25/255, recorded as ``model.sigma``): they refuse another
            level.

    Example:
        >>> model = pretrained("dncnn-s25-normal")
        >>> model.training, model(torch.rand(1, 1, 32, 32)).shape, round(model.sigma * 255)
        (False, torch.Size([1, 1, 32, 32]), 25)
    """
    name = str(name).removeprefix("zoo:")
    if name in PUBLISHED:
        return load_published(name, DEFAULT_SIGMA if sigma is None else sigma, map_location)
    path, entry = shipped_file(name)
    trained = entry["sigma"]
    if sigma is not None and abs(sigma - trained) > 1e-9:
        raise ValueError(f"zoo:{name} is a fixed-level model (trained at sigma "
                         f"{trained * 255:g}/255): it cannot denoise at sigma {sigma * 255:g}/255")
    model = load_checkpoint(path, map_location)[0]
    model.sigma = trained  # the contract's own level of a fixed-level model
    return model


def load(path_or_name: str | os.PathLike, map_location: str | torch.device = "cpu"
         ) -> nn.Module:
    """Load only the model of a checkpoint (see :func:`~denoise_adv.models.load_checkpoint`),
    or a zoo model given as ``zoo:NAME`` (see :func:`pretrained`).

    A registered architecture name instead of a path raises :class:`ValueError` pointing to the
    zoo, ``denoise-adv convert`` (published weights) and ``denoise-adv train``.
    """
    if str(path_or_name).startswith("zoo:"):
        return pretrained(str(path_or_name), map_location)
    if str(path_or_name) in MODELS and not Path(path_or_name).exists():
        raise ValueError(f"{path_or_name!r} is an architecture name, not weights: load a shipped "
                         "model with load('zoo:NAME') (see denoise_adv.models.zoo_manifest()), "
                         "convert published weights with `denoise-adv convert`, train with "
                         f"`denoise-adv train`, or use build({str(path_or_name)!r}) for untrained "
                         "weights")
    return load_checkpoint(path_or_name, map_location)[0]


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
    text = str(spec)
    if text[4:] in PUBLISHED and text.startswith("zoo:"):
        info = published_info(text)
        keep = ("package", "version", "sha256", "licence", "reference")
        return pretrained(text, map_location, sigma), {"spec": text, **{
            k: info[k] for k in keep if k in info}}
    if text.startswith("zoo:"):
        model = pretrained(text, map_location)
        entry = zoo_manifest()["models"][text[4:]]
        return model, {"spec": text, **{k: entry[k] for k in ("strategy", "steps", "sha256")}}
    if text in BASELINES:
        return build(text, sigma=sigma, channels=channels).eval(), {"spec": text,
                                                                    "baseline": True}
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {text} (give a checkpoint file, zoo:NAME "
                                f"({known_names()}), bm3d or nlmeans)")
    model, info = read_pretrained(path, map_location=map_location)
    meta = info.pop("source_meta", {})
    return model.eval(), {"spec": text, **info, **meta}
