"""The model cards of the docs (``docs/_model_cards.py``) are written from the shipped
manifests: one card per model, its numbers read from the file, never typed."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from denoise_adv.data import BUILTIN_SETS

DOCS = Path(__file__).resolve().parents[1] / "docs"
ZOO = Path(__file__).resolve().parents[1] / "denoise_adv" / "models" / "zoo"


@pytest.fixture(scope="module")
def cards():
    spec = importlib.util.spec_from_file_location("_model_cards", DOCS / "_model_cards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest():
    return json.loads((ZOO / "manifest.json").read_text())


def test_every_zoo_model_has_a_card_with_the_manifest_numbers(cards, manifest):
    for name, entry in manifest["models"].items():
        text = "\n".join(cards.zoo_card(name, entry, manifest))
        assert text.startswith(f"``zoo:{name}``\n")
        for key in ("Model", "Data", "Recipe", "Scores", "Intended use", "Limits"):
            assert f":{key}: " in text
        assert f"PSNR {entry['builtin_test']['psnr']:.2f} dB" in text
        assert entry["sha256"][:16] in text and f"{entry['parameters']:,} parameters" in text
        assert f"{entry['stage2_steps']} steps of ``{entry['strategy']}``" in text
        assert f"{len(BUILTIN_SETS['train'])} photographs" in text
        bm3d = manifest["references"]["bm3d"]["psnr"]
        assert f"{bm3d - entry['builtin_test']['psnr']:.2f} dB below BM3D" in text


def test_a_card_follows_the_manifest_not_the_text(cards, manifest):
    name = next(iter(manifest["models"]))
    changed = copy.deepcopy(manifest)
    entry = changed["models"][name]
    entry["builtin_test"]["psnr"] = 12.3456
    entry["config"]["sigma"] = 15 / 255
    text = "\n".join(cards.zoo_card(name, entry, changed))
    assert "PSNR 12.35 dB" in text and "noise level 15/255" in text


def test_every_published_model_has_a_card(cards):
    published = json.loads((ZOO / "published.json").read_text())
    for name, entry in published["models"].items():
        text = "\n".join(cards.published_card(name, entry, published))
        assert f"``zoo:{name}``" in text and entry["licence"] in text
        assert f"PSNR {entry['builtin_test']['psnr']:.2f} dB" in text
        assert f"version {entry['version']}" in text
