"""The published gray FFDNet (``zoo:ffdnet-ipol-gray``) under attack, against its floors.

- one DenoisePGD step / one forward and backward (to the input) of the same model in float32:
  target <= 1.05 (the attack adds nothing to the model's own work);
- one Auto-PGD iteration (20 of them, as protocol v2 runs it) / one forward and backward:
  target <= 1.05 (its exact floor, the 20 passes plus the forward that scores the last
  point, is printed too);
- one protocol-v1 row (:func:`denoise_adv.benchmark.evaluate_image`: every white-box attack,
  the transfer and random inputs, the Gaussian input) / the sum of its attacks' floors:
  ``n_grad`` forward-backward passes (each white-box attack's steps) plus ``n_fwd`` forwards
  (each attack's final score, every transfer and random input, the Gaussian input and the
  worst-case output), each floor timed in the same run: target <= 1.10.

Needs ``pip install -e ".[published]"``. Run with ``tox -e bench`` (or ``pytest benchmarks``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import floor_passes, interleaved_ratio, noisy_batch

from denoise_adv import DenoiseAPGD, DenoisePGD
from denoise_adv.benchmark import PROTOCOL_V1, evaluate_image, transfer_inputs
from denoise_adv.data import builtin_image
from denoise_adv.models import pretrained


@pytest.fixture(scope="module")
def model():
    return pretrained("ffdnet-ipol-gray")


@pytest.mark.parametrize("size", [64, 256])
def test_pgd_step_over_floor(model, size):
    noisy, clean = noisy_batch(size)
    atk = DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=1)
    ratio, step, floor = interleaved_ratio(lambda: atk(noisy, clean),
                                           floor_passes(model, noisy, clean), repeats=9)
    print(f"\nDenoisePGD step on ffdnet-ipol-gray / floor at {size}x{size}: {ratio:.3f} "
          f"({step * 1e3:.1f} ms / {floor * 1e3:.1f} ms)")
    assert ratio <= 1.05


@pytest.mark.parametrize("size", [64, 256])
def test_apgd_iteration_over_floor(model, size):
    steps = 20
    noisy, clean = noisy_batch(size)
    atk = DenoiseAPGD(model, eps=2 / 255, steps=steps, seed=0)
    ratio, run, floor = interleaved_ratio(lambda: atk(noisy, clean),
                                          floor_passes(model, noisy, clean, steps), repeats=3)
    exact, _, _ = interleaved_ratio(lambda: atk(noisy, clean),
                                    floor_passes(model, noisy, clean, steps, 1), repeats=3)
    print(f"\nDenoiseAPGD iteration on ffdnet-ipol-gray / forward+backward at {size}x{size}: "
          f"{ratio:.3f} ({run / steps * 1e3:.1f} ms / {floor / steps * 1e3:.1f} ms); over its "
          f"exact floor ({steps} forward+backward + 1 forward): {exact:.3f}")
    assert ratio <= 1.05


def test_v1_row_over_its_attacks_floors(model):
    """On a 96x96 crop of camera; the row and its floors timed alternately."""
    clean = builtin_image("camera")[None, :, 80:176, 80:176]
    protocol = PROTOCOL_V1
    transfer = transfer_inputs(model, clean, "camera", 0, protocol)
    n_grad = sum(a.steps * a.restarts for a in protocol.attacks_of("white-box"))
    n_fwd = len(protocol.attacks) + 2  # each attack's score or input, the Gaussian, the output
    noisy = clean + 25 / 255 * torch.randn_like(clean)
    floors = floor_passes(model, noisy, clean, passes=n_grad, forwards=n_fwd)
    ratio, row, floor = interleaved_ratio(
        lambda: evaluate_image(model, clean, "camera", 0, protocol, transfer), floors,
        repeats=3, warmup=1)
    print(f"\nv1 row of ffdnet-ipol-gray (96x96) / its floors ({n_grad} forward-backward + "
          f"{n_fwd} forward): {ratio:.3f} ({row:.2f} s / {floor:.2f} s)")
    assert ratio <= 1.10
