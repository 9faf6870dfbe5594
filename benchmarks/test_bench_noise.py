"""TS noise against its floors in the same run: ``torch.randn`` of the same shape (the exact
sampler's ratio is printed against the 1.15x target; beyond the draw itself it costs one norm
pass, a table lookup of the per-sample gains, one scaling pass and call overhead; asserts
<= 1.5) and the literal screening loop at T = 10 (target: exact >= 8x
faster).

Run with ``tox -e bench`` (or ``pytest benchmarks``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import interleaved_ratio

from denoise_adv.noise import ts_noise

SHAPE = (128, 1, 40, 40)
SIGMA = 25 / 255


def _randn():
    return torch.randn(SHAPE)


def _exact():
    return ts_noise(SHAPE, SIGMA, iterations=10, method="exact")


def _screening():
    return ts_noise(SHAPE, SIGMA, iterations=10, method="screening")


@pytest.mark.parametrize("func", [_randn, _exact, _screening], ids=lambda f: f.__name__[1:])
def test_sampler(benchmark, func):
    benchmark.group = "noise 128x1x40x40"
    benchmark(func)


def test_exact_over_randn_ratio():
    ratio, exact, floor = interleaved_ratio(_exact, _randn, repeats=301, warmup=20)
    print(f"\nts_noise exact / torch.randn: {ratio:.3f} ({exact * 1e3:.3f} ms / "
          f"{floor * 1e3:.3f} ms)")
    assert ratio <= 1.5


def test_exact_speedup_over_screening():
    ratio, screening, exact = interleaved_ratio(_screening, _exact, repeats=31, warmup=3)
    print(f"\nts_noise screening(T=10) / exact: {ratio:.2f}x ({screening * 1e3:.3f} ms / "
          f"{exact * 1e3:.3f} ms)")
    assert ratio >= 8
