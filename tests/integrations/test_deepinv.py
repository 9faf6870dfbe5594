"""deepinv integration, used the way deepinv code is written: physics, noise models, Trainer,
PnP priors in optim_builder, deepinv denoisers under the package's attacks."""

import pytest
import torch
from scipy import stats
from torch import nn

dinv = pytest.importorskip("deepinv")

from denoise_adv import DenoisePGD  # noqa: E402
from denoise_adv.integrations.deepinv import (  # noqa: E402
    DeepinvDenoiser,
    MixedNoiseModel,
    TSNoiseModel,
    as_deepinv_denoiser,
    denoiser_from_physics,
)
from denoise_adv.metrics import psnr  # noqa: E402
from denoise_adv.models import DnCNN, FFDNet, as_denoiser  # noqa: E402
from denoise_adv.noise import gaussian_noise, mixed_noise, ts_noise  # noqa: E402
from denoise_adv.typical import aep_deviation, ts_expected_shift  # noqa: E402

SIGMA = 25 / 255


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _small_drunet() -> nn.Module:
    torch.manual_seed(0)
    return dinv.models.DRUNet(in_channels=1, out_channels=1, nc=(8, 16, 32, 64), nb=1,
                              pretrained=None).eval()


def _small_deepinv_dncnn() -> nn.Module:
    torch.manual_seed(0)
    return dinv.models.DnCNN(in_channels=1, out_channels=1, depth=4, nf=8, pretrained=None).eval()


# ------------------------------------------------------------------------------ noise models
def test_noise_models_draw_with_the_package_samplers():
    x = torch.rand(3, 1, 12, 12)
    shape = tuple(x.shape)
    ts = TSNoiseModel(0.1, iterations=7, rng=_rng(0))(x)
    torch.testing.assert_close(ts, x + ts_noise(shape, 0.1, 7, generator=_rng(0)), rtol=0,
                               atol=0)
    screening = TSNoiseModel(0.1, iterations=3, method="screening", rng=_rng(0))(x)
    torch.testing.assert_close(
        screening, x + ts_noise(shape, 0.1, 3, "screening", generator=_rng(0)), rtol=0, atol=0)
    gauss = TSNoiseModel(0.1, p=0.0, rng=_rng(0))(x)
    torch.testing.assert_close(gauss, x + gaussian_noise(shape, 0.1, _rng(0)), rtol=0, atol=0)
    mixed = MixedNoiseModel((0.1, 0.2), (1, 3), rng=_rng(0))(x)
    torch.testing.assert_close(mixed, x + mixed_noise(shape, (0.1, 0.2), (1, 3), _rng(0)),
                               rtol=0, atol=0)


@pytest.mark.parametrize("make", [TSNoiseModel.ts_pres, TSNoiseModel.ts_def,
                                  lambda s, **kw: TSNoiseModel(s, p=1.0, **kw)],
                         ids=["ts-pres", "ts-def", "ts"])
def test_p_is_the_fraction_of_ts_samples(make):
    # d = 64 and T = 1000: the TS shell (E[e] ~ 0.3) is far from the Gaussian one (e ~ 0 +- 0.09),
    # so the mean AEP deviation measures p: E[e] = p * ts_expected_shift(d, T).
    model = make(0.1, iterations=1000, rng=_rng(1))
    physics = dinv.physics.Denoising(noise_model=model)
    n = physics(torch.zeros(4000, 1, 8, 8)).flatten(1).double()
    e = aep_deviation(n, 0.1)
    expected = model.p * ts_expected_shift(64, 1000)
    assert abs(e.mean().item() - expected) < 4 * e.std().item() / 4000**0.5
    # sample by sample: e < 0.2 holds for a Gaussian draw with probability P(chi2_64 < 1.4 * 64)
    # and for a TS draw with probability ~4e-9
    below = (e < 0.2).double().mean().item()
    assert below == pytest.approx((1 - model.p) * stats.chi2.cdf(1.4 * 64, 64), abs=0.03)


def test_physics_seed_is_reproducible_with_and_without_rng():
    x = torch.rand(2, 1, 16, 16)
    physics = dinv.physics.Denoising(noise_model=TSNoiseModel(SIGMA))  # no rng
    first = physics(x, seed=1)
    torch.testing.assert_close(physics(x, seed=1), first, rtol=0, atol=0)
    assert not torch.equal(physics(x, seed=2), first)
    seeded = dinv.physics.Denoising(noise_model=TSNoiseModel(SIGMA, rng=_rng(5)))
    torch.testing.assert_close(seeded(x, seed=1), first, rtol=0, atol=0)
    # deepinv's reset_rng (the Trainer's loop_random_online_physics) replays the stream
    model = TSNoiseModel.ts_def(SIGMA, rng=_rng(5))
    a, b = model(x), model(x)
    assert not torch.equal(a, b)
    model.reset_rng()
    torch.testing.assert_close(model(x), a, rtol=0, atol=0)


def test_sigma_float_per_sample_update_and_scaling():
    x = torch.zeros(2, 1, 10, 10)
    model = TSNoiseModel(0.1, rng=_rng(0))
    assert isinstance(model.sigma, torch.Tensor) and model.sigma.item() == pytest.approx(0.1)
    physics = dinv.physics.Denoising(noise_model=model)
    physics.update(sigma=torch.tensor([0.0, 0.2]))  # how deepinv sets per-sample levels
    y = physics(x)
    assert torch.equal(y[0], x[0]) and y[1].abs().max() > 0
    y = physics(x, sigma=0.3, seed=4)  # forward(..., sigma=) replaces the level, as GaussianNoise
    assert model.sigma.item() == pytest.approx(0.3)
    torch.testing.assert_close(y, ts_noise(x.shape, 0.3, 10, generator=_rng(4)), rtol=0, atol=0)
    # scaling, deepinv's algebra: TS noise is linear in sigma, per sample too
    torch.testing.assert_close((2.0 * model)(x, seed=3), 2 * model(x, seed=3))
    t = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)
    scaled = t * model
    torch.testing.assert_close(scaled.sigma, torch.tensor([0.3, 0.9]))
    torch.testing.assert_close(scaled(x, seed=3), t * model(x, seed=3))


def test_composition_adds_both_noises():
    x = torch.rand(2, 1, 8, 8)
    composed = TSNoiseModel(0.1, rng=_rng(1)) * dinv.physics.GaussianNoise(0.05, rng=_rng(2))
    replay = TSNoiseModel(0.1, rng=_rng(1))(dinv.physics.GaussianNoise(0.05, rng=_rng(2))(x))
    torch.testing.assert_close(composed(x), replay, rtol=0, atol=0)


def test_mixed_noise_model_levels_and_sigma():
    model = MixedNoiseModel((0.1, 0.3), weights=(1, 3), rng=_rng(0))
    assert model.sigma.item() == pytest.approx((0.25 * 0.01 + 0.75 * 0.09) ** 0.5)
    n = dinv.physics.Denoising(noise_model=model)(torch.zeros(2000, 1, 16, 16))
    std = n.flatten(1).std(dim=1)
    high = std > 0.2
    assert (std[high] - 0.3).abs().max() < 0.06 and (std[~high] - 0.1).abs().max() < 0.02
    assert high.double().mean().item() == pytest.approx(0.75, abs=4 * (0.75 * 0.25 / 2000) ** 0.5)
    model.update_parameters(sigmas=(0.2, 0.4))
    assert model.sigma.item() == pytest.approx((0.25 * 0.04 + 0.75 * 0.16) ** 0.5)
    assert (0.5 * model).sigma.item() == pytest.approx(model.sigma.item() / 2)
    with pytest.raises(ValueError, match="update sigmas"):
        model.update_parameters(sigma=0.1)


def test_trainer_trains_with_ts_online():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 16, 16)
    net = DnCNN(depth=3, features=8)
    seen = []
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    model = dinv.models.ArtifactRemoval(as_deepinv_denoiser(net))
    physics = dinv.physics.Denoising(noise_model=TSNoiseModel(SIGMA, iterations=1000,
                                                              rng=_rng(0)))
    before = [p.detach().clone() for p in net.parameters()]
    trainer = dinv.Trainer(
        model=model, physics=physics, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        train_dataloader=torch.utils.data.DataLoader([{"x": image} for image in x],
                                                     batch_size=4), epochs=1,
        online_measurements=True, save_path=None, verbose=False, show_progress_bar=False,
        device="cpu", non_blocking_transfers=False)
    trainer.train()
    # the network saw x + TS noise drawn from the noise model's generator, batch after batch
    replay = TSNoiseModel(SIGMA, iterations=1000, rng=_rng(0))
    assert len(seen) == 2
    for batch, inputs in zip(x.split(4), seen):
        torch.testing.assert_close(inputs, replay(batch), rtol=0, atol=0)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


# ---------------------------------------------------------------------------- our denoisers
def test_pnp_hqs_with_our_dncnn(trained_dncnn, sample_images):
    x = torch.stack(sample_images)
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(SIGMA, rng=_rng(0)))
    y = physics(x)
    denoiser = as_deepinv_denoiser(trained_dncnn)
    assert isinstance(denoiser, dinv.models.Denoiser)
    prior = dinv.optim.prior.PnP(denoiser=denoiser)

    def hqs(max_iter: int) -> nn.Module:
        return dinv.optim.optim_builder(
            "HQS", prior=prior, data_fidelity=dinv.optim.data_fidelity.L2(),
            params_algo={"stepsize": 1.0, "g_param": SIGMA}, max_iter=max_iter)

    with torch.no_grad():
        # one HQS step from x0 = A^T y = y: prox of the data term at y is y, then the denoiser
        torch.testing.assert_close(hqs(1)(y, physics), trained_dncnn(y), rtol=0, atol=1e-6)
        x_hat = hqs(3)(y, physics)
    gain = psnr(x_hat.clamp(0, 1), x) - psnr(y.clamp(0, 1), x)
    assert bool((gain > 3.0).all()), gain


def test_deepinv_denoiser_passes_sigma_to_takes_sigma_models():
    torch.manual_seed(0)
    ffdnet = FFDNet(channels=1, depth=3, features=8).eval()
    denoiser = as_deepinv_denoiser(ffdnet)
    y = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(denoiser(y, 0.1), ffdnet(y, 0.1))
        assert not torch.allclose(denoiser(y, 0.1), denoiser(y, 0.3))
    drunet = _small_drunet()
    assert as_deepinv_denoiser(drunet) is drunet  # already a deepinv Denoiser
    assert isinstance(denoiser, DeepinvDenoiser) and denoiser.prior.model is ffdnet


# ----------------------------------------------------------------- deepinv models, attacked
@pytest.mark.parametrize("make", [_small_drunet, _small_deepinv_dncnn], ids=["drunet", "dncnn"])
def test_denoise_pgd_on_deepinv_models(make, noisy_pair):
    model = make()
    noisy, clean = noisy_pair
    f = as_denoiser(model, sigma=SIGMA)
    with torch.no_grad():
        torch.testing.assert_close(f(noisy), model(noisy, SIGMA))
    adv = DenoisePGD(f, eps=2 / 255, alpha=0.5 / 255, steps=5, random_start=False)(noisy, clean)
    assert (adv - noisy).abs().max() <= 2 / 255 + 1e-6
    # untrained weights, so compare with the same budget spent on a random sign pattern
    signs = torch.randint(0, 2, noisy.shape, generator=_rng(0)).float() * 2 - 1
    with torch.no_grad():
        def loss(y):
            return (f(y) - clean).pow(2).flatten(1).mean(1)

        gain, random_gain = loss(adv) - loss(noisy), loss(noisy + 2 / 255 * signs) - loss(noisy)
        assert (f(adv) - f(noisy)).abs().max() > 1e-4
    assert bool(((gain > 0) & (gain > random_gain.abs())).all()), (gain, random_gain)


def test_denoiser_from_physics_follows_the_noise_level(noisy_pair):
    drunet = _small_drunet()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(SIGMA))
    f = denoiser_from_physics(drunet, physics)
    noisy, clean = noisy_pair
    with torch.no_grad():
        torch.testing.assert_close(f(noisy), drunet(noisy, SIGMA))
        physics.update(sigma=0.2)
        torch.testing.assert_close(f(noisy), drunet(noisy, 0.2))
        assert not torch.allclose(f(noisy), drunet(noisy, SIGMA))
    adv = DenoisePGD(f, eps=2 / 255, alpha=1 / 255, steps=2, random_start=False)(noisy, clean)
    assert 0 < (adv - noisy).abs().max() <= 2 / 255 + 1e-6
    # a TS physics carries its level the same way
    ts_physics = dinv.physics.Denoising(TSNoiseModel(0.05))
    with torch.no_grad():
        torch.testing.assert_close(denoiser_from_physics(drunet, ts_physics)(noisy),
                                   drunet(noisy, 0.05))


def test_noise_models_follow_the_input_device(device):
    physics = dinv.physics.Denoising(noise_model=TSNoiseModel.ts_def(SIGMA, rng=_rng(0)))
    x = torch.rand(4, 1, 8, 8)
    expected = physics(x, seed=1)
    physics.noise_model.to(device)  # the generator stays: same seed, same noise on any device
    y = physics(x.to(device), seed=1)
    assert y.device.type == device.type
    torch.testing.assert_close(y.cpu(), expected)


def test_clear_errors():
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        TSNoiseModel(p=2.0)
    with pytest.raises(ValueError, match="method must be one of"):
        TSNoiseModel(method="fast")
    with pytest.raises(ValueError, match="whole number for method='screening'"):
        TSNoiseModel(iterations=2.5, method="screening")
    with pytest.raises(TypeError, match="rng must be a torch.Generator"):
        TSNoiseModel(rng=0)
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        TSNoiseModel(sigma=torch.tensor([-0.1]))
    with pytest.raises(ValueError, match=r"one level per sample \(3\)"):
        TSNoiseModel(sigma=torch.tensor([0.1, 0.2]))(torch.zeros(3, 1, 4, 4))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        TSNoiseModel()(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="weights must have one entry per sigma"):
        MixedNoiseModel((0.1, 0.2), weights=(1,))
    with pytest.raises(TypeError, match="noise level .sigma"):
        denoiser_from_physics(_small_drunet(), dinv.physics.Denoising(dinv.physics.PoissonNoise()))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        as_deepinv_denoiser(lambda x, sigma: x)


# ------------------------------------------------------------ the contract, through deepinv
def test_a_fixed_level_model_warns_once_when_given_another_sigma():
    import warnings

    from denoise_adv.models import pretrained

    model = pretrained("dncnn-s25-normal")
    y = torch.rand(1, 1, 16, 16)
    denoiser = as_deepinv_denoiser(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            at_25 = denoiser(y, 25 / 255)  # its own level: nothing to say
            at_5 = denoiser(y, 5 / 255)
            again = denoiser(y, 50 / 255)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    assert "fixed-level" in messages[0] and "sigma 5/255" in messages[0] and "25/255" in messages[0]
    assert torch.equal(at_5, at_25) and torch.equal(again, at_25)  # it cannot follow sigma


def test_a_takes_sigma_model_honours_sigma_without_warning():
    import warnings

    ffdnet = FFDNet(channels=1, depth=3, features=8).eval()
    denoiser = as_deepinv_denoiser(ffdnet)
    y = torch.rand(1, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            torch.testing.assert_close(denoiser(y, 5 / 255), ffdnet(y, 5 / 255), rtol=0, atol=0)
            assert not torch.equal(denoiser(y, 5 / 255), denoiser(y, 50 / 255))


def test_noise_models_wrap_the_noise_spec():
    from denoise_adv.noise import NoiseSpec

    model = TSNoiseModel.ts_pres(0.1, iterations=7, rng=_rng(0))
    assert model.spec == NoiseSpec(model.sigma.item(), 7, 1 / 3)
    model.update_parameters(p=1.0)
    assert model.spec.p == 1.0
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        model.update_parameters(p=3.0)
    assert model.p == 1.0  # refused: unchanged
    from_spec = TSNoiseModel.from_spec(NoiseSpec(0.1, 7), rng=_rng(0))
    x = torch.zeros(2, 1, 8, 8)
    torch.testing.assert_close(from_spec(x), ts_noise(x.shape, 0.1, 7, generator=_rng(0)),
                               rtol=0, atol=0)
    assert MixedNoiseModel().sigmas.tolist() == [25 / 255, 26 / 255]
