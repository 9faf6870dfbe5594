"""ART's own classes on :class:`denoise_adv.integrations.art.PyTorchDenoiser`, as the ART
compatibility table of ``docs/usage.rst`` lists them: each one that works is run here (budget
kept, denoised output made worse, defence applied), and each one that refuses is checked to
refuse with the reason the table gives."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from art.attacks import evasion
from art.defences import preprocessor
from art.defences.trainer import AdversarialTrainer, AdversarialTrainerMadryPGD
from art.estimators.regression import RegressorMixin

from denoise_adv.data import builtin_image
from denoise_adv.integrations.art import PyTorchDenoiser

EPS = 2 / 255
SIZE = 32


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) float32 batches of two 32x32 gray crops, sigma 25/255, unclipped."""
    clean = torch.stack([builtin_image("camera")[:, 100:100 + SIZE, 200:200 + SIZE],
                         builtin_image("moon")[:, 200:200 + SIZE, 200:200 + SIZE]])
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    return (clean + 25 / 255 * noise).numpy(), clean.numpy()


def _estimator(model: torch.nn.Module, **kwargs) -> PyTorchDenoiser:
    return PyTorchDenoiser(model, input_shape=(1, SIZE, SIZE), device_type="cpu", **kwargs)


def _mse(estimator: PyTorchDenoiser, x: np.ndarray, clean: np.ndarray) -> float:
    """MSE of the (clamped) denoised output to the clean images."""
    return float(((np.clip(estimator.predict(x), 0, 1) - clean) ** 2).mean())


ATTACKS: dict[str, tuple[Callable, float]] = {  # name -> (factory, L-inf bound of the change)
    "FastGradientMethod-inf": (lambda e: evasion.FastGradientMethod(e, norm=np.inf, eps=EPS),
                               EPS),
    "FastGradientMethod-2": (lambda e: evasion.FastGradientMethod(e, norm=2, eps=EPS * SIZE),
                             EPS * SIZE),
    "BasicIterativeMethod": (lambda e: evasion.BasicIterativeMethod(
        e, eps=EPS, eps_step=EPS / 4, max_iter=5, verbose=False), EPS),
    "ProjectedGradientDescent-inf": (lambda e: evasion.ProjectedGradientDescent(
        e, norm=np.inf, eps=EPS, eps_step=EPS / 4, max_iter=5, verbose=False), EPS),
    "ProjectedGradientDescent-2": (lambda e: evasion.ProjectedGradientDescent(
        e, norm=2, eps=EPS * SIZE, eps_step=EPS * SIZE / 4, max_iter=5, verbose=False),
        EPS * SIZE),
    "ProjectedGradientDescentNumpy": (lambda e: evasion.ProjectedGradientDescentNumpy(
        e, norm=np.inf, eps=EPS, eps_step=EPS / 4, max_iter=5, verbose=False), EPS),
    "MomentumIterativeMethod": (lambda e: evasion.MomentumIterativeMethod(
        e, eps=EPS, eps_step=EPS / 4, max_iter=5, verbose=False), EPS),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_art_attack_works_on_the_denoiser(name, trained_dncnn, pair):
    noisy, clean = pair
    make, bound = ATTACKS[name]
    estimator = _estimator(trained_dncnn)
    adv = make(estimator).generate(x=noisy, y=clean)
    delta = adv - noisy
    assert adv.shape == noisy.shape and np.abs(delta).max() > EPS / 10  # it moved
    assert np.abs(delta).max() <= bound + 1e-6
    if name.endswith("-2"):
        norms = np.sqrt((delta.reshape(len(delta), -1) ** 2).sum(axis=1))
        assert (norms <= bound * (1 + 1e-5)).all()
    assert adv.min() < 0 or adv.max() > 1  # noisy inputs stay unclipped (clip_values=None)
    assert _mse(estimator, adv, clean) > 1.05 * _mse(estimator, noisy, clean)


def _kornia_smoothing():
    return preprocessor.SpatialSmoothingPyTorch(window_size=3, channels_first=True)


DEFENCES: dict[str, tuple[Callable, bool]] = {  # name -> (factory, needs inputs in [0, 1])
    "SpatialSmoothing": (lambda: preprocessor.SpatialSmoothing(window_size=3), False),
    "SpatialSmoothingPyTorch": (_kornia_smoothing, False),
    "FeatureSqueezing": (lambda: preprocessor.FeatureSqueezing(clip_values=(0.0, 1.0),
                                                               bit_depth=4), True),
    "JpegCompression": (lambda: preprocessor.JpegCompression(clip_values=(0.0, 1.0),
                                                             channels_first=True), True),
    "TotalVarMin": (lambda: preprocessor.TotalVarMin(max_iter=2, clip_values=(0.0, 1.0)), True),
    "GaussianAugmentation": (lambda: preprocessor.GaussianAugmentation(
        sigma=0.02, augmentation=False, apply_predict=True), False),
}


@pytest.mark.parametrize("name", sorted(DEFENCES))
def test_art_defence_works_on_the_denoiser(name, trained_dncnn, pair):
    noisy, clean = pair
    make, unit = DEFENCES[name]
    x = np.clip(noisy, 0, 1) if unit else noisy
    clip = (0.0, 1.0) if unit else None
    plain = _estimator(trained_dncnn, clip_values=clip)
    defended = _estimator(trained_dncnn, clip_values=clip, preprocessing_defences=[make()])
    out = defended.predict(x)
    assert out.shape == x.shape and np.isfinite(out).all()
    assert np.abs(out - plain.predict(x)).max() > 1e-3  # the defence ran before the model
    attack = evasion.ProjectedGradientDescent(defended, norm=np.inf, eps=EPS, eps_step=EPS / 4,
                                              max_iter=5, verbose=False)
    adv = attack.generate(x=x, y=clean)  # gradients through the defence (BPDA or exact)
    assert 0 < np.abs(adv - x).max() <= EPS + 1e-6
    if unit:
        assert adv.min() >= 0 and adv.max() <= 1  # inside clip_values, as the table says
    assert _mse(plain, adv, clean) > _mse(plain, x, clean)


def test_art_trainers_with_the_denoiser_recipe(pair):
    from denoise_adv.models import DnCNN

    noisy, clean = pair
    torch.manual_seed(0)
    model = DnCNN(depth=3, features=8)
    estimator = _estimator(model, optimizer=torch.optim.Adam(model.parameters(), 1e-3))
    before = [p.detach().clone() for p in model.parameters()]
    AdversarialTrainer(estimator, evasion.FastGradientMethod(estimator, eps=EPS),
                       ratio=0.5).fit(noisy, clean, nb_epochs=1, batch_size=2)
    AdversarialTrainerMadryPGD(estimator, nb_epochs=1, batch_size=2, eps=EPS, eps_step=EPS / 4,
                               num_random_init=0).fit(noisy, clean)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="Random initialisation is only supported for "
                                         "classification"):
        AdversarialTrainerMadryPGD(estimator, nb_epochs=1, batch_size=2).fit(noisy, clean)


CLASSIFIER_ONLY = {
    "ProjectedGradientDescentPyTorch": lambda e: evasion.ProjectedGradientDescentPyTorch(
        e, eps=EPS, eps_step=EPS / 4, max_iter=2),
    "AutoProjectedGradientDescent": lambda e: evasion.AutoProjectedGradientDescent(
        e, eps=EPS, eps_step=EPS / 4, max_iter=2),
    "AutoAttack": lambda e: evasion.AutoAttack(e, eps=EPS),
    "CarliniL2Method": lambda e: evasion.CarliniL2Method(e, max_iter=1),
    "DeepFool": lambda e: evasion.DeepFool(e, max_iter=1),
    "HopSkipJump": lambda e: evasion.HopSkipJump(e, max_iter=1),
    "BoundaryAttack": lambda e: evasion.BoundaryAttack(e, max_iter=1),
    "SimBA": lambda e: evasion.SimBA(e, max_iter=1),
    "ZooAttack": lambda e: evasion.ZooAttack(e, max_iter=1),
    "UniversalPerturbation": lambda e: evasion.UniversalPerturbation(e, max_iter=1),
    "ElasticNet": lambda e: evasion.ElasticNet(e, max_iter=1),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIER_ONLY))
def test_classifier_only_art_attacks_refuse_the_denoiser(name, trained_dncnn):
    from art.exceptions import EstimatorError

    estimator = _estimator(trained_dncnn)
    assert isinstance(estimator, RegressorMixin)
    with pytest.raises(EstimatorError, match=r"classification\.classifier\.Class"):
        CLASSIFIER_ONLY[name](estimator)


def test_refusals_with_their_reasons(trained_dncnn, pair):
    noisy, clean = pair
    estimator = _estimator(trained_dncnn)
    with pytest.raises(ValueError, match="only supported for classification"):
        evasion.ProjectedGradientDescent(estimator, eps=EPS, eps_step=EPS / 4, max_iter=2,
                                         num_random_init=1, verbose=False).generate(noisy, clean)
    with pytest.raises(ValueError, match="No acceptable adversarial criterion"):
        evasion.SquareAttack(estimator, eps=EPS, max_iter=2, verbose=False).generate(noisy, clean)
    jpeg = _estimator(trained_dncnn, preprocessing_defences=[preprocessor.JpegCompression(
        clip_values=(0.0, 1.0), channels_first=True)])
    with pytest.raises(ValueError, match="Negative values"):
        jpeg.predict(noisy)  # unclipped noisy images: clip them into [0, 1] first
    bounded = _estimator(trained_dncnn, clip_values=(0.0, 1.0))
    with pytest.raises(ValueError, match="outside clip_values"):
        bounded.predict(noisy)
    thermometer = _estimator(trained_dncnn, preprocessing_defences=[
        preprocessor.ThermometerEncoding(clip_values=(0.0, 1.0), num_space=4)])
    assert thermometer.predict(np.clip(noisy, 0, 1)).shape[-1] == 4 * SIZE  # not an image
