"""The demo's attack on the CPU: the shipped DnCNN in channels_last memory format against the
same model in the default (contiguous) format, one DenoisePGD step each on the demo's batch
shape, float32 (issue 34: the newcomer's first command on a CPU without native bf16).

Target: the channels_last step at most 0.90 of the contiguous one. Measured on round 4's 2-core
Zen 4, one torch thread, beside other jobs: 0.852 for the step (the raw forward+backward alone:
0.68-0.78); round 4's AVX2-only EPYC measured the raw forward+backward at 1/1.5.
"""

from __future__ import annotations

import copy

import torch
from conftest import interleaved_ratio, noisy_batch

from denoise_adv import DenoisePGD
from denoise_adv.models import pretrained


def test_channels_last_pgd_step_over_contiguous():
    model = pretrained("dncnn-s25-normal")
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)
    noisy, clean = noisy_batch(128)
    noisy, clean = noisy.repeat(6, 1, 1, 1), clean.repeat(6, 1, 1, 1)
    step = DenoisePGD(fast, eps=2 / 255, alpha=0.5 / 255, steps=1, random_start=False)
    floor = DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=1, random_start=False)
    torch.testing.assert_close(step(noisy, clean), floor(noisy, clean))  # the same attack
    ratio, fast_s, slow_s = interleaved_ratio(lambda: step(noisy, clean),
                                              lambda: floor(noisy, clean), repeats=7)
    print(f"\nDenoisePGD step, channels_last / contiguous (6x1x128x128, fp32): {ratio:.3f} "
          f"({fast_s * 1e3:.0f} ms / {slow_s * 1e3:.0f} ms)")
    assert ratio <= 0.90
