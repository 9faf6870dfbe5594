"""Helpers for benchmarks that compare a code path with its floor in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


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

