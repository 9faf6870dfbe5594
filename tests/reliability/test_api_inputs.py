"""Silent wrong results in the Python API (issue 14): inputs a function cannot honour raise a
clear error naming the argument instead of returning something plausible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reliability_helpers import SIGMA
from torch import nn

from denoise_adv import DenoiseBIM, DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk, WorstCase
from denoise_adv.analysis import evaluate_robustness, noisy_image
from denoise_adv.attacks import MAX_BUDGET, AttackSpec
from denoise_adv.integrations.art import TSAugmentation
from denoise_adv.models import FFDNet, UNetRes
from denoise_adv.transforms import TSNoise
from denoise_adv.typical import aep_deviation

ATTACKS = {
    "pgd": lambda m: DenoisePGD(m, steps=2),
    "pgdl2": lambda m: DenoisePGDL2(m, eps=0.1, alpha=0.05, steps=2),
    "fgsm": lambda m: DenoiseFGSM(m),
    "bim": lambda m: DenoiseBIM(m, steps=2),
    "obsatk": lambda m: ObsAtk(m, eps=0.1, alpha=0.05, steps=2),
    "worstcase": lambda m: WorstCase([DenoisePGD(m, steps=1), DenoiseFGSM(m)]),
}


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 8, 8, generator=g)
    return clean + SIGMA * torch.randn(clean.shape, generator=g), clean


# ---------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16], ids=["f64", "f16"])
@pytest.mark.parametrize("make", ATTACKS.values(), ids=ATTACKS.keys())
def test_other_float_dtypes_name_the_argument(model, pair, make, dtype):
    noisy, clean = pair
    atk = make(model)
    with pytest.raises(TypeError, match=rf"noisy has dtype {dtype} but the model's parameters "
                                        r"are torch.float32"):
        atk(noisy.to(dtype), clean.to(dtype))
    with pytest.raises(TypeError, match=rf"clean has dtype {dtype}"):
        atk(noisy, clean.to(dtype))
    assert atk(noisy, clean).dtype == torch.float32  # the matching dtype still works
    adv = make(model.double())(noisy.double(), clean.double())  # as does a float64 model
    assert adv.dtype == torch.float64


# ------------------------------------------------------------------------ model output


class _Wrong(nn.Module):
    """A model with one parameter whose output is wrong in a given way."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, y):
        out = y * self.scale
        if self.kind == "tuple":
            return out, out
        if self.kind == "first":  # (1, C, H, W) for any batch: silently broadcast before
            return out[:1]
        if self.kind == "crop":
            return out[..., 1:, :]
        return out


@pytest.mark.parametrize("kind,error,message", [
    ("tuple", TypeError, "the model must return a tensor .* got tuple"),
    ("first", ValueError, r"output has shape \(1, 1, 8, 8\), but the attack needs the shape "
                          r"of its input \(2, 1, 8, 8\)"),
    ("crop", ValueError, r"output has shape \(2, 1, 7, 8\)"),
])
@pytest.mark.parametrize("with_clean", [True, False], ids=["clean", "no-clean"])
def test_model_outputs_of_the_wrong_shape_are_refused(pair, kind, error, message, with_clean):
    noisy, clean = pair
    right, calls = _Wrong("right"), []
    right.register_forward_hook(lambda *_: calls.append(1))
    DenoisePGD(right, steps=3)(noisy, clean)
    assert len(calls) == 3  # checked on the first step's own output: no extra forward
    atk = DenoisePGD(_Wrong(kind), steps=2)
    with pytest.raises(error, match=message):
        atk(noisy, clean) if with_clean else atk(noisy)


# ------------------------------------------------------------------------------ budgets


@pytest.mark.parametrize("build", [
    lambda m: DenoisePGDL2(m, eps=1e20),  # overflowed ||delta||^2: returned the input
    lambda m: DenoisePGD(m, eps=1e300),  # not a float32 at all
    lambda m: DenoisePGD(m, alpha=1e300),
    lambda m: DenoiseFGSM(m, eps=1e7),
    lambda m: AttackSpec("linf", eps=1e300).build(m),
], ids=["l2-1e20", "linf-1e300", "alpha-1e300", "fgsm-1e7", "spec"])
def test_non_representable_budgets_are_refused(model, pair, build):
    with pytest.raises(ValueError, match="must be at most 1e\\+06"):
        build(model)
    noisy, clean = pair  # the largest budget accepted still computes
    adv = DenoisePGDL2(model, eps=MAX_BUDGET, alpha=1.0, steps=1, random_start=False)(
        noisy, clean)
    assert torch.isfinite(adv).all() and not torch.equal(adv, noisy)


# ------------------------------------------------------------------ TS noise interfaces


def test_ts_augmentation_refuses_8bit_images():
    x = np.full((2, 1, 4, 4), 200, dtype=np.uint8)
    with pytest.raises(TypeError, match="x must be a floating-point array .* got dtype uint8"):
        TSAugmentation(seed=0)(x, x)


def test_ts_augmentation_refuses_misaligned_labels():
    x = np.zeros((2, 1, 4, 4), np.float32)
    for augmentation in (True, False):
        with pytest.raises(ValueError, match="y must have one entry per sample of x: got 3 "
                                             "and 2"):
            TSAugmentation(seed=0, augmentation=augmentation)(x, np.zeros((3, 1, 4, 4)))
    x_aug, y_aug = TSAugmentation(seed=0)(x, x.copy())
    assert len(x_aug) == len(y_aug) == 4


def test_ts_noise_refuses_a_numpy_array_of_any_rank():
    for array in (np.zeros(16, np.float32), np.zeros((1, 4, 4), np.float32)):
        with pytest.raises(TypeError, match="TSNoise"):
            TSNoise(seed=0)(array)


# ---------------------------------------------------------------------- noise levels


@pytest.mark.parametrize("sigma", [float("nan"), -1.0, float("inf"),
                                   torch.tensor([0.1, float("nan")])],
                         ids=["nan", "negative", "inf", "tensor-nan"])
@pytest.mark.parametrize("make", [lambda: FFDNet(depth=3, features=4),
                                  lambda: UNetRes(features=(2, 2, 2, 2), blocks=1)],
                         ids=["ffdnet", "drunet"])
def test_models_that_take_sigma_validate_it(make, sigma):
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="sigma must be"):
        make()(x, sigma)
    assert make()(x, 0.1).shape == x.shape


@pytest.mark.parametrize("shape", [(0, 4), (2, 0), (0, 1, 4, 4)])
def test_aep_deviation_of_nothing_raises(shape):
    with pytest.raises(ValueError, match="n must not be empty"):
        aep_deviation(torch.zeros(shape), 1.0)


# ---------------------------------------------------------------------------- seeding


def test_an_images_noise_depends_on_its_name_not_its_position(model):
    """The same image alone and second in a folder used to get different noise."""
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(1, 16, 16, generator=g), torch.rand(1, 16, 16, generator=g)
    alone = evaluate_robustness(model, [("b", b)], attacks=("linf",), progress=False)
    second = evaluate_robustness(model, [("a", a), ("b", b)], attacks=("linf",),
                                 progress=False)
    assert alone == [r for r in second if r["image"] == "b"]
    assert torch.equal(noisy_image(b[None], SIGMA, 0, "b"), noisy_image(b[None], SIGMA, 0, "b"))
    assert not torch.equal(noisy_image(b[None], SIGMA, 0, "b"),
                           noisy_image(b[None], SIGMA, 0, "a"))


def test_images_of_one_name_are_refused(model):
    img = torch.rand(1, 16, 16)
    with pytest.raises(ValueError, match=r"distinct names, got \['x'\] more than once"):
        evaluate_robustness(model, [("x", img), ("x", img)], attacks=(), progress=False)
