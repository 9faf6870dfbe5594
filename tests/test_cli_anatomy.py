"""End-to-end runs of ``denoise-adv anatomy`` and ``denoise-adv reproduce table2 --smoke``."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from denoise_adv.analysis import evaluate_robustness, load_dataset
from denoise_adv.attacks import AttackSpec
from denoise_adv.cli import main
from denoise_adv.data import builtin_image, save_png
from denoise_adv.models import DnCNN, load_checkpoint, save_checkpoint

SIGMA = 25 / 255


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(DnCNN(depth=3, features=4).eval(), tmp_path / "tiny" / "model.pt")


@pytest.fixture
def test_folder(tmp_path):
    camera, moon = builtin_image("camera"), builtin_image("moon")
    path = tmp_path / "test"
    save_png(camera[:, 100:132, 200:232], path / "cam.png")
    save_png(moon[:, 200:232, 200:232], path / "moon.png")
    return path


def _png_size(path):
    return Image.open(path).size


@pytest.mark.slow
def test_anatomy_command(tiny_checkpoint, test_folder, tmp_path, capsys):
    out = tmp_path / "anatomy"
    assert main(["anatomy", "--model", str(tiny_checkpoint), "--data", str(test_folder),
                 "--steps", "2", "--sigmas", "23,25,27", "--scales", "0.04,0.08",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Perturbation anatomy" in printed and "Off-shell penalty" in printed
    report = json.loads((out / "report.json").read_text())
    protocol = report["protocol"]
    assert protocol["white_box_attacks"]["l2"]["per_pixel"] is True
    assert protocol["white_box_attacks"]["linf"]["steps"] == 2
    assert protocol["images"] == ["cam", "moon"] and protocol["reference"] == "nlmeans"
    rows = report["anatomy"]["per_image"]
    assert [(r["attack"], r["image"]) for r in rows] == [
        ("linf", "cam"), ("l2", "cam"), ("linf", "moon"), ("l2", "moon")]
    # the attacks are the evaluation protocol's: same noise, same random starts, same numbers
    model, _ = load_checkpoint(tiny_checkpoint)
    spec = AttackSpec(steps=2)
    evaluated = evaluate_robustness(model, load_dataset(str(test_folder)), SIGMA,
                                    {"linf": spec, "l2": replace(spec, norm="l2")},
                                    progress=False)
    psnr = {(r["image"], r["set"]): r["psnr"] for r in evaluated}
    for row in rows:
        assert row["psnr"] == pytest.approx(psnr[row["image"], "gaussian"], abs=1e-4)
        assert row["psnr_full"] == pytest.approx(psnr[row["image"], row["attack"]], abs=1e-4)
        assert row["energy_radial"] + row["energy_orthogonal"] == pytest.approx(1)
    summary = {r["attack"]: r for r in report["anatomy"]["summary"]}
    linf = [r for r in rows if r["attack"] == "linf"]
    assert summary["linf"]["drop_radial"] == pytest.approx(
        sum(r["drop_radial"] for r in linf) / 2)
    noise = report["noise_level"]
    assert [round(r["sigma"] * 255, 6) for r in noise["sweep_mean"]] == [23, 25, 27]
    for r in noise["off_shell"]:
        assert r["penalty"] == pytest.approx(r["symmetric"] - r["reference_symmetric"])
    at_25 = [r["psnr"] for r in noise["sweep"] if round(r["sigma"] * 255, 6) == 25]
    assert at_25 == pytest.approx([psnr["cam", "gaussian"], psnr["moon", "gaussian"]],
                                  abs=1e-4)
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# Anatomy of tiny") and "## Off-shell penalty" in markdown
    for figure in ("anatomy.png", "noise_level.png"):
        width, height = _png_size(out / figure)
        assert width > 300 and height > 200
        assert np.asarray(Image.open(out / figure).convert("L")).std() > 5


def test_anatomy_refuses_bad_options(tiny_checkpoint, test_folder, tmp_path, capsys):
    base = ["anatomy", "--model", str(tiny_checkpoint), "--data", str(test_folder), "--out",
            str(tmp_path / "x"), "--quiet"]
    assert main([*base, "--attacks", "linf,fgsm"]) == 2
    assert "--attacks takes linf and/or l2" in capsys.readouterr().err
    assert main([*base, "--steps", "1", "--scales", "1.5"]) == 2
    assert "--scales must lie in (0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before any work


@pytest.fixture
def reproduce_folders(tmp_path):
    coffee, camera, moon = (builtin_image(n) for n in ("coffee", "camera", "moon"))
    train, test = tmp_path / "train", tmp_path / "test"
    save_png(coffee[:, 100:148, 100:148], train / "a.png")
    save_png(coffee[:, 200:248, 300:348], train / "b.png")
    save_png(camera[:, 100:132, 200:232], test / "cam.png")
    save_png(moon[:, 200:232, 200:232], test / "moon.png")
    save_png(moon[:, 0:40, 0:48], test / "wide.png")  # a second size, as Set12 has
    return train, test


@pytest.mark.slow
def test_reproduce_table2_smoke_and_resume(reproduce_folders, tmp_path, capsys):
    train, test = reproduce_folders
    out = tmp_path / "repro"
    argv = ["reproduce", "table2", "--train-data", str(train), "--test-data", str(test),
            "--out", str(out), "--smoke", "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.count("[train]") == 5 and "skipped" not in first
    report = json.loads((out / "report.json").read_text())
    protocol = report["protocol"]
    assert protocol["smoke"] is True and protocol["strategies"] == [
        "normal", "ts-pres", "ts-def", "mixed-25.5", "mixed-26"]
    assert protocol["training"]["ts-def"]["model_kwargs"] == {"depth": 3, "features": 4}
    assert protocol["training"]["ts-def"]["strategy"] == "ts-def"
    assert protocol["attacks"]["linf"]["steps"] == 2 and protocol["attacks"]["l2"]["per_pixel"]
    assert all(t["steps"] == 3 for t in report["training"].values())
    assert sorted(p.name for p in (out / "adversarial").iterdir()) == [
        "adv-l2-32x32.pt", "adv-l2-40x48.pt", "adv-linf-32x32.pt", "adv-linf-40x48.pt"]
    table = {r["model"]: r for r in report["table2"]}
    # the paper's numbers for every strategy trained: Table 2's rows, then Table 4's
    assert list(table) == ["normal", "ts-pres", "ts-def", "mixed-25.5", "mixed-26",
                           "paper Table 2: normal", "paper Table 2: ts-pres",
                           "paper Table 2: ts-def", "paper Table 4: normal",
                           "paper Table 4: ts-pres", "paper Table 4: ts-def",
                           "paper Table 4: mixed-25.5", "paper Table 4: mixed-26"]
    assert table["paper Table 2: normal"]["drop-linf"] == pytest.approx(30.387 - 29.620)
    assert table["paper Table 2: ts-def"]["adv-l2"] == 30.183
    assert table["paper Table 2: ts-pres"]["adv-linf"] == 30.087
    assert table["paper Table 4: ts-def"]["gaussian"] == 30.3491  # Table 2 reads 30.343
    assert table["paper Table 4: mixed-26"]["adv-l2"] == 30.0214
    # on its source model the fixed set is the white-box attack of the same protocol
    normal = table["normal"]
    assert normal["drop-linf"] == pytest.approx(normal["wb-drop-linf"], abs=1e-4)
    assert normal["drop-l2"] == pytest.approx(normal["wb-drop-l2"], abs=1e-4)
    assert table["ts-def"]["drop-linf"] != pytest.approx(table["ts-def"]["wb-drop-linf"])
    per_image = report["per_image"]
    assert len(per_image) == 5 * 3 * 5  # models x images x (gaussian, 2 sets, 2 white-box)
    rows = [r for r in per_image if r["model"] == "mixed-26" and r["set"] == "gaussian"]
    assert normal["gaussian"] != table["mixed-26"]["gaussian"]
    assert table["mixed-26"]["gaussian"] == pytest.approx(
        sum(r["psnr"] for r in rows) / len(rows))
    markdown = (out / "table2.md").read_text()
    assert "SMOKE RUN" in markdown
    assert "| paper Table 2: ts-def | 30.343 | 30.218 | 30.183" in markdown

    # a second run skips every stage and reports the same numbers
    models = {s: out / "models" / s / "model.pt" for s in table if ":" not in s}
    stamps = {s: p.stat().st_mtime_ns for s, p in models.items()}
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert second.count("skipped (trained already, 3 steps)") == 5
    assert second.count("skipped (evaluated already)") == 5
    assert second.count("skipped (current)") == 4
    assert {s: p.stat().st_mtime_ns for s, p in models.items()} == stamps
    assert json.loads((out / "report.json").read_text())["table2"] == report["table2"]

    # an interrupted strategy resumes from its checkpoint; the others stay skipped
    (out / "models" / "ts-def" / "model.pt").unlink()
    (out / "models" / "ts-def" / "log.json").unlink()
    assert main(argv) == 0
    third = capsys.readouterr().out
    assert "[train] ts-def: trained 3 steps" in third
    assert third.count("skipped (trained already") == 4

    # one OUT, one protocol
    assert main([*argv[:-2], "--seed", "1"]) == 2
    assert "another protocol (seed differ)" in capsys.readouterr().err
