"""Fine-tuning from any model: the source of :attr:`TrainConfig.init`.

``init`` takes every model spec :func:`~denoise_adv.models.load_model_spec` reads: one of our
checkpoints, ``zoo:NAME`` (the shipped DnCNNs and the published FFDNets) or a file of published
weights in a known layout (:func:`~denoise_adv.models.read_pretrained`). The run's
architecture comes from the source: ``model`` (its registry name), ``model_kwargs`` (its
``config`` without ``channels``) and ``channels`` are set from it, and options that say
otherwise are refused (:func:`resolve_init`). The source's sha256 is recorded as
``init_sha256``: the file's, or for ``zoo:`` names the one their manifest records (the file
read is checked against it). A resumed run reads the source again only to check that it is
the same (its weights come from the checkpoint).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.contract import channels_of
from ..noise import DEFAULT_SIGMA
from .config import TrainConfig

__all__ = ["InitSource", "read_init", "resolve_init"]


@dataclass(frozen=True)
class InitSource:
    """What a fine-tuning run starts from.

    Args:
        spec: the model spec as given.
        sha256: the file's sha256 (for ``zoo:`` names, the recorded one).
        model: registry name of its architecture.
        kwargs: its constructor arguments, ``channels`` excluded.
        channels: its image channels.
    """

    spec: str
    sha256: str
    model: str
    kwargs: dict[str, Any]
    channels: int


def read_init(spec: str, sigma: float = DEFAULT_SIGMA, map_location: str | torch.device = "cpu"
              ) -> tuple[nn.Module, InitSource]:
    """Load a fine-tuning source and describe it.

    Args:
        spec: a model spec (checkpoint, ``zoo:NAME``, published or converted weights).
        sigma: default level given to published non-blind models (unused by training).
        map_location: device to load onto.

    Raises:
        ValueError: a classical baseline or any model without trainable weights, or a spec
            :func:`~denoise_adv.models.load_model_spec` refuses.
        FileNotFoundError: no such file.

    Example:
        >>> _, source = read_init("zoo:dncnn-s25-normal")
        >>> source.model, source.kwargs, source.channels
        ('dncnn', {'depth': 10, 'features': 32}, 1)
    """
    from .._io import file_sha256
    from ..models import load_model_spec

    text = str(spec)
    model, meta = load_model_spec(text, sigma, map_location)
    name = getattr(type(model), "registry_name", None)
    if meta.get("baseline") or name is None or not any(p.requires_grad
                                                         for p in model.parameters()):
        raise ValueError(f"init must be a model with trainable weights (a checkpoint, zoo:NAME "
                         f"or published weights), got {text!r} ({type(model).__name__})")
    sha = meta.get("sha256") or file_sha256(Path(text))  # the loader hashed the file already
    config = dict(model.config)
    channels = int(config.pop("channels", channels_of(model, 1)))
    return model, InitSource(text, sha, name, config, channels)


def resolve_init(config: TrainConfig, explicit: Collection[str] = ()
                 ) -> tuple[TrainConfig, nn.Module | None]:
    """``config`` with its architecture and ``init_sha256`` taken from ``config.init``, and the
    source model (``(config, None)`` without ``init``).

    A field among ``model`` and ``channels`` that differs from the source is refused if it is
    in ``explicit`` (the options the user gave; the command line passes them) or differs from
    its default (Python callers); fields at their default take the source's values.
    ``model_kwargs`` may repeat the source's arguments (or their defaults) but not change one.

    Raises:
        ValueError: a contradiction (the message names the field and the source's value), or
            an ``init_sha256`` that is not the source's (the source changed).
    """
    if not config.init:
        if config.init_sha256:
            raise ValueError("init_sha256 is set but init is not: give the model it belongs to")
        return config, None
    model, source = read_init(config.init, config.sigma)
    _check_agrees(config, source, explicit)
    if config.init_sha256 not in (None, source.sha256):
        raise ValueError(f"init {source.spec} has sha256 {source.sha256[:12]}..., not the "
                         f"recorded init_sha256 {config.init_sha256[:12]}...: the source changed")
    return dataclasses.replace(config, model=source.model, model_kwargs=dict(source.kwargs),
                               channels=source.channels, init_sha256=source.sha256), model


def _check_agrees(config: TrainConfig, source: InitSource, explicit: Collection[str]) -> None:
    defaults = TrainConfig()
    described = f"init {source.spec} (model {source.model}, channels {source.channels})"
    for name in ("model", "channels"):
        mine, theirs = getattr(config, name), getattr(source, name)
        if mine != theirs and (name in explicit or mine != getattr(defaults, name)):
            raise ValueError(f"{name} {mine!r} contradicts {described}: the architecture comes "
                             f"from the source; leave {name} out")
    if config.model_kwargs:
        differ = _kwargs_differ(config.model_kwargs, source)
        if differ:
            raise ValueError(f"model_kwargs {', '.join(differ)} contradict {described}: the "
                             "architecture comes from the source; leave them out")


def _kwargs_differ(kwargs: dict[str, Any], source: InitSource) -> list[str]:
    """``name=value (source: value)`` of the arguments that would build another model."""
    from ..models import build

    if not isinstance(kwargs, dict):
        raise ValueError(f"model_kwargs must be a JSON object, got {kwargs!r}")
    try:
        with torch.device("meta"):
            built = build(source.model, channels=source.channels,
                          **{**source.kwargs, **kwargs}).config
            reference = build(source.model, channels=source.channels, **source.kwargs).config
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model_kwargs {kwargs} do not fit init {source.spec} "
                         f"({source.model}): {exc}") from None
    keys = sorted(set(built) | set(reference))
    return [f"{k}={kwargs.get(k, built.get(k))!r} (source: {reference.get(k, 'default')!r})"
            for k in keys if built.get(k) != reference.get(k)]
