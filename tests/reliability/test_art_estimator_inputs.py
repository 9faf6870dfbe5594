"""The ART estimator refuses integer images (issue 31, item 9): ``PyTorchDenoiser.predict`` took a
uint8 batch (0-255) and returned values from -22 to 305, while TSNoise, TSAugmentation and the
attacks refuse it. Every entry point that takes images names the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art.data_generators import PyTorchDataGenerator

from denoise_adv.integrations.art import PyTorchDenoiser
from denoise_adv.models import DnCNN


@pytest.fixture
def estimator():
    torch.manual_seed(0)
    model = DnCNN(depth=3, features=4)
    return PyTorchDenoiser(model, input_shape=(1, 8, 8), device_type="cpu",
                           optimizer=torch.optim.SGD(model.parameters(), lr=1e-3))


EIGHT_BIT = np.full((2, 1, 8, 8), 200, dtype=np.uint8)
FLOAT = (EIGHT_BIT / 255).astype(np.float32)

CALLS = {
    "predict": (lambda e, x, y: e.predict(x), "x"),
    "get_activations": (lambda e, x, y: e.get_activations(x, 0), "x"),
    "loss_gradient-x": (lambda e, x, y: e.loss_gradient(x, FLOAT * 0.5), "x"),
    "loss_gradient-y": (lambda e, x, y: e.loss_gradient(FLOAT, y), "y"),
    "compute_loss-x": (lambda e, x, y: e.compute_loss(x, FLOAT), "x"),
    "compute_loss-y": (lambda e, x, y: e.compute_loss(FLOAT, y), "y"),
    "compute_loss_from_predictions": (
        lambda e, x, y: e.compute_loss_from_predictions(x, FLOAT), "pred"),
    "fit-x": (lambda e, x, y: e.fit(x, FLOAT, nb_epochs=1), "x"),
    "fit-y": (lambda e, x, y: e.fit(FLOAT, y, nb_epochs=1), "y"),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_], ids=["uint8", "int64", "bool"])
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_integer_images_are_refused_naming_the_argument(estimator, call, dtype):
    run, name = call
    integers = EIGHT_BIT.astype(dtype)
    with pytest.raises(TypeError, match=rf"^{name} must be a floating-point .*dtype"):
        run(estimator, integers, integers)
    with pytest.raises(TypeError, match=rf"^{name} must be a floating-point"):  # tensors too
        run(estimator, torch.from_numpy(integers), torch.from_numpy(integers))


def test_fit_generator_refuses_integer_batches(estimator):
    data = torch.utils.data.TensorDataset(torch.from_numpy(EIGHT_BIT), torch.from_numpy(FLOAT))
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    generator = PyTorchDataGenerator(loader, size=2, batch_size=2)
    with pytest.raises(TypeError, match="the generator's x must be a floating-point"):
        estimator.fit_generator(generator, nb_epochs=1)


def test_non_finite_images_are_refused(estimator):
    x = FLOAT.copy()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        estimator.predict(x)


def test_float_images_and_flat_regressor_inputs_still_work(estimator):
    out = estimator.predict(FLOAT)
    assert out.shape == FLOAT.shape and out.dtype == np.float32
    assert np.isfinite(estimator.loss_gradient(FLOAT, FLOAT * 0.5)).all()
    flat = PyTorchDenoiser(torch.nn.Linear(3, 1), input_shape=(3,), device_type="cpu")
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert flat.predict(x).shape == (4, 1)
    with pytest.raises(TypeError, match="x must be a floating-point array, got dtype"):
        flat.predict(x.astype(np.int32))
