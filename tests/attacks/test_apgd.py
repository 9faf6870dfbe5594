"""DenoiseAPGD: the paper's schedule, the budget, strength against tuned PGD, bookkeeping."""

import pytest
import torch

from denoise_adv import DenoiseAPGD, DenoisePGD, DenoisePGDL2
from denoise_adv.attacks import apgd_checkpoints, mse_per_image
from denoise_adv.models import DnCNN

EPS = 2 / 255


def test_checkpoints_match_the_papers_formula_by_hand():
    # p = 0, .22, .41 (+.19), .57 (+.16), .70 (+.13), .80 (+.10), .87 (+.07), .93 (+.06), .99
    assert apgd_checkpoints(100) == (0, 22, 41, 57, 70, 80, 87, 93, 99)
    # ceil(p * N): 4.4 -> 5, 8.2 -> 9, 11.4 -> 12, 14, 16, 17.4 -> 18, 18.6 -> 19, 19.8 -> 20
    assert apgd_checkpoints(20) == (0, 5, 9, 12, 14, 16, 18, 19, 20)
    # 0.41 * 100 is 41.00000000000001 in floats: the ceiling must still be 41
    assert apgd_checkpoints(1000) == (0, 220, 410, 570, 700, 800, 870, 930, 990)
    assert apgd_checkpoints(10) == (0, 3, 5, 6, 7, 8, 9, 10)  # repeated values listed once
    assert apgd_checkpoints(1) == (0, 1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        apgd_checkpoints(0)


def _tiny(seed=0, channels=1):
    torch.manual_seed(seed)
    return DnCNN(channels=channels, depth=3, features=8).eval()


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("per_pixel", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_stays_in_budget(norm, per_pixel, seed):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(3, 2, 12, 10, generator=g)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g)
    eps = 3 / 255 if norm == "Linf" else 0.05
    atk = DenoiseAPGD(_tiny(seed, 2), norm=norm, eps=eps, steps=7, n_restarts=2, seed=seed,
                      per_pixel=per_pixel)
    delta = atk(noisy, clean) - noisy
    if norm == "Linf":
        assert delta.abs().max() <= eps + 1e-7
        assert delta.abs().max() > 0.9 * eps  # it uses the budget
    else:
        radius = eps * (2 * 12 * 10) ** 0.5 if per_pixel else eps
        norms = delta.flatten(1).norm(dim=1)
        assert (norms <= radius * (1 + 1e-5)).all() and (norms > 0.9 * radius).all()


def test_clip_is_respected():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 8, 8, generator=g)
    adv = DenoiseAPGD(_tiny(), eps=0.1, steps=5, seed=0, clip=(0, 1))(clean, clean)
    assert adv.min() >= 0 and adv.max() <= 1


def _mse(model, adv, clean):
    with torch.no_grad():
        return mse_per_image(model(adv), clean)


@pytest.mark.parametrize(("norm", "pgd", "kwargs"), [("Linf", DenoisePGD, {}),
                                                     ("L2", DenoisePGDL2, {"per_pixel": True})])
def test_at_least_as_strong_as_the_best_fixed_step_pgd(trained_dncnn, noisy_pair, norm, pgd,
                                                       kwargs):
    """At equal steps, APGD reaches at least the loss of PGD with the best alpha of a grid
    (measured: eps/4 to eps/2 is best at 10 steps, eps/20 lags by 10-15%)."""
    noisy, clean = noisy_pair
    for steps in (10, 20):
        grid = [_mse(trained_dncnn, pgd(trained_dncnn, eps=EPS, alpha=EPS * frac, steps=steps,
                                        generator=torch.Generator().manual_seed(1), **kwargs)(
            noisy, clean), clean) for frac in (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)]
        best = max(grid, key=lambda m: m.mean().item())
        atk = DenoiseAPGD(trained_dncnn, norm=norm, eps=EPS, steps=steps, seed=1, **kwargs)
        apgd = _mse(trained_dncnn, atk(noisy, clean), clean)
        assert apgd.mean() >= best.mean()
        if steps == 10:  # a badly tuned alpha is clearly weaker
            assert apgd.mean() > 1.05 * grid[0].mean()
        # the returned image is the best point found, and its loss is the one recorded
        assert torch.allclose(atk.last_losses[0, -1], apgd, rtol=1e-5)
    assert (apgd >= best).all()  # at 20 steps, image by image too


def test_best_loss_is_monotone_and_restarts_keep_the_best_per_image(trained_dncnn, noisy_pair):
    noisy, clean = (x[:, :, :32, :32] for x in noisy_pair)
    atk = DenoiseAPGD(trained_dncnn, eps=EPS, steps=6, n_restarts=3, seed=0)
    mse = _mse(trained_dncnn, atk(noisy, clean), clean)
    losses = atk.last_losses
    assert losses.shape == (3, 7, 3)
    assert (losses.diff(dim=1) >= 0).all() and (losses[:, -1] > losses[:, 0]).all()
    assert torch.allclose(mse, losses[:, -1].max(dim=0).values, rtol=1e-5)
    assert not torch.equal(losses[0], losses[1])  # restarts start elsewhere


def test_linear_denoiser_ends_on_the_worst_vertex(linear_denoiser):
    """On f(y) = a*y the loss sum((r + a*delta)^2), r = a*y - x, is maximised at the vertex
    delta = eps*sign(r). Where |r| > a*eps the gradient's sign is that sign everywhere in the
    ball, so APGD must end exactly there; elsewhere on a vertex too (a local maximum)."""
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 6, 6, generator=g)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g)
    a, eps = 0.5, 0.05
    delta = DenoiseAPGD(linear_denoiser(a), eps=eps, steps=10, seed=0)(noisy, clean) - noisy
    r = a * noisy - clean
    fixed = r.abs() > a * eps
    assert fixed.float().mean() > 0.8
    assert torch.allclose(delta[fixed], eps * r[fixed].sign(), atol=1e-7)
    assert torch.allclose(delta.abs(), torch.full_like(delta, eps), atol=1e-7)


def test_same_seed_same_result_and_generator(trained_dncnn, noisy_pair):
    noisy, clean = (x[:2, :, :16, :16] for x in noisy_pair)
    atk = DenoiseAPGD(trained_dncnn, norm="L2", eps=0.1, steps=3, seed=5)
    first = atk(noisy, clean)
    assert torch.equal(first, atk(noisy, clean))
    assert not torch.equal(first, DenoiseAPGD(trained_dncnn, norm="L2", eps=0.1, steps=3,
                                              seed=6)(noisy, clean))
    by_generator = DenoiseAPGD(trained_dncnn, norm="L2", eps=0.1, steps=3,
                               generator=torch.Generator().manual_seed(5))(noisy, clean)
    assert torch.equal(first, by_generator)  # a seed is a fresh generator per call


def test_without_clean_image_and_targeted(trained_dncnn, noisy_pair):
    noisy, clean = (x[:2, :, :24, :24] for x in noisy_pair)
    adv = DenoiseAPGD(trained_dncnn, eps=EPS, steps=5, seed=0)(noisy)
    with torch.no_grad():
        assert (trained_dncnn(adv) - trained_dncnn(noisy)).abs().max() > 1e-3
    atk = DenoiseAPGD(trained_dncnn, eps=EPS, steps=5, seed=0)
    atk.set_mode_targeted_by_label(quiet=True)
    adv = atk(noisy, clean)
    assert (_mse(trained_dncnn, adv, clean) < _mse(trained_dncnn, noisy, clean)).all()
    assert (atk.last_losses.diff(dim=1) <= 0).all()  # the loss itself, decreasing


def test_argument_checks():
    model = _tiny()
    with pytest.raises(ValueError, match="norm must be 'Linf' or 'L2'"):
        DenoiseAPGD(model, norm="L1")
    with pytest.raises(TypeError, match="norm must be a string"):
        DenoiseAPGD(model, norm=2)
    for name, value, error in (("steps", 0, ValueError), ("n_restarts", 0, ValueError),
                               ("eot_iter", 0, ValueError), ("eps", -1.0, ValueError),
                               ("rho", 1.5, ValueError), ("seed", 1.5, TypeError)):
        with pytest.raises(error, match=name):
            DenoiseAPGD(model, **{name: value})
    with pytest.raises(ValueError, match="seed or generator, not both"):
        DenoiseAPGD(model, seed=0, generator=torch.Generator())
    assert DenoiseAPGD(model, norm="l2").norm == "L2"


def test_scalar_loss_needs_a_batch_of_one():
    model, x = _tiny(), torch.rand(2, 1, 8, 8)
    scalar = torch.nn.MSELoss()
    with pytest.raises(ValueError, match="one value per image, shape \\(2,\\)"):
        DenoiseAPGD(model, steps=2, loss=scalar, seed=0)(x, x)
    adv = DenoiseAPGD(model, steps=2, loss=scalar, seed=0)(x[:1], x[:1])
    assert adv.shape == (1, 1, 8, 8)


def test_params_repr_and_cost(monkeypatch):
    model = _tiny()
    atk = DenoiseAPGD(model, norm="L2", eps=0.5, steps=4, n_restarts=2, per_pixel=True, seed=3)
    assert atk.params == {"attack": "DenoiseAPGD", "mode": "default", "norm": "L2", "eps": 0.5,
                          "steps": 4, "n_restarts": 2, "eot_iter": 1, "per_pixel": True,
                          "rho": 0.75, "seed": 3, "clip": None, "amp": None}
    assert "DenoiseAPGD(" in repr(atk) and "alpha" not in repr(atk)
    calls = {"grad": 0, "nograd": 0}
    forward = model.forward

    def counting(x):
        calls["grad" if torch.is_grad_enabled() else "nograd"] += 1
        return forward(x)

    monkeypatch.setattr(model, "forward", counting)
    x = torch.rand(1, 1, 8, 8)
    atk(x, x)
    # per restart: `steps` forward+backward passes and one forward for the last point
    assert calls == {"grad": 2 * 4, "nograd": 2}
