"""DenoiseAPGD and DenoiseSquare against their floors, in the same run (float32, DnCNN-17):

- an APGD iteration: ``DenoiseAPGD(steps=N)`` over ``N`` raw forward+backward passes to the
  input (asserts <= 1.05). Its exact floor also holds the forward that scores the last point
  (``N`` forward+backward + 1 forward); that ratio is printed beside it.
- a Square query: ``DenoiseSquare(n_queries=Q)`` over ``Q`` raw forwards under no_grad
  (asserts <= 1.10).

Run with ``tox -e bench`` (or ``pytest benchmarks/test_bench_apgd.py -s``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import floor_passes, interleaved_ratio, noisy_batch

from denoise_adv import DenoiseAPGD, DenoiseSquare
from denoise_adv.models import DnCNN

SIZES = [64, 128]
STEPS = 20
QUERIES = 20


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnCNN().eval()  # DnCNN-S: 17 layers, 64 features


def _apgd(model, noisy, clean):
    atk = DenoiseAPGD(model, eps=2 / 255, steps=STEPS, seed=0)
    return lambda: atk(noisy, clean)


def _square(model, noisy, clean):
    atk = DenoiseSquare(model, eps=2 / 255, n_queries=QUERIES, seed=0)
    return lambda: atk(noisy, clean)


@pytest.mark.parametrize("size", SIZES)
def test_apgd_run(benchmark, model, size):
    benchmark.group = f"APGD DnCNN-17 {size}x{size}, {STEPS} steps"
    benchmark(_apgd(model, *noisy_batch(size)))


@pytest.mark.parametrize("size", SIZES)
def test_apgd_floor(benchmark, model, size):
    benchmark.group = f"APGD DnCNN-17 {size}x{size}, {STEPS} steps"
    benchmark(floor_passes(model, *noisy_batch(size), STEPS))


@pytest.mark.parametrize("size", SIZES)
def test_apgd_iteration_over_floor(model, size):
    noisy, clean = noisy_batch(size)
    ratio, run, floor = interleaved_ratio(_apgd(model, noisy, clean),
                                          floor_passes(model, noisy, clean, STEPS))
    exact, _, exact_floor = interleaved_ratio(_apgd(model, noisy, clean),
                                              floor_passes(model, noisy, clean, STEPS, 1))
    print(f"\nAPGD iteration / forward+backward at {size}x{size}: {ratio:.3f} "
          f"({run / STEPS * 1e3:.2f} ms / {floor / STEPS * 1e3:.2f} ms); over its exact floor "
          f"({STEPS} forward+backward + 1 forward): {exact:.3f}")
    assert ratio <= 1.05


@pytest.mark.parametrize("size", SIZES)
def test_square_run(benchmark, model, size):
    benchmark.group = f"Square DnCNN-17 {size}x{size}, {QUERIES} queries"
    benchmark(_square(model, *noisy_batch(size)))


@pytest.mark.parametrize("size", SIZES)
def test_square_floor(benchmark, model, size):
    noisy, _ = noisy_batch(size)
    benchmark.group = f"Square DnCNN-17 {size}x{size}, {QUERIES} queries"
    benchmark(floor_passes(model, noisy, None, 0, QUERIES))


@pytest.mark.parametrize("size", SIZES)
def test_square_query_over_forward(model, size):
    noisy, clean = noisy_batch(size)
    ratio, run, floor = interleaved_ratio(_square(model, noisy, clean),
                                          floor_passes(model, noisy, clean, 0, QUERIES))
    print(f"\nSquare query / forward at {size}x{size}: {ratio:.3f} "
          f"({run / QUERIES * 1e3:.2f} ms / {floor / QUERIES * 1e3:.2f} ms)")
    assert ratio <= 1.10
