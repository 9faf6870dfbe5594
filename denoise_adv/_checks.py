"""Argument checks shared by the whole package.

Each check raises a :class:`TypeError` or :class:`ValueError` whose message names the argument and
says what was expected, so that bad input fails at the call that received it rather than deep
inside a convolution.
"""

from __future__ import annotations

import math
import reprlib
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

#: A noise level: a number, a (low, high) range, or a tensor of per-sample levels.
Sigma = float | tuple[float, float] | torch.Tensor

__all__ = [
    "MAX_SECONDS",
    "MissingExtra",
    "available_memory",
    "check_budget",
    "check_channels",
    "check_clip",
    "check_flag",
    "check_sigma",
    "check_image_batch",
    "check_int",
    "check_iterations",
    "check_module",
    "check_real",
    "check_same_shape",
]


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it
    (a user error: the command line prints it as one line)."""


def check_module(model: object, name: str = "model") -> nn.Module:
    """Return ``model`` if it is an :class:`torch.nn.Module`, else raise :class:`TypeError`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_real(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite float inside the given bounds.

    Args:
        value: the number to check (a bool is refused).
        name: argument name used in the error message.
        minimum: lower bound, or ``None``.
        strict: if ``True`` the lower bound is exclusive (``value > minimum``).
        maximum: inclusive upper bound, or ``None``.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_image_batch(x: object, name: str) -> torch.Tensor:
    """Check that ``x`` is a finite floating tensor of shape (B, C, H, W).

    Returns ``x`` unchanged so the call can be used inline.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {x.dim()} dimensions "
                         f"(shape {tuple(x.shape)})")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf values")
    return x


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise :class:`ValueError` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_b} must have the same shape as {name_a}: "
                         f"got {tuple(b.shape)} and {tuple(a.shape)}")


def check_sigma(sigma: object, name: str = "sigma", *, ranges: bool = True,
                tensors: bool = True, positive: bool = False) -> Sigma:
    """The one check of a noise level: a number >= 0, a ``(low, high)`` range (blind training:
    a level per sample, uniform in the range) or a tensor of per-sample levels; returns it (a
    range as a tuple of floats, a number as a float). Its shape rule (how a level meets a batch)
    is :func:`denoise_adv.noise.level_column`.

    Args:
        sigma: the level.
        name: argument name used in the messages.
        ranges: accept a ``(low, high)`` range (else a list or tuple is refused as a number).
        tensors: accept a tensor (else it is refused as a number).
        positive: a number must be > 0 (the typical-set formulas divide by it).

    Example:
        >>> check_sigma([0.0, 0.2])
        (0.0, 0.2)
        >>> check_sigma(0.0, positive=True)
        Traceback (most recent call last):
        ...
        ValueError: sigma must be > 0.0, got 0.0
    """
    if tensors and isinstance(sigma, torch.Tensor):
        if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
            raise ValueError(f"{name} must be finite and >= 0")
        return sigma
    if ranges and isinstance(sigma, (tuple, list)):
        if len(sigma) != 2:
            raise ValueError(f"{name} must be a level or a (low, high) range, got {sigma!r}")
        low = check_real(sigma[0], f"{name}[0]", minimum=0.0)
        return (low, check_real(sigma[1], f"{name}[1]", minimum=low))
    return check_real(sigma, name, minimum=0.0, strict=positive)


def check_clip(clip: object) -> tuple[float, float] | None:
    """``None`` or a ``(low, high)`` pair of finite numbers with ``low < high``."""
    if clip is None:
        return None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise TypeError(f"clip must be None or a (low, high) pair, got {clip!r}")
    lo = check_real(clip[0], "clip[0]")
    hi = check_real(clip[1], "clip[1]")
    if lo >= hi:
        raise ValueError(f"clip must satisfy low < high, got {clip!r}")
    return (lo, hi)


def check_flag(value: object, name: str) -> bool:
    """Return ``value`` as a bool if it is one (Python's or NumPy's), else raise
    :class:`TypeError` naming ``name``: the one check of every boolean option.

    A string, a number or ``None`` is refused, never converted: ``bool("no")`` is ``True``,
    and a flag such as ``per_pixel`` multiplies a budget.

    Example:
        >>> check_flag(np.bool_(False), "per_pixel")
        False
        >>> check_flag("no", "per_pixel")
        Traceback (most recent call last):
        ...
        TypeError: per_pixel must be a bool (True or False), got str 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {type(value).__name__} "
                        f"{reprlib.repr(value)}")
    return bool(value)


def check_channels(channels: object, name: str = "channels") -> int:
    """Image channels: 1 (gray) or 3 (colour)."""
    channels = check_int(channels, name)
    if channels not in (1, 3):
        raise ValueError(f"{name} must be 1 (gray) or 3 (colour), got {channels}")
    return channels


# ------------------------------------------------------------------------- resource bounds

#: Longest a request may be estimated to take, in seconds, before it is refused: one hour.
#: Estimates are lower bounds (measured per-item times, or the optimistic costs below), so a
#: refused request could not have finished within the hour on any machine; most such
#: requests are typos (``--angles 100000000``) that would otherwise hang without a word.
MAX_SECONDS = 3600.0

#: Optimistic cost of one tensor operation (PyTorch's dispatch or a kernel launch) ...
SECONDS_PER_CALL = 5e-6
#: ... and of one element it touches (10 G elements per second): what time estimates without
#: a measurement assume, so that they stay lower bounds.
SECONDS_PER_ELEMENT = 1e-10
#: Optimistic cost of one pass of an iterative attack (a step, a query, an EOT sample): the
#: model's forward (and backward), the loss, its checks and the update take at least ten
#: tensor operations, whatever the model and the image size.
SECONDS_PER_PASS = 10 * SECONDS_PER_CALL


def available_memory(device: torch.device | str | None = None) -> int | None:
    """Bytes of memory free for new allocations on ``device`` (default: the CPU): CUDA's free
    memory, or the host's ``MemAvailable`` (Linux), or its physical memory elsewhere;
    ``None`` where it cannot be told."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size(nbytes: float) -> str:
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def _duration(seconds: float) -> str:
    for unit, scale in (("years", 3.15576e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def check_budget(name: str, what: str, *, nbytes: float = 0.0, seconds: float = 0.0,
                 device: torch.device | str | None = None,
                 max_seconds: float = MAX_SECONDS, advice: str = "ask for less") -> None:
    """Refuse, before any work, a request that would not fit in memory or in time.

    The one check every size-driven request goes through (patch sizes, sample counts,
    angles, model sizes, TS iterations): the caller estimates what the request implies, this
    compares it with :func:`available_memory` and ``max_seconds`` and raises one clear line.

    Args:
        name: the argument (or option) that sets the size, named in the message.
        what: the request in words, e.g. ``"4000 samples of 40x40x1"``.
        nbytes: memory the request needs at once (a lower bound).
        seconds: time it needs (a lower bound).
        device: where the memory is allocated (default: the CPU).
        max_seconds: the time limit. (Default: :data:`MAX_SECONDS`, one hour)
        advice: what the message ends with. (Default: ``"ask for less"``)

    Raises:
        ValueError: ``NAME: WHAT needs about 36 TB of memory, more than the 12 GB available
            ...`` or ``... would take at least 3.2 days, more than the limit of 1 h ...``.

    Example:
        >>> check_budget("--samples", "10 samples", nbytes=80, seconds=1e-6)
        >>> check_budget("--angles", "1e9 evaluations", seconds=1e6)
        Traceback (most recent call last):
        ...
        ValueError: --angles: 1e9 evaluations would take at least 11.6 days, more than the \
limit of 1 h for one request; ask for less
    """
    nbytes, seconds = float(nbytes), float(seconds)
    if nbytes > 0:
        free = available_memory(device)
        if free is not None and nbytes > free:
            on = "" if device is None else f" on {device}"
            raise ValueError(f"{name}: {what} needs about {_size(nbytes)} of memory, more than "
                             f"the {_size(free)} available{on}; {advice}")
    if seconds > max_seconds:
        raise ValueError(f"{name}: {what} would take at least {_duration(seconds)}, more than "
                         f"the limit of {_duration(max_seconds)} for one request; {advice}")


def check_iterations(name: str, count: object, *, passes_each: float = 1.0,
                     seconds_per_pass: float = SECONDS_PER_PASS, minimum: int = 1,
                     max_seconds: float = MAX_SECONDS) -> int:
    """Return the iteration count ``count`` (steps, queries, restarts, EOT samples) as an int
    ``>= minimum``, refusing before any work a count that would run past ``max_seconds``.

    The one budget check of iteration counts, through :func:`check_budget`: the attacks'
    constructors, :class:`~denoise_adv.attacks.AttackSpec` (protocol files) and the command
    line all call it. Nested counts are checked from the inside out, each with the passes one
    of its units costs: ``eot_iter``, then ``steps`` with ``passes_each=eot_iter``, then
    ``n_restarts`` with ``passes_each=steps * eot_iter``; so the argument named is the first
    whose total would not fit.

    Args:
        name: the argument (or option) that sets the count, named in the message.
        count: the count (an integer; a bool is refused).
        passes_each: passes of the model one unit of ``count`` costs. (Default: 1)
        seconds_per_pass: a lower bound of one pass's time. (Default:
            :data:`SECONDS_PER_PASS`, 50 microseconds: no model is faster)
        minimum: the smallest count accepted. (Default: 1)
        max_seconds: the time limit. (Default: :data:`MAX_SECONDS`, one hour)

    Raises:
        TypeError: ``count`` is not an integer.
        ValueError: ``count`` is below ``minimum``, or its time estimate is over the limit.

    Example:
        >>> check_iterations("steps", 20, passes_each=20)
        20
        >>> check_iterations("steps", 10**12)
        Traceback (most recent call last):
        ...
        ValueError: steps: 1000000000000 (1e+12 passes of the model) would take at least 1.58 \
years, more than the limit of 1 h for one request; lower steps
    """
    count = check_int(count, name, minimum=minimum)
    passes_each = check_real(passes_each, "passes_each", minimum=0.0)
    passes = count * passes_each
    check_budget(name, f"{count} ({passes:.3g} passes of the model)",
                 seconds=passes * seconds_per_pass, max_seconds=max_seconds,
                 advice=f"lower {name}")
    return count
