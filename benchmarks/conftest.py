"""Helpers for benchmarks that compare a code path with its floor in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def interleaved_ratio(func: Callable[[], object], floor: Callable[[], object],
                      repeats: int = 7, warmup: int | Callable[[], object] = 2
                      ) -> tuple[float, float, float]:
    """Median time of ``func`` over median time of ``floor``, timed alternately so that drift in
    the machine's speed hits both alike. Time is this thread's CPU time on one torch thread:
    on a CPU shared with other jobs, wall time mostly measures them. ``warmup``: runs of each
    before timing, or a function to run first (then one run of ``floor`` warms it: a cold floor
    would flatter the ratio). Returns ``(ratio, func_seconds, floor_seconds)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if callable(warmup):
            warmup()
            floor()
        else:
            for _ in range(warmup):
                func()
                floor()
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeats):
            for run, kept in zip((func, floor), times):
                start = time.thread_time()
                run()
                kept.append(time.thread_time() - start)
    finally:
        torch.set_num_threads(threads)
    f, fl = statistics.median(times[0]), statistics.median(times[1])
    if fl <= 0:
        raise RuntimeError("the floor took no measurable CPU time: give it more work")
    return f / fl, f, fl


def noisy_batch(size: int, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(noisy, clean)``: one seeded random ``size`` x ``size`` image and its sigma-25 noise."""
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, channels, size, size, generator=g)
    return clean + 25 / 255 * torch.randn(clean.shape, generator=g), clean


def floor_passes(model, noisy: torch.Tensor, clean: torch.Tensor, passes: int = 1,
          forwards: int = 0) -> Callable[[], object]:
    """The floor of a gradient attack: ``passes`` forward+backward passes to the input (MSE to
    ``clean``) and ``forwards`` forward passes, the least work its steps and scores can do."""

    def run():
        grad = None
        for _ in range(passes):
            x = noisy.clone().requires_grad_(True)
            grad = torch.autograd.grad(torch.nn.functional.mse_loss(model(x), clean), x)[0]
        with torch.no_grad():
            for _ in range(forwards):
                model(noisy)
        return grad

    return run
