"""``denoise-adv train``: train a denoiser with a sampling strategy.

The options are generated from :class:`~denoise_adv.training.TrainConfig`'s fields (each
declared once with its help text and unit); ``--config FILE`` supplies values for the same
names, and options given on the command line win.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from .common import LEVEL, declare_output

#: Command-line shortcuts that are not training options of their own.
_SHORTCUTS = ("depth", "features")


def add(sub: argparse._SubParsersAction) -> None:
    from ..training import TrainConfig

    p = sub.add_parser(
        "train",
        help="train a denoiser with a sampling strategy (normal, TS, mixed, blind, adversarial)",
        description="Train a denoiser on DnCNN-style patches with the noise of a strategy; "
        "writes OUT/model.pt (the model), OUT/checkpoint.pt (to --resume), OUT/log.csv and "
        "OUT/log.json. Defaults are DnCNN's recipe (Adam 1e-3, MultiStepLR x0.1 at epoch 30, "
        "batch 128 of 40x40 patches, sigma 25, 50 epochs). Levels are 8-bit: --sigma 25 means "
        "25/255. Runs under torchrun --nproc_per_node N with DistributedDataParallel. "
        "--config FILE (JSON or TOML, keys = option names) sets defaults that options override. "
        "--init MODEL fine-tunes any model (a checkpoint, zoo:NAME, published weights): the "
        "architecture comes from it (--model, --model-kwargs, --depth, --features and --channels "
        "may be left out, and must agree with it when given); non-blind models (FFDNet) are "
        "told the nominal --sigma, or each sample's level under --blind.",
        argument_default=argparse.SUPPRESS)
    p.add_argument("--config", help="JSON or TOML file of option values")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an OUT that already holds a run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--depth", type=int, help="shortcut for model_kwargs depth")
    p.add_argument("--features", type=int, help="shortcut for model_kwargs features")
    for f in dataclasses.fields(TrainConfig):
        if f.metadata["cli"]:
            _add_field(p, f, TrainConfig())
    declare_output(p, "out", "folder")
    p.set_defaults(func=run)


def _flags(f: dataclasses.Field) -> list[str]:
    """The option strings of field ``f``: its ``flag`` (``--steps``) first, and the field's own
    name (``--max-steps``) as an alias of it, so that both spellings, which the ``--config``
    file also takes, work on the command line."""
    own = "--" + f.name.replace("_", "-")
    flag = f.metadata["flag"]
    return [flag, own] if flag and flag != own else [own]


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, defaults: Any) -> None:
    meta, default = f.metadata, getattr(defaults, f.name)
    flags = _flags(f)
    shown = _to_cli(f, default)
    unit = " (8-bit levels)" if meta["unit"] == "level" else ""
    help_text = f"{meta['help']}{unit}" + ("" if default is None else f" (default: {shown})")
    if f.type == "bool":
        p.add_argument(*flags, dest=f.name, action="store_true", help=help_text)
        return
    # argparse compares the text given with the choices: numeric choices (--channels) as text
    choices = None if not meta["choices"] else [str(c) for c in meta["choices"]]
    p.add_argument(*flags, dest=f.name, choices=choices, help=help_text,
                   metavar=None if choices else f.name.upper())


def _to_cli(f: dataclasses.Field, value: Any) -> str:
    scale = LEVEL if f.metadata["unit"] == "level" else 1.0
    if isinstance(value, tuple):
        return ",".join(f"{v * scale:g}" for v in value)
    if isinstance(value, float):
        return f"{value * scale:g}"
    return json.dumps(value) if isinstance(value, dict) else str(value)


def _from_text(f: dataclasses.Field, text: Any) -> Any:
    """A command-line or config-file value as the field's type, levels converted."""
    kind, scale = str(f.type), 1 / LEVEL if f.metadata["unit"] == "level" else 1.0
    name = f.metadata["flag"] or "--" + f.name.replace("_", "-")
    try:
        if "dict" in kind:
            value = text if isinstance(text, dict) else json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return value
        if "tuple" in kind:
            items = text if isinstance(text, (list, tuple)) else [
                v for v in str(text).split(",") if v.strip()]
            number = int if "int" in kind else float
            return tuple(number(float(v) * scale) if number is float else _whole(v)
                         for v in items)
        if kind.startswith("int"):
            return _whole(text)
        if kind.startswith("float"):
            return float(text) * scale
        if text is None or (str(text).lower() == "none" and "None" in kind):
            return None
        return text
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _whole(text: Any) -> int:
    value = float(text)
    if value != int(value):
        raise ValueError(f"expected a whole number, got {text}")
    return int(value)


def _config_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file not found: {file}")
    try:
        if file.suffix.lower() == ".toml":
            import tomllib

            return tomllib.loads(file.read_text())
        return json.loads(file.read_text())
    except Exception as exc:
        raise ValueError(f"cannot parse config file {file}: {exc}") from exc


def build_config(args: argparse.Namespace):
    """The :class:`TrainConfig` of the parsed options over the ``--config`` file's values."""
    from ..training import TrainConfig
    from ..training.finetune import resolve_init

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    # a config file may use the command-line names too (``steps`` for max_steps)
    aliases = {f.metadata["flag"].lstrip("-").replace("-", "_"): f.name
               for f in fields.values() if f.metadata["flag"]}
    given = dict(_config_file(args.config)) if getattr(args, "config", None) else {}
    given = {aliases.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in given.items()}
    unknown = sorted(set(given) - set(fields) - set(_SHORTCUTS))
    if unknown:
        raise ValueError(f"unknown option(s) in {args.config}: {unknown}")
    line = {k: v for k, v in vars(args).items() if k in fields or k in _SHORTCUTS}
    values = {k: _from_text(fields[k], v) for k, v in {**given, **line}.items() if k in fields}
    # --depth/--features are model_kwargs entries: a contradiction within the command line or
    # within the file is an error; the command line wins over the file
    kwargs = _model_kwargs(given, fields, str(getattr(args, "config", None)))
    if "model_kwargs" in line or any(k in line for k in _SHORTCUTS):
        base = kwargs if "model_kwargs" not in line else {}
        kwargs = {**base, **_model_kwargs(line, fields, "the command line")}
    values["model_kwargs"] = kwargs
    if not values.get("out"):
        raise ValueError("--out is required (the output folder)")
    values["progress"] = not getattr(args, "quiet", False)
    # fine-tuning: the architecture comes from --init; options given that contradict it fail
    config, _ = resolve_init(TrainConfig(**values), explicit=set(values))
    return config


def _model_kwargs(given: dict[str, Any], fields: dict[str, dataclasses.Field],
                  where: str) -> dict[str, Any]:
    """``model_kwargs`` with the ``--depth``/``--features`` shortcuts of one source of options
    (the command line or the config file); a shortcut contradicting it raises ValueError."""
    kwargs = dict(_from_text(fields["model_kwargs"], given["model_kwargs"])
                  if "model_kwargs" in given else {})
    for key in _SHORTCUTS:
        if given.get(key) is None:
            continue
        value = _whole(given[key])
        if key in kwargs and kwargs[key] != value:
            raise ValueError(f"--{key} {value} contradicts --model-kwargs {key}="
                             f"{kwargs[key]!r} (in {where}): give it once")
        kwargs[key] = value
    return kwargs


def run(args: argparse.Namespace) -> int:
    from ..training import train

    config = build_config(args)
    result = train(config, resume=getattr(args, "resume", False),
                   overwrite=getattr(args, "overwrite", False))
    if int(os.environ.get("RANK", "0")) == 0:
        last = result["epochs"][-1] if result["epochs"] else {}
        val = f"; validation PSNR {last['val_psnr']:.3f} dB" if "val_psnr" in last else ""
        print(f"trained {config.model} ({config.strategy}) for {result['steps']} steps; final "
              f"MSE {result['final_loss']:.6f}{val}; wrote {Path(config.out) / 'model.pt'}")
    return 0
