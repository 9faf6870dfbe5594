"""Helpers of the fault-injection suite (issue 14), shared by its test files."""

from __future__ import annotations

from pathlib import Path

import torch

from denoise_adv.models import DnCNN

SIGMA = 25 / 255


def tiny_model(seed: int = 0) -> DnCNN:
    """A 3-layer, 4-feature DnCNN (untrained: the probes test contracts, not quality)."""
    with torch.random.fork_rng(devices=[]):  # leave the global RNG as it was
        torch.manual_seed(seed)
        return DnCNN(depth=3, features=4).eval()


def train_args(out: Path, data: Path, *extra: object) -> list[object]:
    """``denoise-adv train`` options for a run of a few seconds: a 3-layer, 4-feature DnCNN on
    16x16 patches of ``data``, no validation."""
    return ["train", "--out", out, "--data", data, "--val-data", "none", "--depth", 3,
            "--features", 4, "--patch-size", 16, "--stride", 16, "--scales", 1, "--batch-size",
            2, "--device", "cpu", "--quiet", *extra]
