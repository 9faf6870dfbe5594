"""The anatomy of a perturbation (radial / orthogonal to the noise) and the noise-level
sensitivity, checked against closed forms on linear denoisers f(y) = a * y."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from denoise_adv import seeding
from denoise_adv.analysis import (
    decompose_perturbation,
    evaluate_robustness,
    noise_level_sensitivity,
    noisy_image,
    radial_split,
    score,
)
from denoise_adv.models import DnCNN, NLMeans

SIGMA = 25 / 255


def _batch(seed=0, shape=(3, 1, 12, 12), sigma=0.1):
    g = torch.Generator().manual_seed(seed)
    clean = 0.2 + 0.6 * torch.rand(shape, generator=g, dtype=torch.float64)
    noise = sigma * torch.randn(shape, generator=g, dtype=torch.float64)
    # a perturbation with a real radial part (different per image) and an orthogonal one
    coef = torch.tensor([0.3, -0.2, 0.05], dtype=torch.float64)[: shape[0]].view(-1, 1, 1, 1)
    delta = coef * noise + 0.03 * torch.randn(shape, generator=g, dtype=torch.float64)
    return clean, noise, delta


def test_radial_split_invariants():
    _, noise, delta = _batch()
    radial, orthogonal = radial_split(noise, delta)
    torch.testing.assert_close(radial + orthogonal, delta, rtol=0, atol=1e-15)
    for i in range(len(noise)):
        n, d = noise[i].flatten().numpy(), delta[i].flatten().numpy()
        c = float(d @ n / (n @ n))  # independent projection, per image
        np.testing.assert_allclose(radial[i].flatten().numpy(), c * n, rtol=0, atol=1e-15)
        assert abs(float(orthogonal[i].flatten().numpy() @ n)) < 1e-12 * np.linalg.norm(n) * (
            np.linalg.norm(d))
    with pytest.raises(ValueError, match="noise is zero"):
        radial_split(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="delta must have the same shape"):
        radial_split(noise, delta[:, :, :4])


def _mse(error):
    return error.pow(2).flatten(1).mean(1)


@pytest.mark.parametrize("a", [0.8, 1.1])
def test_decompose_matches_the_closed_form_of_a_linear_denoiser(linear_denoiser, a):
    clean, noise, delta = _batch()
    noisy = clean + noise
    rows = decompose_perturbation(linear_denoiser(a), noisy, clean, delta, names=["x", "y", "z"],
                                  clamp=False)
    r = a * noisy - clean  # residual of the unperturbed output
    d = clean[0].numel()
    for i, row in enumerate(rows):
        n, dl, ri = noise[i].flatten(), delta[i].flatten(), r[i].flatten()
        c = float(dl @ n / (n @ n))
        # closed forms: output error r + a * part; the radial part is c * n
        mse0 = float(ri @ ri) / d
        mse_radial = (float(ri @ ri) + 2 * a * c * float(ri @ n) + a**2 * c**2 * float(n @ n)) / d
        orth = dl - c * n
        mse_orth = float((ri + a * orth) @ (ri + a * orth)) / d
        mse_full = float((ri + a * dl) @ (ri + a * dl)) / d
        assert row["image"] == "xyz"[i]
        assert row["psnr"] == pytest.approx(-10 * math.log10(mse0), abs=1e-9)
        assert row["drop_radial"] == pytest.approx(10 * math.log10(mse_radial / mse0), abs=1e-9)
        assert row["drop_orthogonal"] == pytest.approx(10 * math.log10(mse_orth / mse0),
                                                       abs=1e-9)
        assert row["drop_full"] == pytest.approx(10 * math.log10(mse_full / mse0), abs=1e-9)
        # the parts are orthogonal, so for a linear denoiser the MSE increases add up exactly
        increase = [10 ** (-row[k] / 10) - mse0 for k in
                    ("psnr_full", "psnr_radial", "psnr_orthogonal")]
        assert increase[0] == pytest.approx(increase[1] + increase[2], rel=1e-9, abs=1e-15)
        cosine = float(dl @ n) / float(dl.norm() * n.norm())
        assert row["energy_radial"] == pytest.approx(cosine**2, rel=1e-12)
        assert row["energy_radial"] + row["energy_orthogonal"] == pytest.approx(1.0)
        assert row["angle_deg"] == pytest.approx(math.degrees(math.acos(cosine)), abs=1e-9)
        assert row["radial_coefficient"] == pytest.approx(c, rel=1e-12)
        assert row["interaction"] == pytest.approx(
            row["drop_full"] - row["drop_radial"] - row["drop_orthogonal"], abs=1e-12)
    assert rows[0]["radial_coefficient"] > 0 > rows[1]["radial_coefficient"]


def test_decompose_clamps_like_the_evaluation_and_handles_pure_parts(linear_denoiser):
    clean, noise, delta = _batch(shape=(2, 1, 12, 12), sigma=0.3)  # outputs leave [0, 1]
    model = linear_denoiser(1.0)
    rows = decompose_perturbation(model, (clean + noise).float(), clean.float(), delta.float())
    for i, row in enumerate(rows):
        expected = score(model, (clean + noise + delta)[i:i + 1].float(), clean[i:i + 1].float())
        assert row["psnr_full"] == pytest.approx(expected["psnr"], abs=1e-4)
    raw = decompose_perturbation(model, clean + noise, clean, delta, clamp=False)
    assert raw[0]["psnr_full"] < rows[0]["psnr_full"] - 0.1  # clamping helps here
    # a purely radial perturbation: no orthogonal damage, no energy outside the noise line
    pure = decompose_perturbation(model, clean + noise, clean, 0.1 * noise)
    assert all(r["drop_orthogonal"] == pytest.approx(0, abs=1e-9)
               and r["energy_radial"] == pytest.approx(1)
               and r["angle_deg"] == pytest.approx(0, abs=1e-5) for r in pure)
    zero = decompose_perturbation(model, clean + noise, clean, torch.zeros_like(noise))[0]
    assert zero["drop_full"] == 0 and math.isnan(zero["energy_radial"])
    with pytest.raises(ValueError, match="names must have one entry per image"):
        decompose_perturbation(model, clean + noise, clean, delta, names=["a"])
    with pytest.raises(ValueError, match="delta must have the same shape"):
        decompose_perturbation(model, clean + noise, clean, delta[:1])


def _linear_psnr(a, x, g, t):
    """PSNR of f(y) = a y on y = x + t g, unclamped: MSE = mean(((a-1) x + a t g)^2)."""
    d = x.numel()
    xx, xg, gg = float(x.flatten() @ x.flatten()), float(x.flatten() @ g.flatten()), float(
        g.flatten() @ g.flatten())
    mse = ((a - 1) ** 2 * xx + 2 * a * (a - 1) * t * xg + a**2 * t**2 * gg) / d
    return -10 * math.log10(mse)


def _unit_noise(image, name, seed=0):
    draw = torch.randn(image.shape, generator=seeding.generator(seed, "noise", name))
    return draw.to(image.dtype)


def test_noise_level_sensitivity_matches_the_closed_form(linear_denoiser):
    g = torch.Generator().manual_seed(4)
    images = [(name, torch.rand(1, 16, 16, generator=g, dtype=torch.float64))
              for name in ("a", "b")]
    a = 0.9

    def wiener(level):  # a reference that knows the level: gain 1 / (1 + level^2 / 0.04)
        return linear_denoiser(1 / (1 + level**2 / 0.04))

    sigmas, scales = [22 / 255, 25 / 255, 28 / 255], [0.04, 0.1]
    result = noise_level_sensitivity(linear_denoiser(a), images, sigmas, wiener, scales, seed=0,
                                     sigma=SIGMA, clamp=False, progress=False)
    assert result["reference"] == "wiener" and result["sigmas"] == sigmas
    assert len(result["sweep"]) == 6 and len(result["off_shell"]) == 4

    def p(name, t, gain):
        x = dict(images)[name]
        return _linear_psnr(gain, x, _unit_noise(x, name), t)

    for row in result["sweep"]:
        t, name = row["sigma"], row["image"]
        assert row["psnr"] == pytest.approx(p(name, t, a), abs=1e-9)
        gain = 1 / (1 + t**2 / 0.04)
        assert row["reference_psnr"] == pytest.approx(p(name, t, gain), abs=1e-9)
        assert row["gap"] == pytest.approx(row["psnr"] - row["reference_psnr"], abs=1e-12)
    for row in result["off_shell"]:
        s, name = row["scale"], row["image"]
        levels = (SIGMA, SIGMA * (1 + s), SIGMA * (1 - s))
        m0, mp, mm = (p(name, t, a) for t in levels)
        r0, rp, rm = (p(name, t, 1 / (1 + t**2 / 0.04)) for t in levels)
        assert row["symmetric"] == pytest.approx(m0 - (mp + mm) / 2, abs=1e-9)
        assert row["antisymmetric"] == pytest.approx((mm - mp) / 2, abs=1e-9)
        assert row["reference_symmetric"] == pytest.approx(r0 - (rp + rm) / 2, abs=1e-9)
        assert row["penalty"] == pytest.approx(row["symmetric"] - row["reference_symmetric"],
                                               abs=1e-12)
    mean = result["off_shell_mean"][1]
    assert mean["scale"] == 0.1 and mean["images"] == 2
    assert mean["penalty"] == pytest.approx(
        sum(r["penalty"] for r in result["off_shell"] if r["scale"] == 0.1) / 2)


class _Constant(nn.Module):
    """Outputs a fixed image whatever the input: its loss does not depend on the noise."""

    def __init__(self, image):
        super().__init__()
        self.image = image

    def forward(self, y):
        return self.image.expand_as(y)


def test_symmetric_part_vanishes_where_it_must(linear_denoiser):
    x = 0.2 + 0.6 * torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    images = [("x", x[0])]
    scales = [0.05, 0.2]
    # an output independent of the noise: no symmetric and no antisymmetric part
    flat = noise_level_sensitivity(_Constant(x + 0.01), images, [SIGMA], "none", scales,
                                   progress=False)
    assert "penalty" not in flat["off_shell"][0] and flat["reference"] is None
    assert all(r["symmetric"] == 0 and r["antisymmetric"] == 0 for r in flat["off_shell"])
    # a reference that is the model itself: the penalty is exactly 0
    model = linear_denoiser(0.7)
    same = noise_level_sensitivity(model, images, [SIGMA], lambda level: model, scales,
                                   progress=False)
    assert all(r["penalty"] == 0 and r["symmetric"] != 0 for r in same["off_shell"])
    # the identity (unclamped): 10 log10(1 - s^2) for any image
    ident = noise_level_sensitivity(nn.Identity(), images, [SIGMA], "none", scales, clamp=False,
                                    progress=False)
    for r in ident["off_shell"]:
        assert r["symmetric"] == pytest.approx(10 * math.log10(1 - r["scale"] ** 2), abs=1e-5)


def test_noise_level_sensitivity_uses_the_protocol_noise_and_a_level_aware_reference():
    torch.manual_seed(0)
    model = DnCNN(depth=3, features=4).eval()
    g = torch.Generator().manual_seed(2)
    images = [("im", torch.rand(1, 24, 24, generator=g))]
    result = noise_level_sensitivity(model, images, [20 / 255, SIGMA], scales=[0.1],
                                     seed=3, sigma=SIGMA, progress=False)
    assert result["reference"] == "nlmeans"
    gaussian = evaluate_robustness(model, images, SIGMA, attacks=(), seed=3, progress=False)
    at_sigma = next(r for r in result["sweep"] if r["sigma"] == SIGMA)
    assert at_sigma["psnr"] == pytest.approx(gaussian[0]["psnr"], abs=1e-4)
    # the reference is NL-means built at each level, on the same (scaled) noise draw
    low = next(r for r in result["sweep"] if r["sigma"] == 20 / 255)
    clean = images[0][1][None]
    expected = score(NLMeans(sigma=20 / 255), noisy_image(clean, 20 / 255, 3, "im"), clean)
    assert low["reference_psnr"] == pytest.approx(expected["psnr"], abs=1e-4)
    r0, rp, rm = (score(NLMeans(sigma=t), noisy_image(clean, t, 3, "im"), clean)["psnr"]
                  for t in (SIGMA, SIGMA * 1.1, SIGMA * 0.9))
    assert result["off_shell"][0]["reference_symmetric"] == pytest.approx(r0 - (rp + rm) / 2,
                                                                          abs=1e-4)


@pytest.mark.slow
def test_bm3d_reference():
    pytest.importorskip("bm3d")
    from denoise_adv.models import BM3D

    x = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(5))
    result = noise_level_sensitivity(nn.Identity(), [("x", x)], [SIGMA], "bm3d", [],
                                     progress=False)
    expected = score(BM3D(sigma=SIGMA), noisy_image(x[None], SIGMA, 0, "x"), x[None])
    assert result["reference"] == "bm3d"
    assert result["sweep"][0]["reference_psnr"] == pytest.approx(expected["psnr"], abs=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    ({"scales": [1.0]}, "scales must be in"),
    ({"scales": [-0.1]}, "scales must be in"),
    ({"sigma": 0.0}, "sigma must be > 0"),
    ({"reference": "wiener"}, "reference must be"),
    ({"sigmas": [], "scales": []}, "must not both be empty"),
])
def test_noise_level_sensitivity_refuses_bad_arguments(kwargs, message):
    args = {"sigmas": [SIGMA], **kwargs}
    sigmas = args.pop("sigmas")
    with pytest.raises(ValueError, match=message):
        noise_level_sensitivity(nn.Identity(), torch.rand(1, 1, 8, 8), sigmas, progress=False,
                                **args)
