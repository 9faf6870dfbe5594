"""ART's own attacks and defences on PyTorchDenoiser."""

import copy

import numpy as np
import pytest
import torch
from art.attacks.evasion import BasicIterativeMethod, FastGradientMethod, ProjectedGradientDescent
from torch import nn

from denoise_adv import DenoisePGD, DenoisePGDL2
from denoise_adv.integrations.art import PyTorchDenoiser, TSAugmentation, check_attack
from denoise_adv.metrics import psnr
from denoise_adv.typical import ts_expected_shift

EPS = 2 / 255


class _Smooth(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        return x - self.b(torch.tanh(self.a(x)))


@pytest.fixture
def estimator(trained_dncnn):
    return PyTorchDenoiser(trained_dncnn, input_shape=(1, 64, 64), device_type="cpu")


@pytest.fixture
def arrays(noisy_pair):
    noisy, clean = noisy_pair
    return noisy.numpy().astype(np.float32), clean.numpy().astype(np.float32)


def _psnr(model, x, clean):
    with torch.no_grad():
        return psnr(model(torch.from_numpy(x)).clamp(0, 1), torch.from_numpy(clean))


@pytest.mark.parametrize(
    "make",
    [
        lambda est: FastGradientMethod(est, norm=np.inf, eps=EPS),
        lambda est: FastGradientMethod(est, norm=2, eps=EPS * 64),
        lambda est: BasicIterativeMethod(est, eps=EPS, eps_step=EPS / 4, max_iter=10),
        lambda est: ProjectedGradientDescent(est, norm=np.inf, eps=EPS, eps_step=EPS / 4,
                                             max_iter=10, verbose=False),
        lambda est: ProjectedGradientDescent(est, norm=2, eps=EPS * 64, eps_step=EPS * 16,
                                             max_iter=10, verbose=False),
    ],
    ids=["fgm-inf", "fgm-2", "bim", "pgd-inf", "pgd-2"],
)
@pytest.mark.slow
def test_art_attacks_respect_budget_and_lower_psnr(estimator, arrays, trained_dncnn, make):
    noisy, clean = arrays
    attack = check_attack(make(estimator))
    adv = attack.generate(x=noisy, y=clean)
    delta = (adv - noisy).reshape(len(adv), -1)
    if attack.norm in (np.inf, "inf"):
        assert np.abs(delta).max() <= EPS + 1e-6
    else:
        assert np.linalg.norm(delta, axis=1).max() <= EPS * 64 * (1 + 1e-5)
    drop = _psnr(trained_dncnn, noisy, clean) - _psnr(trained_dncnn, adv, clean)
    assert bool((drop > 0.2).all()), drop


@pytest.mark.slow
def test_art_pgd_equals_denoise_pgd(estimator, arrays, trained_dncnn):
    noisy, clean = arrays
    art_adv = ProjectedGradientDescent(estimator, norm=np.inf, eps=EPS, eps_step=EPS / 4,
                                       max_iter=10, verbose=False).generate(x=noisy, y=clean)
    ours = DenoisePGD(trained_dncnn, eps=EPS, alpha=EPS / 4, steps=10, random_start=False)(
        torch.from_numpy(noisy), torch.from_numpy(clean))
    np.testing.assert_allclose(art_adv, ours.numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("smooth", [True, False], ids=["smooth-model", "dncnn"])
@pytest.mark.slow
def test_art_pgd_l2_equals_denoise_pgd_l2(arrays, trained_dncnn, smooth):
    # A summed loss: ART adds 1e-7 to the gradient norm before dividing, which would bias the
    # step of a mean loss (gradient norms ~1e-4) by ~0.1%; our step is scale-free.
    torch.manual_seed(0)
    model = _Smooth().eval() if smooth else trained_dncnn
    estimator = PyTorchDenoiser(model, input_shape=(1, 64, 64), device_type="cpu",
                                loss=nn.MSELoss(reduction="sum"))
    noisy, clean = arrays
    art_adv = ProjectedGradientDescent(estimator, norm=2, eps=0.5, eps_step=0.1, max_iter=10,
                                       verbose=False).generate(x=noisy, y=clean)
    ours = DenoisePGDL2(model, eps=0.5, alpha=0.1, steps=10, random_start=False)(
        torch.from_numpy(noisy), torch.from_numpy(clean)).numpy()
    if smooth:
        np.testing.assert_allclose(art_adv, ours, atol=1e-6, rtol=0)
    else:
        # float32 rounding differs between ART's NumPy steps and ours; on a ReLU network that can
        # flip a unit whose input sits at 0 and the iterates part locally, so compare strength.
        drop_art = _psnr(model, noisy, clean) - _psnr(model, art_adv, clean)
        drop_ours = _psnr(model, noisy, clean) - _psnr(model, ours, clean)
        torch.testing.assert_close(drop_art, drop_ours, rtol=0.02, atol=0.0)
        assert (np.abs(art_adv - ours) <= 1e-6).mean() > 0.9


def test_loss_gradient_matches_finite_differences():
    torch.manual_seed(0)
    model = _Smooth().double()
    est = PyTorchDenoiser(model, input_shape=(1, 5, 5), device_type="cpu")
    rng = np.random.default_rng(0)
    x, y = rng.random((2, 1, 5, 5)), rng.random((2, 1, 5, 5))
    grad = est.loss_gradient(x, y)
    assert grad.shape == x.shape and isinstance(grad, np.ndarray)

    def loss(xx):
        with torch.no_grad():
            return nn.functional.mse_loss(model(torch.from_numpy(xx)), torch.from_numpy(y)).item()

    h = 1e-6
    for index in [(0, 0, 0, 0), (1, 0, 2, 3), (0, 0, 4, 1)]:
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        assert grad[index] == pytest.approx((loss(plus) - loss(minus)) / (2 * h), rel=1e-5)
    tensor_grad = est.loss_gradient(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(tensor_grad.numpy(), grad)


def test_predict_in_batches_equals_model_output(estimator, arrays, trained_dncnn):
    noisy, _ = arrays
    with torch.no_grad():
        expected = np.concatenate([trained_dncnn(torch.from_numpy(noisy[i:i + 1])).numpy()
                                   for i in range(len(noisy))])
    np.testing.assert_allclose(estimator.predict(noisy, batch_size=1), expected, atol=1e-6)
    np.testing.assert_allclose(estimator.predict(noisy, batch_size=2), expected, atol=1e-5)


def test_compute_loss_per_sample_and_reduced(estimator, arrays, trained_dncnn):
    noisy, clean = arrays
    per_sample = estimator.compute_loss(noisy, clean)
    with torch.no_grad():
        out = trained_dncnn(torch.from_numpy(noisy))
    expected = (out - torch.from_numpy(clean)).pow(2).flatten(1).mean(1).numpy()
    np.testing.assert_allclose(per_sample, expected, rtol=1e-5)
    assert estimator.compute_loss(noisy, clean, reduction="mean") == pytest.approx(
        expected.mean(), rel=1e-5)
    from_pred = estimator.compute_loss_from_predictions(out.numpy(), clean, reduction="sum")
    assert from_pred == pytest.approx(((out.numpy() - clean) ** 2).sum(), rel=1e-5)


def test_get_activations(estimator, arrays, trained_dncnn):
    noisy, _ = arrays
    # the real layers, nested Sequential flattened: conv, relu, (conv, bn, relu) x 3, conv
    expected_names = [f"net.{i}" for i in range(len(trained_dncnn.net))]
    assert estimator.layer_names == expected_names
    x = torch.from_numpy(noisy)
    with torch.no_grad():
        conv = trained_dncnn.net[0](x)
        relu = torch.relu(conv)
        residual = trained_dncnn.noise(x)
    # layer 0 is read before the in-place ReLU that follows it overwrites its output
    np.testing.assert_allclose(estimator.get_activations(noisy, 0, batch_size=2), conv.numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(estimator.get_activations(noisy, 1), relu.numpy(), atol=1e-6)
    np.testing.assert_allclose(estimator.get_activations(noisy, -1), residual.numpy(), atol=1e-5)
    act = estimator.get_activations(noisy, layer="net", batch_size=2)  # any submodule by name
    np.testing.assert_allclose(act, residual.numpy(), atol=1e-5)
    x_grad = x.clone().requires_grad_(True)
    framework = estimator.get_activations(x_grad, 1, framework=True)
    (grad,) = torch.autograd.grad(framework.sum(), x_grad)
    assert grad.abs().sum() > 0
    with pytest.raises(ValueError, match="out of range"):
        estimator.get_activations(noisy, len(expected_names))
    with pytest.raises(ValueError, match="not a submodule"):
        estimator.get_activations(noisy, "net.99")


@pytest.mark.slow
def test_fit_with_ts_augmentation_lowers_the_loss(sample_images):
    torch.manual_seed(0)
    from denoise_adv.models import DnCNN

    model = DnCNN(depth=3, features=8)
    clean = torch.stack(sample_images).numpy().astype(np.float32)
    clean = np.concatenate([clean[:, :, i:i + 32, j:j + 32] for i in (0, 32) for j in (0, 32)])
    aug = TSAugmentation(sigma=25 / 255, iterations=10, ratio=2.0, seed=0)
    est = PyTorchDenoiser(model, input_shape=(1, 32, 32), device_type="cpu",
                          optimizer=torch.optim.Adam(model.parameters(), lr=3e-3),
                          preprocessing_defences=[aug])
    rng = np.random.default_rng(1)
    noisy = clean + (25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32)
    before = est.compute_loss(noisy, clean, reduction="mean")
    est.fit(clean, clean, batch_size=8, nb_epochs=15)
    after = est.compute_loss(noisy, clean, reduction="mean")
    assert after < 0.7 * before, (before, after)
    clone = est.clone_for_refitting()
    assert clone.optimizer is not est.optimizer
    assert all(p is q for p, q in zip(clone.model.parameters(),
                                      clone.optimizer.param_groups[0]["params"]))
    assert clone.preprocessing_defences[0] is aug
    clone.fit(clean, clean, batch_size=8, nb_epochs=1)  # the clone trains on its own


def test_ts_augmentation_keeps_y_aligned_and_draws_ts_noise():
    x = np.repeat(np.arange(200, dtype=np.float32)[:, None, None, None], 1600, axis=1)
    x = x.reshape(200, 1, 40, 40)
    x_aug, y_aug = TSAugmentation(sigma=0.1, iterations=10, ratio=1.5, seed=0)(x, x.copy())
    assert x_aug.shape == (500, 1, 40, 40) and y_aug.shape == (500, 1, 40, 40)
    np.testing.assert_array_equal(x_aug[:200], x)
    noise = (x_aug[200:] - y_aug[200:]).reshape(300, -1)
    assert np.abs(noise).max() < 1  # each copy sits on its own clean sample (values 1 apart)
    e = ((noise.astype(np.float64) ** 2).mean(1) / 0.01 - 1) / 2
    assert abs(e.mean() - ts_expected_shift(1600, 10)) < 4 * e.std() / np.sqrt(300)
    replaced, y_same = TSAugmentation(sigma=0.1, augmentation=False, seed=0)(x, x)
    assert replaced.shape == x.shape and y_same is x and not np.array_equal(replaced, x)


def test_clear_errors(estimator, arrays):
    noisy, clean = arrays
    with pytest.raises(ValueError, match="y is missing"):
        estimator.loss_gradient(noisy, None)
    with pytest.raises(ValueError, match=r"y equals the model's output.*generate\(x=noisy, y="):
        FastGradientMethod(estimator, eps=EPS).generate(x=noisy)
    with pytest.raises(ValueError, match="y equals the model's output"):
        ProjectedGradientDescent(estimator, eps=EPS, eps_step=EPS, max_iter=2,
                                 verbose=False).generate(x=noisy)
    with pytest.raises(ValueError, match="y must have the shape of the model output"):
        estimator.loss_gradient(noisy, clean[:, :, :32])
    with pytest.raises(ValueError, match="denoise_adv.DenoisePGD"):
        check_attack(ProjectedGradientDescent(estimator, eps=EPS, eps_step=EPS, max_iter=2,
                                              num_random_init=1))
    with pytest.raises(ValueError, match="Random initialisation is only supported"):
        ProjectedGradientDescent(estimator, eps=EPS, eps_step=EPS, max_iter=2, num_random_init=1,
                                 verbose=False).generate(x=noisy, y=clean)  # ART's own refusal
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        PyTorchDenoiser(lambda x: x, input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        PyTorchDenoiser(nn.Identity(), input_shape=(1, -4, 4))
    with pytest.raises(ValueError, match="An optimizer is needed"):
        estimator.fit(noisy, clean)
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        TSAugmentation(p=2.0)


# ------------------------------------------------------------------ the regressor contract
def test_targets_are_accepted_as_art_regressor_accepts_them():
    """On an (N, 1) output, y of shape (N,) (ART's own tests) gives ART's numbers exactly."""
    from art.estimators.regression import PyTorchRegressor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.3).astype(np.float32)  # (N,)
    torch.manual_seed(0)
    ours_model = nn.Linear(3, 1)
    art_model = copy.deepcopy(ours_model)
    ours = PyTorchDenoiser(ours_model, input_shape=(3,), device_type="cpu",
                           optimizer=torch.optim.SGD(ours_model.parameters(), lr=0.05))
    art = PyTorchRegressor(art_model, loss=nn.MSELoss(), input_shape=(3,), device_type="cpu",
                           optimizer=torch.optim.SGD(art_model.parameters(), lr=0.05))
    np.testing.assert_allclose(ours.compute_loss(x, y), art.compute_loss(x, y), rtol=1e-6)
    np.testing.assert_allclose(ours.loss_gradient(x, y), art.loss_gradient(x, y), rtol=1e-6)
    for est in (ours, art):
        torch.manual_seed(1)  # the same shuffling
        est.fit(x, y, batch_size=4, nb_epochs=3)
    for p, q in zip(ours_model.parameters(), art_model.parameters()):
        torch.testing.assert_close(p, q)


def test_image_target_layouts(trained_dncnn, arrays):
    noisy, clean = arrays
    est = PyTorchDenoiser(trained_dncnn, input_shape=(1, 64, 64), device_type="cpu")
    expected = est.compute_loss(noisy, clean)
    n = len(clean)
    for y in (clean[:, 0], clean.reshape(n, -1)):  # (N, H, W) and one flat row per sample
        np.testing.assert_allclose(est.compute_loss(noisy, y), expected, rtol=1e-6)
        np.testing.assert_allclose(est.loss_gradient(noisy, y), est.loss_gradient(noisy, clean))
    level = clean.mean(axis=(1, 2, 3), keepdims=True)  # (N, 1, 1, 1): broadcasts
    out = est.predict(noisy)
    np.testing.assert_allclose(est.compute_loss(noisy, level),
                               ((out - level) ** 2).reshape(n, -1).mean(1), rtol=1e-5)
    with pytest.raises(ValueError, match="ambiguous"):
        est.compute_loss(noisy, clean[:, 0, 0, 0])  # (N,) for an image output
    rgb = PyTorchDenoiser(nn.Conv2d(3, 3, 1), input_shape=(3, 8, 8), device_type="cpu")
    x = np.zeros((2, 3, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="ambiguous"):
        rgb.compute_loss(x, np.zeros((2, 8, 8, 3), dtype=np.float32))  # channels-last


def test_fit_generator_with_image_targets(sample_images):
    from art.data_generators import NumpyDataGenerator, PyTorchDataGenerator

    from denoise_adv.models import DnCNN

    clean = torch.stack(sample_images)[:, :, :32, :32]
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(noisy, clean),
                                         batch_size=2, shuffle=False)
    torch.manual_seed(0)
    model = DnCNN(depth=3, features=8, batchnorm=False)
    reference = copy.deepcopy(model)
    est = PyTorchDenoiser(model, input_shape=(1, 32, 32), device_type="cpu",
                          optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    est.fit_generator(PyTorchDataGenerator(loader, size=len(clean), batch_size=2), nb_epochs=2)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(2):  # the same steps by hand: every batch of the DataLoader, every epoch
        for x_batch, y_batch in loader:
            optimizer.zero_grad()
            nn.functional.mse_loss(reference(x_batch), y_batch).backward()
            optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    before = est.compute_loss(noisy.numpy(), clean.numpy(), reduction="mean")
    est.fit_generator(NumpyDataGenerator(noisy.numpy(), clean.numpy(), batch_size=2), nb_epochs=3)
    assert est.compute_loss(noisy.numpy(), clean.numpy(), reduction="mean") < before


# ---------------------------------------------------------------- defences and clip_values
def test_feature_squeezing_on_noisy_inputs(estimator, arrays, trained_dncnn):
    from art.defences.preprocessor import FeatureSqueezing

    noisy, clean = arrays
    est = PyTorchDenoiser(trained_dncnn, input_shape=(1, 64, 64), device_type="cpu",
                          preprocessing_defences=[FeatureSqueezing(clip_values=(0, 1),
                                                                   bit_depth=8)])
    # ART quantises in float64 (its clip_values are float64 arrays), without clipping
    squeezed = np.rint(noisy.astype(np.float64) * 255) / 255
    with torch.no_grad():
        expected = trained_dncnn(torch.from_numpy(squeezed).float()).numpy()
    np.testing.assert_allclose(est.predict(noisy), expected, atol=1e-5)
    adv = FastGradientMethod(est, norm=np.inf, eps=EPS).generate(x=noisy, y=clean)
    assert adv.dtype == np.float32 and np.abs(adv - noisy).max() <= EPS + 1e-6
    assert np.abs(adv - noisy).max() >= EPS - 1e-6  # the BPDA gradient moved every pixel


@pytest.mark.parametrize("jpeg", [False, True], ids=["plain", "jpeg"])
@pytest.mark.slow
def test_clip_values_bound_inputs_and_attack_outputs(trained_dncnn, arrays, jpeg):
    from art.defences.preprocessor import JpegCompression

    noisy, clean = arrays
    defences = [JpegCompression(clip_values=(0, 1), quality=75,
                                                channels_first=True)] if jpeg else None
    est = PyTorchDenoiser(trained_dncnn, input_shape=(1, 64, 64), device_type="cpu",
                          clip_values=(0, 1), preprocessing_defences=defences)
    assert noisy.min() < 0 and noisy.max() > 1  # unclipped noisy images leave [0, 1]
    with pytest.raises(ValueError, match=r"outside clip_values.*np.clip\(noisy"):
        est.predict(noisy)
    with pytest.raises(ValueError, match="outside clip_values"):
        FastGradientMethod(est, norm=np.inf, eps=EPS).generate(x=noisy, y=clean)
    clipped = np.clip(noisy, 0, 1)  # the 8-bit-file convention: inside clip_values
    assert est.predict(clipped).shape == clipped.shape
    for attack in (FastGradientMethod(est, norm=np.inf, eps=EPS),
                   ProjectedGradientDescent(est, norm=np.inf, eps=EPS, eps_step=EPS / 4,
                                            max_iter=5, verbose=False),
                   ProjectedGradientDescent(est, norm=2, eps=0.5, eps_step=0.1, max_iter=5,
                                            verbose=False)):
        adv = attack.generate(x=clipped, y=clean)
        assert adv.min() >= 0 and adv.max() <= 1
        delta = (adv - clipped).reshape(len(adv), -1)
        if attack.norm == np.inf:
            assert np.abs(delta).max() <= EPS + 1e-6
        else:
            assert np.linalg.norm(delta, axis=1).max() <= 0.5 * (1 + 1e-5)
        assert np.abs(delta).max() > 0


# -------------------------------------------------------------------- adversarial training
def _patches(sample_images):
    clean = torch.stack(sample_images).numpy().astype(np.float32)
    clean = np.concatenate([clean[:, :, i:i + 32, j:j + 32] for i in (0, 32) for j in (0, 32)])
    rng = np.random.default_rng(1)
    return (clean + (25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32)), clean


@pytest.mark.slow
def test_adversarial_trainer_denoiser_trains_on_pgd_images(sample_images):
    from denoise_adv.integrations.art import AdversarialTrainerDenoiser
    from denoise_adv.models import DnCNN

    noisy, clean = _patches(sample_images)
    torch.manual_seed(0)
    np.random.seed(0)
    model = DnCNN(depth=3, features=8)
    seen = []
    model.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].detach().numpy().copy()) if m.training else None)
    est = PyTorchDenoiser(model, input_shape=(1, 32, 32), device_type="cpu",
                          optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
    before = est.compute_loss(noisy, clean, reduction="mean")
    trainer = AdversarialTrainerDenoiser(est, nb_epochs=6, batch_size=4, max_iter=3)
    trainer.fit(noisy, clean)  # defaults work out of the box: eps 2/255, no random init
    assert trainer.get_classifier() is est
    assert est.compute_loss(noisy, clean, reduction="mean") < 0.5 * before
    # every training input is an adversarial copy of a noisy image: within eps, not equal
    flat = noisy.reshape(len(noisy), -1)
    assert len(seen) == 6 * 3
    for batch in seen:
        for row in batch.reshape(len(batch), -1):
            distance = np.abs(flat - row).max(axis=1).min()
            assert 0 < distance <= 2 / 255 + 1e-6


def test_madry_trainer_needs_the_denoiser_recipe(sample_images):
    from art.defences.trainer import AdversarialTrainerMadryPGD

    from denoise_adv.models import DnCNN

    noisy, clean = _patches(sample_images)
    model = DnCNN(depth=3, features=4)
    est = PyTorchDenoiser(model, input_shape=(1, 32, 32), device_type="cpu",
                          optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
    with pytest.raises(ValueError, match="Random initialisation is only supported"):
        AdversarialTrainerMadryPGD(est, nb_epochs=1, batch_size=4).fit(noisy, clean)
    weights = [p.detach().clone() for p in model.parameters()]
    AdversarialTrainerMadryPGD(est, nb_epochs=1, batch_size=4, eps=2 / 255, eps_step=0.5 / 255,
                               num_random_init=0).fit(noisy, clean)  # the documented recipe
    assert any(not torch.equal(a, b) for a, b in zip(weights, model.parameters()))


# ------------------------------------------------------------- parameters, ART's convention
def test_ts_augmentation_set_params_changes_the_noise_drawn():
    """The bug of issue 24: set_params(sigma=0.5) used to leave the noise std at 0.1."""
    x = np.zeros((256, 1, 16, 16), dtype=np.float32)
    aug = TSAugmentation(sigma=0.1, iterations=0, augmentation=False, seed=0)
    assert aug(x)[0].std() == pytest.approx(0.1, rel=0.02)
    aug.set_params(sigma=0.5)
    assert aug.sigma == 0.5 and aug.spec.sigma == 0.5
    assert aug(x)[0].std() == pytest.approx(0.5, rel=0.02)  # 65536 draws: std within ~0.3%
    aug.set_params(iterations=1000, p=1.0)  # TS: the norm moves out, by the theory's shift
    noise = aug(x)[0].reshape(256, -1).astype(np.float64)
    e = ((noise ** 2).mean(1) / 0.25 - 1) / 2
    assert abs(e.mean() - ts_expected_shift(256, 1000)) < 4 * e.std() / np.sqrt(256)


def test_ts_augmentation_set_params_checks_through_check_params_and_keeps_old_values():
    aug = TSAugmentation(sigma=0.1, seed=0)
    for bad, message in (({"sigma": -1.0}, "sigma must be >= 0"), ({"p": 2.0}, "p must be <= 1"),
                         ({"method": "fast"}, "method must be one of"),
                         ({"ratio": 0.0}, "ratio must be > 0"),
                         ({"clip_values": (1.0, 0.0)}, "clip_values must be"),
                         ({"iterations": 2.5, "method": "screening"}, "whole number")):
        with pytest.raises(ValueError, match=message):
            aug.set_params(**bad)
        assert (aug.sigma, aug.p, aug.method, aug.ratio, aug.iterations, aug.clip_values) == (
            0.1, 1.0, "exact", 1.0, 10, None)
    with pytest.raises(ValueError, match="apply_fit"):
        TSAugmentation(apply_fit=False, apply_predict=False)


def test_the_old_import_path_still_works_and_warns(monkeypatch):
    import importlib
    import sys
    import warnings

    import denoise_adv
    from denoise_adv.integrations import art

    monkeypatch.delitem(sys.modules, "denoise_adv.art", raising=False)
    monkeypatch.delattr(denoise_adv, "art", raising=False)
    with pytest.warns(DeprecationWarning, match="denoise_adv.integrations.art") as caught:
        old = importlib.import_module("denoise_adv.art")
    assert len([w for w in caught if issubclass(w.category, DeprecationWarning)]) == 1
    for name in art.__all__:
        assert getattr(old, name) is getattr(art, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module("denoise_adv.art") is old  # once: on the first import
    assert PyTorchDenoiser.__module__ == "denoise_adv.integrations.art.estimator"
    assert TSAugmentation.__module__ == "denoise_adv.integrations.art.preprocessor"
