"""ART's PGD (10 steps) through PyTorchDenoiser against DenoisePGD (10 steps), same model,
batch and budget, in the same run, on DnCNN-17 and on a 5-layer DnCNN. The ratio is what ART's
NumPy round trips cost; our own attack should be the faster path.

Run with ``tox -e bench`` (or ``pytest benchmarks``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art.attacks.evasion import ProjectedGradientDescent
from conftest import interleaved_ratio

from denoise_adv import DenoisePGD
from denoise_adv.integrations.art import PyTorchDenoiser
from denoise_adv.models import DnCNN

EPS = 2 / 255


SIZES = {"dncnn17": (17, 64), "dncnn5": (5, 16)}


@pytest.fixture(scope="module", params=list(SIZES))
def setup(request):
    torch.manual_seed(0)
    depth, features = SIZES[request.param]
    model = DnCNN(depth=depth, features=features).eval()
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(4, 1, 64, 64, generator=g)
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=g)
    estimator = PyTorchDenoiser(model, input_shape=(1, 64, 64), device_type="cpu")
    art_pgd = ProjectedGradientDescent(estimator, norm=np.inf, eps=EPS, eps_step=EPS / 4,
                                       max_iter=10, verbose=False)
    ours = DenoisePGD(model, eps=EPS, alpha=EPS / 4, steps=10, random_start=False)
    x, y = noisy.numpy(), clean.numpy()
    return (lambda: art_pgd.generate(x=x, y=y)), (lambda: ours(noisy, clean))


def test_art_pgd(benchmark, setup):
    benchmark.group = "PGD 10 steps, 4x1x64x64"
    benchmark.pedantic(setup[0], rounds=5, warmup_rounds=1)


def test_denoise_pgd(benchmark, setup):
    benchmark.group = "PGD 10 steps, 4x1x64x64"
    benchmark.pedantic(setup[1], rounds=5, warmup_rounds=1)


def test_art_over_denoise_pgd_ratio(setup, request):
    ratio, art, ours = interleaved_ratio(*setup, repeats=9, warmup=1)
    print(f"\nART PGD / DenoisePGD (10 steps, {request.node.callspec.id}): {ratio:.3f} "
          f"({art * 1e3:.1f} ms / {ours * 1e3:.1f} ms)")
    # On a large model both are bound by the convolutions (ratio ~1); on a small one ART's
    # NumPy round trips show.
    assert ratio >= 0.97
