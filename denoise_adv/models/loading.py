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
a model spec, ready to denoise         :func:`load_denoiser`: :func:`load_model_spec`, then
                                       :func:`~denoise_adv.models.as_denoiser` at sigma, on
                                       a device, with its channels and provenance
=====================================  ====================================================

:func:`model_label` names a model spec in reports (a zoo name only for the zoo's own file).

Every loader returns the model in eval mode, its weights read with ``weights_only=True``. What
the model can do once loaded (a noise level or not, gradients, channels) is the denoiser
contract, :mod:`denoise_adv.models.contract`.

Imports run one way, with no deferred import: ``registry`` <- ``pretrained`` <- ``published``
<- ``zoo`` <- this module (which also reads ``contract`` and ``adapters``) <- the package's
``__init__``. These functions live here only: ``registry`` and ``zoo`` keep no aliases for
them, so models/ has no import circle (``tests/models/test_import_graph.py`` checks it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from .._io import file_sha256
from ..noise import DEFAULT_SIGMA
from .adapters import as_denoiser
from .contract import channels_of
from .pretrained import read_pretrained
from .published import PUBLISHED, load_published, published_info
from .registry import MODELS, build, load_checkpoint
from .zoo import BASELINES, known_names, shipped_file, zoo_manifest

__all__ = ["LoadedDenoiser", "load", "load_denoiser", "load_model_spec", "model_label",
           "pretrained"]


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


class LoadedDenoiser(NamedTuple):
    """What :func:`load_denoiser` returns (a tuple: ``model, channels, meta = ...`` works):
    ``model``, the denoiser, ``model(noisy) -> clean`` (adapted by
    :func:`~denoise_adv.models.as_denoiser`), in eval mode, on the requested device;
    ``channels``, the image channels it declares (1 when it declares none); ``meta``, the
    spec's provenance (:func:`load_model_spec`'s ``meta``: ``"spec"`` and, by kind, strategy,
    sha256, package, ``"baseline"``...)."""

    model: nn.Module
    channels: int
    meta: dict[str, Any]


def load_denoiser(spec: str | os.PathLike, sigma: float = DEFAULT_SIGMA,
                  device: str | torch.device = "cpu", channels: int = 1) -> LoadedDenoiser:
    """A model spec, ready to denoise: loaded by :func:`load_model_spec` and adapted by
    :func:`~denoise_adv.models.as_denoiser` at ``sigma`` (models that take a noise level are
    fixed at it), on ``device``.

    Args:
        spec: a model spec: ``zoo:NAME``, ``bm3d``, ``nlmeans`` or a weights file (ours,
            KAIR, SwinIR, deepinv, IPOL).
        sigma: the noise level, [0, 1] units. (Default: :data:`~denoise_adv.noise.DEFAULT_SIGMA`,
            25/255)
        device: where the model runs. (Default: ``"cpu"``)
        channels: the image channels the classical baselines are built for (the other specs
            bring their own). (Default: 1)

    Returns:
        ``(model, channels, meta)`` as a :class:`LoadedDenoiser`.

    Raises:
        ValueError: an unknown zoo name or baseline, or a file of no known layout.
        FileNotFoundError: a path that does not exist.

    Example:
        >>> loaded = load_denoiser("zoo:dncnn-s25-normal")
        >>> loaded.channels, loaded.meta["strategy"], loaded.model(torch.rand(1, 1, 8, 8)).shape
        (1, 'normal', torch.Size([1, 1, 8, 8]))
        >>> model, channels, meta = load_denoiser("nlmeans", 25 / 255, channels=3)
        >>> channels, meta["baseline"]
        (3, True)
    """
    model, meta = load_model_spec(spec, sigma, map_location=device, channels=channels)
    return LoadedDenoiser(as_denoiser(model, sigma).to(device), channels_of(model, 1), meta)


def model_label(spec: str | os.PathLike) -> str:
    """A short name for a model spec, for reports: ``zoo:NAME`` -> NAME,
    ``.../NAME/model.pt`` -> NAME, else the file stem (or the baseline's name).

    A zoo model's name is earned by content, not by file name: a file whose name gives a
    name of the zoo's manifest (``dncnn-s25-normal.pt``, ``.../dncnn-s25-normal/model.pt``)
    is labelled so only if it IS that zoo file (the manifest's sha256). Any other file, a
    tampered, retrained or renamed copy, gets ``NAME-file-`` and the first 8 hex digits of its
    own sha256 (``dncnn-s25-normal-file-1a2b3c4d``): never the zoo's name in a report.

    Example:
        >>> model_label("zoo:dncnn-s25-normal"), model_label("runs/ts-def/model.pt")
        ('dncnn-s25-normal', 'ts-def')
        >>> model_label("nlmeans"), model_label("weights/mine.pt")
        ('nlmeans', 'mine')
    """
    text = str(spec)
    if text.startswith("zoo:"):
        return text[4:]
    path = Path(text)
    label = path.parent.name if path.name == "model.pt" else path.stem
    entry = zoo_manifest()["models"].get(label)
    if entry is None or not path.is_file():
        return label
    digest = file_sha256(path)
    return label if digest == entry.get("sha256") else f"{label}-file-{digest[:8]}"
