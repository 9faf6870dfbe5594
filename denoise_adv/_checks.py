"""Argument checks shared by the whole package.

Each check raises a :class:`TypeError` or :class:`ValueError` whose message names the argument and
says what was expected, so that bad input fails at the call that received it rather than deep
inside a convolution.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from torch import nn

__all__ = [
    "check_image_batch",
    "check_int",
    "check_module",
    "check_real",
    "check_same_shape",
]


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
