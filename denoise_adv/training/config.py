"""Every training option, declared once.

Each field of :class:`TrainConfig` carries its help text, its unit and its command-line form in
its metadata; ``denoise-adv train``'s options are generated from them
(:mod:`denoise_adv.cli.train`), and the same names are the keys of ``--config`` files and of
the ``config`` stored in checkpoints. Noise levels and budgets are in [0, 1] units here; fields
with ``unit="level"`` take 8-bit levels on the command line (``--sigma 25`` = 25/255).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .._amp import AMP_CHOICES, native_bf16
from .._checks import check_int, check_real
from ..data import MAX_PIXELS
from ..noise import DEFAULT_SIGMA, DEFAULT_TS_ITERATIONS, LEVEL
from .strategies import STRATEGIES

__all__ = ["TrainConfig", "option"]


def option(default: Any, help: str, *, unit: str | None = None, flag: str | None = None,
           choices: tuple | None = None, cli: bool = True, steers: bool = True) -> Any:
    """A :class:`TrainConfig` field with its documentation.

    Args:
        default: the default value (a list/dict default is copied per instance).
        help: the help text (the CLI adds the default).
        unit: ``"level"`` for values given in 8-bit levels on the command line.
        flag: command-line name when it is not ``--field-name``.
        choices: allowed values.
        cli: offer the field on the command line.
        steers: the field changes the training trajectory (resume refuses a change).
    """
    metadata = {"help": help, "unit": unit, "flag": flag, "choices": choices, "cli": cli,
                "steers": steers}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything a training run depends on (levels in [0, 1] units); see
    ``denoise-adv train --help`` for each field's meaning.

    Example:
        >>> TrainConfig(strategy="ts-def", max_steps=10).validate().batch_size
        128
    """

    out: str | None = option(None, "output folder (None in Python: keep nothing on disk)",
                             steers=False)
    model: str = option("dncnn", "registered model name")
    model_kwargs: dict[str, Any] = option({}, "JSON constructor arguments, e.g. "
                                           '\'{"depth": 8, "features": 32}\'')
    init: str | None = option(None, "fine-tune: start from this model's weights (a checkpoint, "
                              "zoo:NAME, or published/converted weights); the architecture "
                              "(model, model_kwargs, channels) comes from it")
    init_sha256: str | None = option(None, "sha256 of init (its file's; the recorded one for "
                                     "zoo: names): set from init, checked on resume", cli=False,
                                     steers=False)
    channels: int = option(1, "image channels", choices=(1, 3))
    strategy: str = option("normal", "noise sampling strategy", choices=STRATEGIES)
    sigma: float = option(DEFAULT_SIGMA, "noise level; non-blind models (FFDNet) are told it as "
                          "their noise map in training (TS and mixed noise included) and "
                          "validation, or under --blind each sample's drawn level", unit="level")
    data: str = option("builtin:train", "folder of clean images, an image, or builtin:train")
    val_data: str | None = option("builtin:test", "validation images, or 'none'")
    val_crop: int | None = option(128, "centre crop of validation images, 0 for none")
    patch_size: int = option(40, "patch side")
    stride: int = option(10, "distance between patches")
    scales: tuple[float, ...] = option((1.0, 0.9, 0.8, 0.7), "comma-separated rescaling "
                                       "factors of the training images")
    batch_size: int = option(128, "global batch size")
    epochs: int = option(50, "epochs")
    max_steps: int | None = option(None, "stop after this many steps", flag="--steps",
                                   steers=False)
    optimizer: str = option("adam", "optimizer", choices=("adam", "sgd"))
    lr: float = option(1e-3, "learning rate")
    milestones: tuple[int, ...] = option((30,), "epochs where the learning rate is multiplied "
                                         "by --gamma")
    gamma: float = option(0.1, "learning-rate decay factor, in (0, 1]")
    ts_iterations: float = option(float(DEFAULT_TS_ITERATIONS), "TS strategies: iterations T")
    ts_method: str = option("exact", "TS strategies: sampler", choices=("exact", "screening"))
    blind: bool = option(False, "blind training: a noise level per sample, uniform in "
                         "--blind-range (normal, ts-pres, ts-def)")
    blind_range: tuple[float, float] = option((0.0, 55 / LEVEL), "blind training: sigma "
                                              "range low,high", unit="level")
    adv_norm: str = option("linf", "adversarial strategy: attack norm", choices=("linf", "l2"))
    adv_eps: float = option(2 / LEVEL, "adversarial strategy: budget per pixel (L2: RMS)",
                            unit="level")
    adv_alpha: float = option(0.5 / LEVEL, "adversarial strategy: step size", unit="level")
    adv_steps: int = option(3, "adversarial strategy: attack steps")
    freeze_batchnorm: bool = option(False, "keep BatchNorm layers in eval mode (normalising "
                                    "with their running statistics, which stay unchanged): "
                                    "fine-tuning a model trained with BatchNorm on small batches")
    seed: int = option(0, "seed of initialisation, patches, noise and attacks")
    checkpoint_every: int = option(0, "also checkpoint every N steps (0: epoch ends only)",
                                   steers=False)
    workers: int = option(0, "DataLoader workers", steers=False)
    device: str = option("auto", "auto, cpu, cuda, cuda:N", steers=False)
    amp: str | None = option(None, "mixed precision of the model's forward and backward: bf16 "
                             "autocast, fp32, or auto (bf16 where the device computes it "
                             "natively, else fp32; recorded as what it chose) (the adversarial "
                             "strategy's attack still crafts in float32, at full strength)",
                             choices=(*AMP_CHOICES, "fp32", "auto"))
    channels_last: bool = option(False, "channels_last memory format", steers=False)
    max_pixels: int | None = option(MAX_PIXELS, "refuse images of more pixels (width x height) "
                                    "than this before decoding them", steers=False)
    progress: bool = option(True, "progress bar", cli=False, steers=False)

    def __post_init__(self) -> None:
        if self.amp == "auto":  # the machine's choice, recorded as what it chose
            self.amp = "bf16" if native_bf16(_amp_device(self.device)) else None
        if self.amp == "fp32":  # float32 spelt as the attack commands spell it: stored as None
            self.amp = None

    def validate(self) -> TrainConfig:
        """Raise :class:`ValueError` naming the first bad field; returns ``self``."""
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise ValueError(f"{f.name} must be one of {choices}, got {value!r}")
        for name in ("batch_size", "epochs", "patch_size", "stride", "adv_steps"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("checkpoint_every", "workers"):
            check_int(getattr(self, name), name, minimum=0)
        if self.max_pixels is not None:
            check_int(self.max_pixels, "max_pixels", minimum=1)
        if self.max_steps is not None:
            check_int(self.max_steps, "max_steps", minimum=1)
        for name in ("sigma", "adv_eps", "adv_alpha", "ts_iterations"):
            check_real(getattr(self, name), name, minimum=0.0)
        check_real(self.lr, "lr", minimum=0.0, strict=True)
        if not 0 < check_real(self.gamma, "gamma") <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if any(isinstance(m, bool) or int(m) != m or m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be whole epochs >= 1, got {list(self.milestones)}")
        if len(self.blind_range) != 2 or not 0 <= self.blind_range[0] <= self.blind_range[1]:
            raise ValueError(f"blind_range must be (low, high) with 0 <= low <= high, got "
                             f"{self.blind_range}")
        if any(not 0 < s <= 1 for s in self.scales) or not self.scales:
            raise ValueError(f"scales must be in (0, 1], got {self.scales}")
        check_model_budget(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict`; unknown keys raise :class:`ValueError`."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown training option(s): {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) and "tuple" in str(names[k].type)
                      else v for k, v in values.items()})

    def trajectory_changes(self, saved: dict[str, Any]) -> list[str]:
        """Fields that steer training and differ from ``saved`` (a stored :meth:`to_dict`)."""
        mine, defaults = self.to_dict(), TrainConfig().to_dict()
        return sorted(f.name for f in dataclasses.fields(self) if f.metadata["steers"]
                      and saved.get(f.name, defaults[f.name]) != mine[f.name])


#: Largest whole number a model constructor argument may be (depth, features, ...): building a
#: model takes time per layer even on the ``meta`` device, so ``depth=100000000`` would hang
#: before its memory could be counted. The checkpoint loader refuses beyond the same floor.
MAX_MODEL_ARGUMENT = 4096


def _whole_numbers(kwargs: dict[str, Any]) -> list[tuple[str, int]]:
    """``(name, value)`` of every whole number in ``kwargs`` (inside lists and tuples too)."""
    found, stack = [], list(kwargs.items())
    while stack:
        key, value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append((key, value))
    return found


def _training_bytes(config: TrainConfig, world: int) -> float:
    """Memory one process needs at least to train ``config``'s model: weights, gradients and
    the optimizer's state, plus the outputs of the layers with weights (which backward keeps)
    for one batch of patches. Counted on the ``meta`` device: nothing is allocated."""
    import torch

    from ..models import as_denoiser, build

    kwargs = config.model_kwargs
    try:
        with torch.device("meta"):
            model = build(config.model, channels=config.channels, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model_kwargs {kwargs} cannot build {config.model!r}: {exc}") from None
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    copies = 4 if config.optimizer == "adam" else 3  # weights, gradients, moments (or momentum)
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel() * o.element_size()))
             for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    batch = max(1, config.batch_size // world)
    try:
        with torch.device("meta"), torch.no_grad():
            as_denoiser(model, config.sigma)(
                torch.empty(batch, config.channels, config.patch_size, config.patch_size))
    except Exception:  # a model the meta device cannot run: its weights alone are counted
        outputs.clear()
    finally:
        for hook in hooks:
            hook.remove()
    return copies * weights + sum(outputs)


def check_model_budget(config: TrainConfig) -> None:
    """Refuse, before anything is built, models too large to train here: whole-number
    ``model_kwargs`` above :data:`MAX_MODEL_ARGUMENT`, and models whose training needs more
    memory than the device has (:func:`~denoise_adv._checks.check_budget`); and TS screening
    with a T that could not finish (the exact sampler has no such bound)."""
    import os

    from .._checks import check_budget
    from .._io import resolve_device

    if not isinstance(config.model_kwargs, dict) or not all(
            isinstance(k, str) for k in config.model_kwargs):
        raise ValueError(f"model_kwargs must be a JSON object of constructor arguments, got "
                         f"{config.model_kwargs!r}")
    for key, value in _whole_numbers(config.model_kwargs):
        if abs(value) > MAX_MODEL_ARGUMENT:
            raise ValueError(f"model_kwargs {key}={value} is larger than "
                             f"{MAX_MODEL_ARGUMENT}, the most a model argument may be (the "
                             "model could not be built, let alone trained)")
    world = max(1, int(os.environ.get("WORLD_SIZE", "1")))
    device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    kwargs = ", ".join(f"{k}={v}" for k, v in config.model_kwargs.items()) or "defaults"
    check_budget("model_kwargs", f"training {config.model} ({kwargs}) on batches of "
                 f"{config.batch_size // world} patches of {config.patch_size}x"
                 f"{config.patch_size}", nbytes=_training_bytes(config, world), device=device,
                 advice="choose a smaller model or batch")
    if config.ts_method == "screening" and config.strategy.startswith("ts"):
        from ..noise import _check_screening

        _check_screening((config.batch_size // world, config.channels, config.patch_size,
                          config.patch_size), config.ts_iterations)


def _amp_device(device: str) -> str:
    """The device type ``amp="auto"`` asks about (``"auto"``: CUDA where there is one)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device).split(":")[0]
