"""One DenoisePGD step against its floor: one forward and one backward (to the input) of the
same DnCNN, the least work any gradient attack step can do.

Run with ``tox -e bench`` (or ``pytest benchmarks``); prints the ratio, asserts <= 1.10.
"""

from __future__ import annotations

import pytest
import torch
from conftest import interleaved_ratio

from denoise_adv import DenoisePGD
from denoise_adv.models import DnCNN

SIZES = [64, 256]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnCNN().eval()  # DnCNN-S: 17 layers, 64 features


def _batch(size):
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 1, size, size, generator=g)
    return clean + 25 / 255 * torch.randn(clean.shape, generator=g), clean


def _floor(model, noisy, clean):
    def run():
        x = noisy.clone().requires_grad_(True)
        loss = torch.nn.functional.mse_loss(model(x), clean)
        return torch.autograd.grad(loss, x)[0]

    return run


def _attack_step(model, noisy, clean):
    atk = DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=1, random_start=True)
    return lambda: atk(noisy, clean)


@pytest.mark.parametrize("size", SIZES)
def test_floor_forward_backward(benchmark, model, size):
    benchmark.group = f"DnCNN-17 {size}x{size}"
    benchmark(_floor(model, *_batch(size)))


@pytest.mark.parametrize("size", SIZES)
def test_denoise_pgd_step(benchmark, model, size):
    benchmark.group = f"DnCNN-17 {size}x{size}"
    benchmark(_attack_step(model, *_batch(size)))


@pytest.mark.parametrize("size", SIZES)
def test_step_over_floor_ratio(model, size):
    noisy, clean = _batch(size)
    ratio, step, floor = interleaved_ratio(_attack_step(model, noisy, clean),
                                           _floor(model, noisy, clean))
    print(f"\nDenoisePGD step / floor at {size}x{size}: {ratio:.3f} "
          f"({step * 1e3:.1f} ms / {floor * 1e3:.1f} ms)")
    assert ratio <= 1.10
