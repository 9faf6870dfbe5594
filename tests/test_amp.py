"""The amp option, written once: its check and its autocast context."""

import pytest
import torch

from denoise_adv._amp import AMP_CHOICES, autocast, check_amp


def test_check_amp_accepts_none_and_bf16_and_names_the_argument():
    assert check_amp(None) is None and check_amp("bf16") == "bf16" == AMP_CHOICES[0]
    with pytest.raises(ValueError, match=r"amp must be None \(float32\) or one of .*'fp16'"):
        check_amp("fp16")
    with pytest.raises(TypeError, match="precision must be None or a string"):
        check_amp(True, "precision")


def test_autocast_runs_matmuls_in_bf16_and_none_is_a_no_op():
    layer = torch.nn.Linear(3, 3)
    x = torch.randn(2, 3)
    with autocast("bf16", "cpu"):
        half = layer(x)
    with autocast(None, "cpu"):
        full = layer(x)
    assert half.dtype == torch.bfloat16 and full.dtype == torch.float32
    torch.testing.assert_close(full, layer(x))
    # bf16 keeps 8 bits of mantissa: close to float32, but not equal
    assert 0 < (half.float() - full).abs().max() < 0.05 * full.abs().max()
