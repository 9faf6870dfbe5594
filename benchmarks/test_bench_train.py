"""Training-step cost of the strategies, in the same run: TS-Def. against plain Gaussian noise
(target <= 1.05x: TS should be free) and adversarial training (3-step PGD) against normal
training (reported: the cost TS avoids). A step = build a batch of 32 patches (noise drawn per
item, as in training) + forward, backward and Adam step of DnCNN-17.

Run with ``tox -e bench`` (or ``pytest benchmarks``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import interleaved_ratio

from denoise_adv.attacks import DenoisePGD
from denoise_adv.data import PatchDataset, builtin_image
from denoise_adv.models import DnCNN
from denoise_adv.training import strategy_noise

BATCH = 32


@pytest.fixture(scope="module")
def steps():
    torch.manual_seed(0)
    images = [builtin_image("coffee")[:, :200, :200]]
    model = DnCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    datasets = {s: PatchDataset(images, noise=strategy_noise(s, 25 / 255))
                for s in ("normal", "ts-def")}
    counter = {"i": 0}

    def make(strategy, adversarial=False):
        dataset = datasets[strategy]

        def step():
            start = counter["i"] % (len(dataset) - BATCH)
            counter["i"] += BATCH
            noisy, clean = torch.utils.data.default_collate(
                [dataset[i] for i in range(start, start + BATCH)])
            if adversarial:
                noisy = DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=3)(noisy, clean)
            model.train()
            loss = torch.nn.functional.mse_loss(model(noisy), clean)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    return {"normal": make("normal"), "ts-def": make("ts-def"),
            "adversarial": make("normal", adversarial=True)}


@pytest.mark.parametrize("strategy", ["normal", "ts-def", "adversarial"])
def test_training_step(benchmark, steps, strategy):
    benchmark.group = f"training step, DnCNN-17, {BATCH}x1x40x40"
    benchmark.pedantic(steps[strategy], rounds=5, warmup_rounds=1)


def test_ts_def_over_gaussian_ratio(steps):
    ratio, ts, gauss = interleaved_ratio(steps["ts-def"], steps["normal"], repeats=9, warmup=1)
    print(f"\nTS-Def. step / Gaussian step: {ratio:.3f} ({ts * 1e3:.0f} ms / {gauss * 1e3:.0f} ms)")
    assert ratio <= 1.05


def test_adversarial_over_normal_ratio(steps):
    ratio, adv, normal = interleaved_ratio(steps["adversarial"], steps["normal"], repeats=5,
                                           warmup=1)
    print(f"\nadversarial (PGD-3) step / normal step: {ratio:.2f}x ({adv * 1e3:.0f} ms / "
          f"{normal * 1e3:.0f} ms)")
    assert ratio > 1.5
