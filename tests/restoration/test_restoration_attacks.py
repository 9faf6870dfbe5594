"""Every attack on a Restorer: deblurring and 2x super-resolution through DPIR with the published
FFDNet prior (3 iterations, 32x32 crops). The budget is on the measurement y; x-hat (and the
clean image) may be larger than y; the white-box drop is well above a random-sign drop."""

from __future__ import annotations

import math

import pytest
import torch

from denoise_adv import (
    DenoiseAPGD,
    DenoiseBIM,
    DenoiseFGSM,
    DenoisePGD,
    DenoisePGDL2,
    DenoiseSquare,
    ObsAtk,
    WorstCase,
)
from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.models import pretrained
from denoise_adv.restoration import Restorer, dpir_restorer

pytestmark = pytest.mark.usefixtures("one_thread")

EPS = 2 / 255


@pytest.fixture(scope="module")
def clean():
    """Two textured 32x32 crops, (2, 1, 32, 32)."""
    return torch.stack([builtin_image(name)[:, 112:144, 112:144] for name in ("camera", "coins")])


@pytest.fixture(scope="module")
def pipelines():
    prior = pretrained("ffdnet-ipol-gray")
    return {task: dpir_restorer(task, prior, 32, iterations=3) for task in ("deblur", "sr2")}


def _attacks(restorer):
    """Each attack at the L-inf budget EPS (L2: EPS per measurement pixel), few steps."""
    pgd = DenoisePGD(restorer, eps=EPS, alpha=EPS / 4, steps=4,
                     generator=torch.Generator().manual_seed(0))
    return {
        "pgd": pgd,
        "pgdl2": DenoisePGDL2(restorer, eps=EPS, alpha=EPS / 2, steps=4, per_pixel=True,
                              generator=torch.Generator().manual_seed(0)),
        "fgsm": DenoiseFGSM(restorer, eps=EPS),
        "bim": DenoiseBIM(restorer, eps=EPS, alpha=EPS / 4, steps=4),
        "obsatk": ObsAtk(restorer, eps=EPS, alpha=EPS / 2, steps=4, per_pixel=True,
                         generator=torch.Generator().manual_seed(0)),
        "apgd": DenoiseAPGD(restorer, eps=EPS, steps=4, seed=0),
        "worstcase": WorstCase([pgd, DenoiseFGSM(restorer, eps=EPS)]),
        "square": DenoiseSquare(restorer, eps=EPS, n_queries=10, seed=0),
    }


LINF = ("pgd", "fgsm", "bim", "apgd", "worstcase", "square")


def _mean_psnr(restorer, y, clean):
    with torch.no_grad():
        return float(psnr(restorer(y).clamp(0, 1), clean).mean())


@pytest.mark.parametrize("task", ["deblur", "sr2"])
def test_every_attack_runs_within_the_measurement_budget(pipelines, clean, task):
    restorer = pipelines[task]
    y = restorer.measure(clean, seed=0)
    side = 32 if task == "deblur" else 16
    assert y.shape == (2, 1, side, side)
    base = _mean_psnr(restorer, y, clean)
    for name, atk in _attacks(restorer).items():
        adv = atk(y, clean)
        delta = adv - y
        assert adv.shape == y.shape, name
        if name in LINF:
            assert float(delta.abs().max()) <= EPS + 1e-7, name
        else:  # the per-pixel radius counts measurement pixels: EPS * sqrt(side ** 2)
            norms = delta.flatten(1).norm(dim=1)
            assert float(norms.max()) <= EPS * side * (1 + 1e-5), name
        if name == "obsatk":
            assert float(delta.mean(dim=(1, 2, 3)).abs().max()) < 1e-7
        assert _mean_psnr(restorer, adv, clean) < base, name


def test_l2_radius_counts_measurement_pixels_not_image_pixels(pipelines, clean):
    """On 2x SR, y has 16x16 pixels and x-hat 32x32: the per-pixel L2 radius is
    EPS * 16, and PGD-L2's steps of EPS * 16 * 0.5 reach it (not EPS * 32)."""
    restorer = pipelines["sr2"]
    y = restorer.measure(clean, seed=0)
    atk = DenoisePGDL2(restorer, eps=EPS, alpha=EPS / 2, steps=3, per_pixel=True,
                       random_start=False)
    norms = (atk(y, clean) - y).flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, EPS * math.sqrt(16 * 16)), rtol=1e-4)


@pytest.mark.parametrize("task", ["deblur", "sr2"])
def test_white_box_drop_is_well_above_a_random_sign_drop(pipelines, clean, task):
    restorer = pipelines[task]
    y = restorer.measure(clean, seed=0)
    base = _mean_psnr(restorer, y, clean)
    pgd = DenoisePGD(restorer, eps=EPS, alpha=EPS / 4, steps=5,
                     generator=torch.Generator().manual_seed(0))
    drop = base - _mean_psnr(restorer, pgd(y, clean), clean)
    signs = torch.randint(0, 2, y.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    random_drop = base - _mean_psnr(restorer, y + EPS * signs.to(y.dtype), clean)
    assert drop > 0.3
    assert drop > 4 * max(random_drop, 0.0)


def test_without_clean_image_and_forward_only_pipelines(pipelines, clean):
    restorer = pipelines["sr2"]
    y = restorer.measure(clean, seed=0)
    adv = DenoisePGD(restorer, eps=EPS, alpha=EPS / 4, steps=2)(y)  # deviation from x-hat
    assert adv.shape == y.shape and float((adv - y).abs().max()) > 0
    forward_only = Restorer(restorer.reconstructor, restorer.physics, differentiable=False)
    with pytest.raises(ValueError, match="not differentiable"):
        DenoisePGD(forward_only, eps=EPS, steps=1)(y, clean)
    adv = DenoiseSquare(forward_only, eps=EPS, n_queries=3, seed=0)(y, clean)
    assert float((adv - y).abs().max()) <= EPS + 1e-7


def test_clean_image_of_another_shape_than_the_output_is_refused(pipelines, clean):
    restorer = pipelines["sr2"]
    y = restorer.measure(clean, seed=0)
    with pytest.raises(ValueError, match="clean"):
        DenoisePGD(restorer, eps=EPS, steps=1)(y, clean[..., :16, :16])
    with pytest.raises(ValueError, match="clean"):
        DenoisePGD(restorer, eps=EPS, steps=1)(y, clean[:1])
    with pytest.raises(ValueError, match="clean"):
        DenoiseSquare(restorer, eps=EPS, n_queries=2)(y, clean[..., :16, :16])
