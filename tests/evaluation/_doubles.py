"""Test doubles of the benchmark tests: a gradient-masking wrapper, a pass counter, and the
three-model run (a trained DnCNN, its masked twin, NL-means) both runner test modules score."""

from __future__ import annotations

import torch
from torch import nn

from denoise_adv.benchmark import Protocol, run_benchmark
from denoise_adv.models import NLMeans


class Masked(nn.Module):
    """Gradient masking: the output is rounded to 8-bit levels, so its gradient is zero."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return torch.round(self.inner(noisy) * 255) / 255


class Counting(nn.Module):
    """Counts forward passes; ``randomized`` declares test-time randomness (none here)."""

    def __init__(self, inner: nn.Module, randomized: bool = False) -> None:
        super().__init__()
        self.inner, self.randomized, self.calls = inner, randomized, 0

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(noisy)


def run_three(protocol: Protocol, trained: nn.Module, images, out) -> dict:
    """``run_benchmark`` of the trained model (also the transfer reference), its masked twin
    and NL-means on one torch thread (module-scoped fixtures run before ``one_thread``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = {"dncnn": trained, "masked": Masked(trained),
                  "nlmeans": NLMeans(sigma=protocol.sigma)}
        return run_benchmark(models, out, protocol, reference=trained, images=images,
                             progress=False)
    finally:
        torch.set_num_threads(threads)


def rows_of(results: dict, model: str) -> list[dict]:
    """The per-image rows of ``model`` in a results dict."""
    return [r for r in results["per_image"] if r["model"] == model]
