"""Shared fixtures: devices, dtypes, a linear denoiser with closed-form attacks, and one tiny
DnCNN trained once per session on built-in images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from denoise_adv.data import builtin_image
from denoise_adv.models import DnCNN
from denoise_adv.training import TrainConfig, Trainer

SIGMA = 25 / 255

_DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=_DEVICES)
def device(request) -> torch.device:
    """The CPU and CUDA; the CUDA case is skipped (not run on the CPU) without a GPU."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(request.param)


@pytest.fixture
def one_thread():
    """One torch thread for the test (tiny images: faster than several, and the CPU is
    shared); the benchmark tests use it module-wide."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request) -> torch.dtype:
    return request.param


class LinearDenoiser(nn.Module):
    """f(y) = a * y: the attacks' worst cases are known in closed form."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.a * y


@pytest.fixture
def linear_denoiser():
    return LinearDenoiser


@pytest.fixture(scope="session")
def sample_images() -> list[torch.Tensor]:
    """Gray 64x64 crops of built-in images (clean, [0, 1])."""
    camera, moon = builtin_image("camera"), builtin_image("moon")
    return [camera[:, 100:164, 200:264], camera[:, 300:364, 100:164], moon[:, 200:264, 200:264]]


@pytest.fixture(scope="module")
def tiny_images(sample_images):
    """Two small crops of the sample images (32x32), named as builtin:test's (the benchmark
    runner's tests)."""
    return [("top", sample_images[0][:, :32, :32]), ("moon", sample_images[2][:, 16:48, :32])]


@pytest.fixture(scope="session")
def trained_dncnn() -> DnCNN:
    """A 5-layer, 16-feature DnCNN trained for a few seconds at sigma 25 by the package's own
    trainer (shared, read-only)."""
    return train_small_dncnn(("coffee", "grass", "gravel", "rocket"), depth=5, features=16,
                             steps=150, seed=0)


def train_small_dncnn(images, depth: int, features: int, steps: int, seed: int) -> DnCNN:
    """A small DnCNN trained in memory through :class:`Trainer` (no files)."""
    config = TrainConfig(model_kwargs={"depth": depth, "features": features}, sigma=SIGMA,
                         max_steps=steps, batch_size=32, lr=3e-3, seed=seed, progress=False)
    trainer = Trainer(config, train_images=[builtin_image(n) for n in images], val_images=[])
    trainer.run()
    return trainer.model.eval()


@pytest.fixture(scope="session")
def train_dncnn():
    """:func:`train_small_dncnn`, for tests that need a second, independent model."""
    return train_small_dncnn


@pytest.fixture
def noisy_pair(sample_images):
    """(noisy, clean) batch of the sample crops with seeded Gaussian noise at sigma 25."""
    clean = torch.stack(sample_images)
    g = torch.Generator().manual_seed(123)
    return clean + SIGMA * torch.randn(clean.shape, generator=g), clean
