"""Helpers for benchmarks that compare a code path with its floor in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


def interleaved_ratio(func: Callable[[], object], floor: Callable[[], object],
                      repeats: int = 7, warmup: int = 2) -> tuple[float, float, float]:
    """Median time of ``func`` over median time of ``floor``, timed alternately so that drift in
    the machine's speed hits both alike. Returns ``(ratio, func_seconds, floor_seconds)``."""
    for _ in range(warmup):
        func()
        floor()
    times_f, times_floor = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times_f.append(time.perf_counter() - t)
        t = time.perf_counter()
        floor()
        times_floor.append(time.perf_counter() - t)
    f, fl = statistics.median(times_f), statistics.median(times_floor)
    return f / fl, f, fl


def has_native_bf16() -> bool:
    """Whether this CPU runs bf16 arithmetic natively: AVX512-BF16 or AMX (read from
    /proc/cpuinfo; elsewhere oneDNN emulates bf16 and it is slower)."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags
