"""Shared pieces of the fault-injection suite (issue 14): a tiny model, tiny images, and the
command line run in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from reliability_helpers import tiny_model

from denoise_adv.cli import main
from denoise_adv.data import save_png
from denoise_adv.models import DnCNN, save_checkpoint


@pytest.fixture
def model() -> DnCNN:
    return tiny_model()


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    return save_checkpoint(tiny_model(), tmp_path / "model.pt", {"strategy": "normal"})


@pytest.fixture
def folder(tmp_path) -> Path:
    """Two gray 16x16 images."""
    images = tmp_path / "images"
    g = torch.Generator().manual_seed(1)
    for name in ("a", "b"):
        save_png(torch.rand(1, 16, 16, generator=g), images / f"{name}.png")
    return images


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """``cli(*argv) -> (exit code, stdout, stderr)`` of ``denoise-adv`` run in-process."""

    def run(*argv: object) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
