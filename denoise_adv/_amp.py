"""Mixed precision, written once: the ``amp`` option of attacks, evaluation and training.

``amp="bf16"`` runs the model's forward (and so its backward) under :func:`torch.autocast`
with bfloat16; everything around the model stays in the caller's dtype (float32): the
perturbation and its projection, the noise, the loss reduction and every reported score.
``None`` is plain float32, the default everywhere; ``"fp32"`` (the command line's spelling) means
the same.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import torch

__all__ = ["AMP_CHOICES", "autocast", "check_amp", "native_bf16", "warn_if_emulated"]

#: The values ``amp`` accepts besides ``None``.
AMP_CHOICES = ("bf16",)
#: Where Linux lists the CPU's instruction-set flags.
CPUINFO = Path("/proc/cpuinfo")
#: The caps of oneDNN's ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``) below its bf16
#: kernels: under them oneDNN emulates bf16 even on a CPU that has it, as an AVX2-only CPU does
#: (under ``AVX2`` a bf16 DenoisePGD step ran 15x slower than the float32 floor on the
#: project's CPU: ``benchmarks/test_bench_attack.py``).
ISA_CAPS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


def check_amp(amp: object, name: str = "amp") -> str | None:
    """Return ``amp`` if it is ``None`` or one of :data:`AMP_CHOICES` (``"fp32"`` as ``None``),
    else raise.

    Example:
        >>> check_amp("bf16"), check_amp("fp32")
        ('bf16', None)
    """
    if amp is not None and not isinstance(amp, str):
        raise TypeError(f"{name} must be None or a string in {AMP_CHOICES}, got "
                        f"{type(amp).__name__}")
    if amp == "fp32":
        return None
    if amp is not None and amp not in AMP_CHOICES:
        raise ValueError(f"{name} must be None or 'fp32' (float32) or one of {AMP_CHOICES}, "
                         f"got {amp!r}")
    return amp


def autocast(amp: str | None, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The autocast context of ``amp`` on ``device`` (a no-op context for ``None``).

    Example:
        >>> with autocast("bf16", "cpu"):
        ...     y = torch.nn.Linear(2, 2)(torch.ones(1, 2))
        >>> y.dtype
        torch.bfloat16
    """
    if check_amp(amp) is None:
        return contextlib.nullcontext()
    device = torch.device(device)
    warn_if_emulated(device)
    return torch.autocast(device.type, dtype=torch.bfloat16)


#: The device types already warned about (the warning comes once a process).
_WARNED: set[str] = set()


def warn_if_emulated(device: torch.device | str = "cpu") -> bool:
    """Warn once a process when bf16 is asked for on a device that only emulates it (a CPU
    without AVX512-BF16 or AMX: oneDNN then runs bf16 about 25x slower than float32);
    returns whether it is emulated there.

    Example:
        >>> isinstance(warn_if_emulated("cpu"), bool)
        True
    """
    device = torch.device(device)
    emulated = not native_bf16(device)
    if emulated and device.type not in _WARNED:
        _WARNED.add(device.type)
        warnings.warn(f"amp='bf16' on {device.type}, which has no native bfloat16 (no "
                      "AVX512-BF16 or AMX on this CPU, or oneDNN capped below them): it is "
                      "emulated, many times slower than float32; use amp=None (the command "
                      "line's --amp fp32, or --amp auto)",
                      RuntimeWarning, stacklevel=3)
    return emulated


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes in bfloat16 natively, where ``amp="bf16"`` pays off: a CUDA
    device that supports it, or a CPU with AVX512-BF16 or AMX (read from ``/proc/cpuinfo``)
    whose oneDNN is not capped below them (``ONEDNN_MAX_CPU_ISA=AVX2`` and the others of
    :data:`ISA_CAPS_WITHOUT_BF16`); elsewhere, and on other systems, ``False``: oneDNN then
    emulates bf16, slower than float32.

    Example:
        >>> isinstance(native_bf16("cpu"), bool)
        True
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    flags = CPUINFO.read_text() if device.type == "cpu" and CPUINFO.is_file() else ""
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and not _isa_capped_below_bf16()


def _isa_capped_below_bf16() -> bool:
    """Whether oneDNN is told to use no instructions with bf16 (the variable it reads first)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    return cap.strip().upper() in ISA_CAPS_WITHOUT_BF16
