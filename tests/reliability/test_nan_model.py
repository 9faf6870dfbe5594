"""A model whose output is NaN or Inf (issue 25): every attack raises a clear
FloatingPointError, and the command line prints it as one line (exit 2) and writes no
"adversarial" image."""

from __future__ import annotations

import pytest
import torch
from reliability_helpers import tiny_model

from denoise_adv import DenoiseAPGD, DenoisePGD, DenoiseSquare
from denoise_adv.models import save_checkpoint


def _nan_model(value: float = float("nan")):
    """One broken weight spoils every output."""
    model = tiny_model()
    with torch.no_grad():
        model.net[0].bias[0] = value
    return model


def _overflowing_model():
    """Finite weights (a checkpoint loads), but the activations overflow to Inf and the
    output is NaN: the loader's weight check cannot see it, the attack must."""
    model = tiny_model()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(1e20)
    return model


@pytest.mark.parametrize("make", [DenoisePGD, lambda m: DenoiseAPGD(m, steps=2),
                                  lambda m: DenoiseSquare(m, n_queries=3)],
                         ids=["pgd", "apgd", "square"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_every_attack_refuses_a_nan_model(make, value):
    clean = torch.rand(1, 1, 16, 16)
    with pytest.raises(FloatingPointError, match="the model's output contains NaN or Inf"):
        make(_nan_model(value))(clean + 0.1, clean)


@pytest.mark.parametrize("attack", ["pgd", "apgd", "square"])
def test_attack_command_reports_one_line_and_writes_no_image(cli, tmp_path, folder, attack):
    checkpoint = save_checkpoint(_overflowing_model(), tmp_path / "nan.pt",
                                 {"strategy": "normal"})
    out = tmp_path / "out"
    code, stdout, stderr = cli("attack", "--model", checkpoint, "--input", folder, "--steps", 2,
                               "--attack", attack, "--queries", 3, "--out", out, "--quiet")
    assert code == 2
    assert stderr.startswith("denoise-adv attack: error: the model's output contains NaN or Inf")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists() or not list(out.glob("*_adv.*"))
