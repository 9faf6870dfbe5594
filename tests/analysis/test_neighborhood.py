import math

import pytest
import torch

from denoise_adv.analysis import (
    connected_set_check,
    gram_schmidt,
    neighborhood_2d,
    noisy_image,
    patch_attack,
    score,
    sphere_sweep,
)
from denoise_adv.attacks import AttackSpec


def test_gram_schmidt_is_orthonormal():
    g = torch.Generator().manual_seed(0)
    vectors = [torch.randn(1, 3, 5, 5, generator=g) for _ in range(3)]
    basis = gram_schmidt(*vectors)
    gram = torch.tensor([[float((a * b).sum()) for b in basis] for a in basis])
    torch.testing.assert_close(gram, torch.eye(3, dtype=torch.float32), atol=1e-12, rtol=0)
    # span preserved: the first vector lies along e1
    assert float((basis[0] * vectors[0].double()).sum()) == pytest.approx(
        vectors[0].double().norm().item())
    with pytest.raises(ValueError, match="linearly dependent"):
        gram_schmidt(vectors[0], 2 * vectors[0])


@pytest.fixture
def sample(trained_dncnn, sample_images):
    clean = sample_images[0][None, :, :32, :32]
    n1 = noisy_image(clean, 25 / 255, 0, "crop") - clean
    n2 = noisy_image(clean, 25 / 255, 0, "crop", draw=1) - clean
    delta = AttackSpec("linf").build(trained_dncnn, torch.Generator().manual_seed(0))(
        clean + n1, clean) - (clean + n1)
    return clean, n1, n2, delta


@pytest.mark.slow
def test_two_d_sweep(trained_dncnn, sample):
    clean, n1, _, delta = sample
    norm = delta.norm().item()
    result = neighborhood_2d(trained_dncnn, clean, n1, delta, [0.0, norm, 2 * norm], angles=24)
    base = score(trained_dncnn, clean + n1, clean)["psnr"]
    assert result["base_psnr"] == base
    assert result["psnr"][0] == pytest.approx([base] * 24, abs=1e-4)  # radius 0: unperturbed
    assert result["adversarial_fraction"][0] == 0.0
    assert min(result["psnr"][1]) < base - 0.2  # the attack's circle contains bad directions
    assert 0 < result["adversarial_fraction"][1] < 1
    # the sample at the attack's own angle and radius is the attack (delta lies in the plane)
    k = round(result["delta_angle_deg"] / 15) % 24
    assert result["psnr"][1][k] < base - 0.2
    assert len(result["worst_angle_deg"]) == 3


@pytest.mark.slow
def test_sphere_and_connected_set(trained_dncnn, sample):
    clean, n1, n2, delta = sample
    sphere = sphere_sweep(trained_dncnn, clean, n1, n2, delta, delta.norm().item(), 8, 5)
    assert len(sphere["psnr"]) == 5 and len(sphere["psnr"][0]) == 8
    top = sphere["psnr"][-1]  # elevation 90: the attack direction, same for every azimuth
    assert max(top) - min(top) < 1e-3
    check = connected_set_check(trained_dncnn, clean, n1, n2, AttackSpec("linf"), steps=5,
                                generator=torch.Generator().manual_seed(1))
    assert check["rotated_noise_drop"][0] == pytest.approx(0.0, abs=1e-6)  # t = 0 is n1 itself
    # t = 0 is the attack d1 itself; the default threshold is half its drop
    assert check["combined_attack_drop"][0] > 0.3
    assert check["threshold"] == pytest.approx(check["combined_attack_drop"][0] / 2)
    # Independent re-computation of one point of each family (t = 90 degrees: n2 alone, and
    # the attack d2 on x + n2 applied at x + n1), with the attack rebuilt from the same seed.
    base = score(trained_dncnn, clean + n1, clean)["psnr"]
    assert check["rotated_noise_drop"][-1] == pytest.approx(
        base - score(trained_dncnn, clean + n2, clean)["psnr"], abs=1e-4)
    atk = AttackSpec("linf").build(trained_dncnn, torch.Generator().manual_seed(1))
    atk(clean + n1, clean)  # the check draws d1's start first
    d2 = atk(clean + n2, clean) - (clean + n2)
    assert d2.abs().max() <= 2 / 255 + 1e-7
    assert check["combined_attack_drop"][-1] == pytest.approx(
        base - score(trained_dncnn, clean + n1 + d2, clean)["psnr"], abs=1e-3)
    assert check["combined_adversarial"] >= 0.6  # the attacks' span stays harmful
    assert len(check["t_deg"]) == 5 and check["t_deg"][-1] == pytest.approx(90.0)


@pytest.mark.slow
def test_patch_attack_is_local(trained_dncnn, sample_images):
    clean = sample_images[1][None]
    noisy = noisy_image(clean, 25 / 255, 0, "crop")
    result = patch_attack(trained_dncnn, clean, noisy, (16, 16, 32, 32), AttackSpec("linf"),
                          torch.Generator().manual_seed(0))
    for method in ("method1", "method2"):
        r = result[method]
        assert r["drop_inside"] > 0.3 and r["drop_inside"] > 3 * abs(r["drop_outside"])
        outside = torch.ones_like(clean, dtype=torch.bool)
        outside[..., 16:48, 16:48] = False
        assert torch.equal(result[f"{method}_input"][outside], noisy[outside])
    with pytest.raises(ValueError, match="must lie inside the image"):
        patch_attack(trained_dncnn, clean, noisy, (50, 50, 32, 32))
    assert math.isfinite(result["gaussian"]["inside"])


def test_non_finite_threshold_and_negative_radii_are_refused():
    """A NaN threshold compares false everywhere: it would report 0% adversarial."""
    from denoise_adv.analysis import neighborhood_2d
    from denoise_adv.models import DnCNN

    model = DnCNN(depth=2, features=4).eval()
    clean = torch.rand(1, 1, 8, 8)
    noise, delta = 0.1 * torch.randn_like(clean), 0.01 * torch.randn_like(clean)
    with pytest.raises(ValueError, match="threshold"):
        neighborhood_2d(model, clean, noise, delta, [1.0], angles=4, threshold=math.nan)
    with pytest.raises(ValueError, match="radii"):
        neighborhood_2d(model, clean, noise, delta, [-1.0], angles=4)
