"""Restorer: differentiable through deepinv's iterations, frozen, declaring the contract; the
tasks' physics and the DPIR builder; the classical baselines."""

from __future__ import annotations

import copy

import deepinv as dinv
import pytest
import torch
from deepinv.optim import BaseOptim

from denoise_adv.data import builtin_image
from denoise_adv.integrations.deepinv import as_deepinv_denoiser
from denoise_adv.metrics import psnr
from denoise_adv.models import DnCNN, NLMeans, pretrained
from denoise_adv.models.contract import (
    channels_of,
    is_differentiable,
    is_randomized,
    output_shape_differs,
)
from denoise_adv.restoration import (
    TASKS,
    BicubicUpsampling,
    MaskedAverageInpainting,
    Restorer,
    WienerDeconvolution,
    baseline_restorer,
    dpir,
    dpir_restorer,
    make_physics,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ffdnet():
    return pretrained("ffdnet-ipol-gray")


@pytest.fixture(scope="module")
def crops():
    """Two textured 32x32 crops of built-in images, (2, 1, 32, 32)."""
    return torch.stack([builtin_image(name)[:, 112:144, 112:144] for name in ("camera", "coins")])


def test_dpir_builder_is_deepinvs_dpir_at_8_iterations(ffdnet, crops):
    physics = make_physics("deblur", 32)
    y = Restorer(dpir(ffdnet), physics).measure(crops, seed=0)
    theirs = dinv.optim.DPIR(sigma=0.01, denoiser=as_deepinv_denoiser(ffdnet))
    with torch.no_grad():
        assert torch.equal(dpir(ffdnet, 0.01, 8)(y, physics), theirs(y, physics))


def test_gradient_flows_through_dpir_and_matches_finite_differences(ffdnet, crops):
    """Float64 (a copy of the prior), central differences at h = 1e-5 along a unit direction."""
    restorer = dpir_restorer("deblur", copy.deepcopy(ffdnet).double(), 32, iterations=3)
    x = crops[:1].double()
    y = restorer.measure(x, seed=0).requires_grad_(True)
    direction = torch.randn(y.shape, generator=torch.Generator().manual_seed(1),
                            dtype=torch.float64)
    direction = direction / direction.norm()
    loss = lambda out: (out - x).pow(2).sum()  # noqa: E731
    (grad,) = torch.autograd.grad(loss(restorer(y)), y)
    h = 1e-5
    with torch.no_grad():
        numeric = (loss(restorer(y + h * direction)) - loss(restorer(y - h * direction))) / (2 * h)
    analytic = (grad * direction).sum()
    assert abs(float(analytic)) > 1e-3
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-3)


def test_unfold_is_restored_and_nothing_is_trainable(ffdnet, crops):
    algorithm = dpir(ffdnet, iterations=2)
    restorer = Restorer(algorithm, make_physics("sr2", 32))
    y = restorer.measure(crops, seed=0).requires_grad_(True)
    out = restorer(y)
    assert out.requires_grad and out.shape == crops.shape
    assert algorithm.unfold is False  # switched on for the call only
    # deepinv keeps the prior in a plain list: the restorer registers it (moves, freezes)
    assert sum(p.numel() for p in restorer.parameters()) == sum(
        p.numel() for p in ffdnet.parameters()) > 0
    assert not any(p.requires_grad for p in restorer.parameters())
    assert not any(m.training for m in algorithm.modules())
    restorer.train()
    assert restorer.training and not any(m.training for m in algorithm.modules())
    with torch.no_grad():
        assert torch.equal(restorer(y), out.detach())


def _unfolded_pgd():
    prior = dinv.optim.prior.PnP(denoiser=as_deepinv_denoiser(DnCNN(depth=2, features=4)))
    return dinv.optim.optim_builder("PGD", prior=prior, data_fidelity=dinv.optim.data_fidelity.L2(),
                                    max_iter=3, unfold=True,
                                    params_algo={"stepsize": 1.0, "g_param": 0.05})


@pytest.mark.parametrize("kind", ["unfolded", "artifact-removal", "function"])
def test_other_reconstructors_give_gradients_and_nothing_trainable(kind):
    """An unfolded network (trainable step sizes made frozen), ArtifactRemoval, a function."""
    torch.manual_seed(0)
    reconstructor = {
        "unfolded": _unfolded_pgd,
        "artifact-removal": lambda: dinv.models.ArtifactRemoval(
            as_deepinv_denoiser(DnCNN(depth=2, features=4))),
        "function": lambda: lambda y, physics: physics.A_adjoint(y) * 2,
    }[kind]()
    trainable = sum(p.numel() for p in getattr(reconstructor, "parameters", list)()
                    if p.requires_grad)
    restorer = Restorer(reconstructor, make_physics("sr2", 16, noise=0.05))
    y = torch.rand(1, 1, 8, 8, requires_grad=True)
    out = restorer(y)
    (grad,) = torch.autograd.grad(out.sum(), y)
    assert out.shape == (1, 1, 16, 16) and float(grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in restorer.parameters())
    assert trainable > 0 or kind == "function"


def test_to_moves_the_hidden_prior():
    restorer = dpir_restorer("sr2", DnCNN(depth=2, features=4), 16, iterations=1)
    restorer.to(torch.float64)
    y = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    assert restorer(y).dtype == torch.float64


def test_without_restorer_deepinv_gives_no_gradient(ffdnet, crops):
    """The reason the restorer exists: deepinv's optimisers run under no_grad by default."""
    physics = make_physics("deblur", 32)
    y = Restorer(dpir(ffdnet), physics).measure(crops, seed=0).requires_grad_(True)
    assert not dpir(ffdnet, iterations=2)(y, physics).requires_grad


def test_contract_declarations(ffdnet):
    physics = make_physics("deblur", 16, channels=3)
    restorer = Restorer(dpir(DnCNN(channels=3, depth=2, features=4), iterations=1), physics)
    assert channels_of(restorer) == 3 and output_shape_differs(restorer)
    assert is_differentiable(restorer) and not is_randomized(restorer)
    assert channels_of(Restorer(lambda y, p: y, make_physics("sr2", 16))) == 1  # physics size
    assert not is_differentiable(Restorer(dpir(NLMeans(0.01), iterations=1), physics))
    forward_only = Restorer(lambda y, p: y, physics, differentiable=False, randomized=True)
    assert not is_differentiable(forward_only) and is_randomized(forward_only)
    assert channels_of(Restorer(lambda y, p: y, physics, channels=1)) == 1


def test_measure_is_seeded_gaussian_noise_on_the_measurement(crops):
    restorer = Restorer(lambda y, p: y, make_physics("sr2", 32, noise=0.05))
    y = restorer.measure(crops, seed=3)
    assert y.shape == (2, 1, 16, 16)
    assert torch.equal(y, restorer.measure(crops, seed=3))
    assert not torch.equal(y, restorer.measure(crops, seed=4))
    noise = y - restorer.physics.A(crops)
    assert float(noise.std()) == pytest.approx(0.05, rel=0.1)
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(y, restorer.measure(crops, generator=generator))


def test_tasks_physics_shapes_and_fixed_randomness():
    x = torch.rand(1, 1, 32, 32)
    sizes = {"deblur": 32, "deblur-motion": 32, "sr2": 16, "sr4": 8, "inpaint": 32}
    for task in TASKS:
        assert make_physics(task, 32).A(x).shape[-1] == sizes[task]
    mask = make_physics("inpaint", 32).mask
    assert torch.equal(mask, make_physics("inpaint", 32).mask)
    assert not torch.equal(mask, make_physics("inpaint", 32, seed=1).mask)
    assert 0.4 < float(mask.mean()) < 0.6
    motion = make_physics("deblur-motion", 32).filter
    assert torch.equal(motion, make_physics("deblur-motion", 32).filter)
    assert float(motion.sum()) == pytest.approx(1.0, abs=1e-5)
    assert motion.shape[-1] == 15 and not torch.equal(motion, make_physics("deblur", 32).filter)


def test_baselines_restore_better_than_the_measurement(crops):
    for task in ("deblur", "deblur-motion", "inpaint"):
        restorer = baseline_restorer(task, 32)
        y = restorer.measure(crops, seed=0)
        assert float(psnr(restorer(y).clamp(0, 1), crops).mean()) > float(
            psnr(y.clamp(0, 1), crops).mean()) + 1, task
    restorer = baseline_restorer("sr2", 32)
    y = restorer.measure(crops, seed=0)
    nearest = torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")
    assert float(psnr(restorer(y).clamp(0, 1), crops).mean()) > float(
        psnr(nearest.clamp(0, 1), crops).mean())


def test_baselines_exact_cases():
    """Wiener solves its normal equations A^T(A x - y) + lam D^T D x = 0 (float64, circular
    differences); bicubic keeps constants; inpainting keeps observed pixels, fills constants."""
    physics = make_physics("deblur-motion", 32, noise=0.0)
    y = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_hat = WienerDeconvolution(lam=1e-2)(y, physics)
    laplacian = 4 * x_hat - sum(x_hat.roll(s, d) for s in (1, -1) for d in (-1, -2))
    residual = physics.A_adjoint(physics.A(x_hat) - y) + 1e-2 * laplacian
    unsolved = physics.A_adjoint(physics.A(y) - y)  # the residual of x = y, for scale
    assert float(residual.abs().max()) < 1e-6 < float(unsolved.abs().max())
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    flat = torch.full((1, 1, 8, 8), 0.3)
    upsampled = BicubicUpsampling()(flat, make_physics("sr4", 32))
    assert upsampled.shape == (1, 1, 32, 32) and torch.allclose(upsampled, flat[..., :1, :1])
    inpaint = make_physics("inpaint", 32, noise=0.0)
    y = inpaint.A(x)
    filled = MaskedAverageInpainting()(y, inpaint)
    kept = inpaint.mask.bool()
    assert torch.equal(filled[kept], x[kept])
    constant = torch.full((1, 1, 32, 32), 0.3)
    assert torch.allclose(MaskedAverageInpainting()(inpaint.A(constant), inpaint), constant,
                          atol=1e-6)


def test_bad_arguments_name_themselves(ffdnet):
    physics = make_physics("deblur", 16)
    with pytest.raises(TypeError, match="reconstructor"):
        Restorer(3, physics)
    with pytest.raises(TypeError, match="physics"):
        Restorer(lambda y, p: y, torch.nn.Identity())
    with pytest.raises(ValueError, match="task"):
        make_physics("denoise", 16)
    with pytest.raises(ValueError, match="size"):
        make_physics("sr4", 18)
    with pytest.raises(ValueError, match="noise"):
        make_physics("sr2", 16, noise=-0.1)
    with pytest.raises(ValueError, match="iterations"):
        dpir(ffdnet, iterations=0)
    with pytest.raises(ValueError, match="y"):
        Restorer(lambda y, p: y, physics)(torch.full((1, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="seed and generator"):
        Restorer(lambda y, p: y, physics).measure(torch.rand(1, 1, 16, 16), seed=0,
                                                  generator=torch.Generator())
    with pytest.raises(TypeError, match="tensor"):
        Restorer(lambda y, p: (y,), physics)(torch.rand(1, 1, 16, 16))
    with pytest.raises(TypeError, match="factor"):
        Restorer(BicubicUpsampling(), physics)(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="lam"):
        WienerDeconvolution(lam=0)
    assert isinstance(dpir(ffdnet), BaseOptim)
