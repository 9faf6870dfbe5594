"""WorstCase (L-inf PGD 10 steps + L2 PGD 10 steps + FGSM) against its floor: the members' raw
forward+backward passes (10 + 10 + 1 of them) on the same DnCNN-17 and 1x1x64x64 image, the least
work the members can do. The gap is the ensemble's own cost: one scoring forward per candidate
(3 here) plus the attack loops' bookkeeping.

The ratio is measured on one thread in CPU time of that thread (``time.thread_time``),
alternating the two runs: on a shared CPU, wall time mostly measures the other jobs.

Run with ``tox -e bench`` (or ``pytest benchmarks``); prints the ratio, asserts <= 1.10.
"""

from __future__ import annotations

import pytest
import torch
from conftest import interleaved_ratio

from denoise_adv import DenoiseFGSM, DenoisePGD, DenoisePGDL2, WorstCase
from denoise_adv.models import DnCNN

SIZE = 64
STEPS = 10
PASSES = STEPS + STEPS + 1  # forward+backward passes of the three members


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnCNN().eval()  # DnCNN-S: 17 layers, 64 features


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 1, SIZE, SIZE, generator=g)
    return clean + 25 / 255 * torch.randn(clean.shape, generator=g), clean


def _floor(model, noisy, clean):
    def run():
        for _ in range(PASSES):
            x = noisy.clone().requires_grad_(True)
            loss = torch.nn.functional.mse_loss(model(x), clean)
            torch.autograd.grad(loss, x)

    return run


def _ensemble(model, noisy, clean):
    atk = WorstCase([
        DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=STEPS),
        DenoisePGDL2(model, eps=2 / 255, alpha=0.5 / 255, steps=STEPS, per_pixel=True),
        DenoiseFGSM(model, eps=2 / 255),
    ])
    return lambda: atk(noisy, clean)


def test_floor_members_forward_backward(benchmark, model, batch):
    benchmark.group = f"WorstCase DnCNN-17 {SIZE}x{SIZE}"
    benchmark(_floor(model, *batch))


def test_worstcase(benchmark, model, batch):
    benchmark.group = f"WorstCase DnCNN-17 {SIZE}x{SIZE}"
    benchmark(_ensemble(model, *batch))


def test_worstcase_over_floor_ratio(model, batch):
    ratio, ours, floor = interleaved_ratio(_ensemble(model, *batch), _floor(model, *batch),
                                           repeats=5, warmup=1)
    print(f"\nWorstCase(PGD-10, PGDL2-10, FGSM) / {PASSES} forward+backward at {SIZE}x{SIZE}: "
          f"{ratio:.3f} ({ours * 1e3:.1f} ms / {floor * 1e3:.1f} ms CPU, one thread)")
    assert ratio <= 1.10
