"""One DenoisePGD step against its floor: one forward and one backward (to the input) of the
same DnCNN in float32, the least work any float32 gradient attack step can do.

- float32 step / floor: asserts <= 1.10 (the attack adds nothing to the model's own work);
- floor / bf16 step (``amp="bf16"``, model in channels_last): the speed-up of mixed precision
  over the float32 floor, printed; asserts >= 1.8 where the CPU has native bf16 (AVX512-BF16
  or AMX; elsewhere bf16 is emulated and only printed). The float32 floor of the
  channels_last model is printed beside it, to tell the two changes' shares apart.

Run with ``tox -e bench`` (or ``pytest benchmarks``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import floor_passes, interleaved_ratio, noisy_batch

from denoise_adv import DenoisePGD, native_bf16
from denoise_adv.models import DnCNN

SIZES = [64, 256]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnCNN().eval()  # DnCNN-S: 17 layers, 64 features


@pytest.fixture(scope="module")
def model_channels_last(model):
    twin = DnCNN().eval()
    twin.load_state_dict(model.state_dict())
    return twin.to(memory_format=torch.channels_last)


def _attack_step(model, noisy, clean, amp=None):
    atk = DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=1, random_start=True, amp=amp)
    return lambda: atk(noisy, clean)


@pytest.mark.parametrize("size", SIZES)
def test_floor_forward_backward(benchmark, model, size):
    benchmark.group = f"DnCNN-17 {size}x{size}"
    benchmark(floor_passes(model, *noisy_batch(size)))


@pytest.mark.parametrize("size", SIZES)
def test_denoise_pgd_step(benchmark, model, size):
    benchmark.group = f"DnCNN-17 {size}x{size}"
    benchmark(_attack_step(model, *noisy_batch(size)))


@pytest.mark.parametrize("size", SIZES)
def test_step_over_floor_ratio(model, size):
    noisy, clean = noisy_batch(size)
    ratio, step, floor = interleaved_ratio(_attack_step(model, noisy, clean),
                                           floor_passes(model, noisy, clean))
    print(f"\nDenoisePGD step / floor at {size}x{size}: {ratio:.3f} "
          f"({step * 1e3:.1f} ms / {floor * 1e3:.1f} ms)")
    assert ratio <= 1.10


@pytest.mark.parametrize("size", SIZES)
def test_denoise_pgd_step_bf16(benchmark, model_channels_last, size):
    benchmark.group = f"DnCNN-17 {size}x{size}"
    benchmark(_attack_step(model_channels_last, *noisy_batch(size), amp="bf16"))


@pytest.mark.parametrize("size", SIZES)
def test_bf16_step_speedup_over_float32_floor(model, model_channels_last, size):
    noisy, clean = noisy_batch(size)
    ratio, floor, step = interleaved_ratio(floor_passes(model, noisy, clean),
                                           _attack_step(model_channels_last, noisy, clean, "bf16"))
    print(f"\nfloat32 floor / bf16 DenoisePGD step at {size}x{size}: {ratio:.2f}x "
          f"({floor * 1e3:.1f} ms / {step * 1e3:.1f} ms)")
    layout, _, floor_channels_last = interleaved_ratio(
        floor_passes(model, noisy, clean), floor_passes(model_channels_last, noisy, clean))
    print(f"float32 floor / float32 channels_last floor at {size}x{size}: {layout:.2f}x "
          f"(so bf16 itself: {floor_channels_last / step:.2f}x)")
    if native_bf16("cpu"):
        assert ratio >= 1.8
