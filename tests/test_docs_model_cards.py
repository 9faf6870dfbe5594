"""The model cards of the docs (``docs/_model_cards.py``) are written from
:func:`denoise_adv.models.model_info`: one card per zoo model, its numbers read from the
entry, never typed."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

from denoise_adv.data import BUILTIN_SETS
from denoise_adv.models import model_info
from denoise_adv.models.info import model_names

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def cards():
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location("_model_cards", DOCS / "_model_cards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_measured(info: dict) -> dict:
    row = {"mean": 28.5, "low": 27.25, "high": 29.75}
    return {**info, "measured": {
        "protocol": "v1", "images": 6, "headline_budget": 2 / 255, "access": "white-box",
        "upper_bound": False, "flagged": False, "gaussian_psnr": row,
        "robust_psnr": {"mean": 26.125, "low": 25.0, "high": 27.0}, "gap": row,
        "random_drop": row, "gaussian_ssim": row,
        "robust_psnr_by_budget": {"1": row, "2": row, "4": row}},
        "measured_note": "protocol v1, test source"}


def test_every_zoo_name_has_a_card_written_from_its_entry(cards):
    for name in model_names():
        info = model_info(name)
        text = "\n".join(cards.card(name))
        assert text.startswith(f"``zoo:{name}``\n")
        for key in ("Paper", "Model", "Scores", "Robust PSNR", "Reported", "Intended use",
                    "Limits"):
            assert f":{key}: " in text, (name, key)
        assert info["paper"]["citation"] in text and info["authors"] in text
        assert f"{info['parameters']:,} parameters" in text and info["sha256"][:16] in text
        assert f"PSNR {info['gaussian_builtin_test']['psnr']:.2f} dB" in text
        assert info["measured_note"] in text  # "not measured", or the measurement's source
        assert (info["measured"] is None) == ("not measured" in text)
        if info["measured"]:
            robust = info["measured"]["robust_psnr"]
            assert f"robust PSNR {robust['mean']:.2f} dB [{robust['low']:.2f}, " in text


def test_a_shipped_card_keeps_its_recipe(cards):
    info = model_info("dncnn-s25-ts-def")
    text = "\n".join(cards.zoo_card(info))
    training = info["training"]
    assert f"{training['stage2_steps']} steps of ``ts-def``" in text
    assert f"{len(BUILTIN_SETS['train'])} photographs" in text
    test = info["gaussian_builtin_test"]
    assert f"{test['references']['bm3d']['psnr'] - test['psnr']:.2f} dB below BM3D" in text
    assert "TS noise by the ``exact`` sampler" in text


def test_a_card_follows_the_entry_not_the_text(cards):
    info = copy.deepcopy(model_info("dncnn-s25-normal"))
    info["gaussian_builtin_test"]["psnr"] = 12.3456
    info["sigma"] = info["training"]["config"]["sigma"] = 15 / 255
    text = "\n".join(cards.zoo_card(_fake_measured(info)))
    assert "PSNR 12.35 dB" in text and "noise level 15/255" in text
    assert "robust PSNR 26.12 dB [25.00, 27.00] at 2/255" in text
    assert "(white-box)" in text and "28.50 dB [27.25, 29.75] at 4/255" in text


def test_a_published_card_names_whose_numbers_it_reports(cards):
    info = model_info("ffdnet-ipol-gray")
    text = "\n".join(cards.published_card(info))
    assert "GPL-3.0" in text and "doi.org/10.5201/ipol.2019.231" in text
    assert "29.19 at 25/255" in text and "not these weights" in text
    assert "paperswithcode.com" in text
    colour = "\n".join(cards.published_card(model_info("ffdnet-ipol-color")))
    assert model_info("ffdnet-ipol-color")["reported_note"] in colour


def test_the_zoo_page_lists_every_model_with_its_robust_psnr(cards):
    text = "\n".join(cards.listing())
    for name in model_names():
        info = model_info(name)
        assert f"``zoo:{name}``" in text
        robust = (info["measured"] or {}).get("robust_psnr")
        assert (robust is None) or f"{robust['mean']:.2f} [{robust['low']:.2f}, " in text
    assert text.count("   * - ``zoo:") == len(model_names())
