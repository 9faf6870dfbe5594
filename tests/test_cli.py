"""End-to-end runs of the ``denoise-adv`` command line."""

import json
import math
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest
import torch
from PIL import Image

from denoise_adv.analysis import noisy_image
from denoise_adv.cli import main
from denoise_adv.data import load_image, save_png
from denoise_adv.metrics import psnr
from denoise_adv.models import load_checkpoint, save_checkpoint


@pytest.fixture
def checkpoint(trained_dncnn, tmp_path):
    return save_checkpoint(trained_dncnn, tmp_path / "model.pt", {"strategy": "normal"})


@pytest.fixture
def image_folder(sample_images, tmp_path):
    folder = tmp_path / "images"
    for i, img in enumerate(sample_images[:2]):
        save_png(img, folder / f"img{i}.png")
    return folder


def test_console_script_is_declared():
    assert any(ep.name == "denoise-adv" and ep.value == "denoise_adv.cli:main"
               for ep in entry_points(group="console_scripts"))


@pytest.mark.parametrize("command", [[], ["demo"], ["attack"], ["train"], ["typical"],
                                     ["evaluate"], ["make-adv"], ["transfer"], ["neighborhood"],
                                     ["patch-attack"]])
@pytest.mark.slow
def test_help_for_every_subcommand(command):
    out = subprocess.run([sys.executable, "-m", "denoise_adv", *command, "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "usage: denoise-adv" in out
    if command:
        assert "8-bit" in out  # units are stated


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.slow
def test_attack_end_to_end(checkpoint, image_folder, tmp_path, capsys, norm):
    out = tmp_path / f"out-{norm}"
    code = main(["attack", "--model", str(checkpoint), "--input", str(image_folder),
                 "--norm", norm, "--eps", "2", "--steps", "5", "--seed", "7", "--out", str(out),
                 "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "img0" in printed and "img1" in printed and "mean" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["attack"]["eps"] == pytest.approx(2 / 255)
    assert summary["protocol"]["noise_seed"] == 7
    model, _ = load_checkpoint(checkpoint)
    for row in summary["images"]:
        name = row["image"]
        adv = torch.load(out / f"{name}_adv.pt", weights_only=True)
        assert np.array_equal(np.load(out / f"{name}_adv.npy"), adv.numpy())
        clean = load_image(image_folder / f"{name}.png")[None]
        noisy = noisy_image(clean, 25 / 255, 7, name)  # the noise every command draws
        delta = adv - noisy
        if norm == "linf":
            assert delta.abs().max() <= 2 / 255 + 1e-6
        else:
            assert delta.norm() <= 2 / 255 * math.sqrt(delta.numel()) * (1 + 1e-5)
        with torch.no_grad():
            assert psnr(model(adv).clamp(0, 1), clean).item() == pytest.approx(
                row["psnr_denoised_adv"], abs=1e-4)
            assert psnr(model(noisy).clamp(0, 1), clean).item() == pytest.approx(
                row["psnr_denoised"], abs=1e-4)
        assert row["drop"] > 0.2
        assert (adv < 0).any() or (adv > 1).any()  # stored unclipped
        for suffix in ("clean", "noisy", "adv", "denoised", "denoised_adv", "perturbation"):
            png = np.asarray(Image.open(out / f"{name}_{suffix}.png"))
            assert png.shape == (64, 64) and png.std() > 1  # a real picture, not a flat one
    assert (out / "summary.csv").read_text().startswith("image,psnr_noisy,")


@pytest.mark.slow
def test_attack_clip_option_bounds_the_adversarial_images(checkpoint, image_folder, tmp_path):
    out = tmp_path / "clip"
    assert main(["attack", "--model", str(checkpoint), "--input", str(image_folder), "--steps",
                 "2", "--clip", "--out", str(out), "--quiet"]) == 0
    adv = torch.load(out / "img0_adv.pt", weights_only=True)
    assert adv.min() >= 0 and adv.max() <= 1
    assert json.loads((out / "summary.json").read_text())["protocol"]["attack"]["clip"] == [0, 1]


@pytest.mark.slow
def test_attack_amp_option_crafts_in_bf16_and_records_it(checkpoint, image_folder, tmp_path,
                                                         capsys):
    outs = {amp: tmp_path / f"amp-{amp}" for amp in ("fp32", "bf16")}
    for amp, out in outs.items():
        extra = ["--amp", amp] if amp == "bf16" else []
        assert main(["attack", "--model", str(checkpoint), "--input", str(image_folder),
                     "--steps", "3", "--out", str(out), "--quiet", *extra]) == 0
    summaries = {a: json.loads((o / "summary.json").read_text()) for a, o in outs.items()}
    assert summaries["bf16"]["protocol"]["attack"]["amp"] == "bf16"
    assert summaries["fp32"]["protocol"]["attack"]["amp"] is None
    full, half = (torch.load(o / "img0_adv.pt", weights_only=True) for o in outs.values())
    assert not torch.equal(full, half) and (full - half).abs().max() <= 4 / 255
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["attack", "--model", str(checkpoint), "--input", "x", "--out", "o", "--amp", "fp16"])
    assert "denoise-adv attack: error: argument --amp: invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_attack_on_builtin_image(checkpoint, tmp_path):
    out = tmp_path / "builtin"
    assert main(["attack", "--model", str(checkpoint), "--input", "builtin:coins", "--steps",
                 "1", "--out", str(out), "--quiet"]) == 0
    assert (out / "coins_adv.pt").is_file()


@pytest.mark.slow
def test_train_end_to_end(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(image_folder), "--out", str(out), "--depth", "3",
                 "--features", "4", "--steps", "3", "--batch-size", "4", "--stride", "20",
                 "--val-data", "none", "--quiet"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [".denoise-adv.lock", "checkpoint.pt",
                                                     "log.csv", "log.json", "model.pt"]
    model, meta = load_checkpoint(out / "model.pt")
    assert model.config == {"channels": 1, "depth": 3, "features": 4}
    assert meta["sigma"] == pytest.approx(25 / 255) and meta["strategy"] == "normal"


def test_clear_errors(checkpoint, image_folder, tmp_path, capsys):
    base = ["attack", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--model", str(tmp_path / "nope.pt"), "--input", "builtin:camera"]) == 2
    assert "model not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*base, "--model", str(checkpoint), "--input", str(empty)]) == 2
    assert "no image files" in capsys.readouterr().err
    assert main([*base, "--model", str(checkpoint), "--input", "builtin:camera",
                 "--steps", "0"]) == 2
    assert '--steps must be >= 1' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--model", str(checkpoint), "--input", "x", "--eps", "-1"])
    assert "expected a finite number >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_typical_end_to_end(tmp_path, capsys):
    out = tmp_path / "typical"
    assert main(["typical", "--sigma", "25", "--patch", "20", "--eps-linf", "2", "--eps-l2", "2",
                 "--iterations", "1,10", "--samples", "500", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "d = 400" in printed and "TS T=10: mean shift E[e]" in printed
    png = np.asarray(Image.open(out / "typical_nll.png").convert("L"))
    assert png.shape[0] > 200 and png.shape[1] > 300 and png.std() > 10
    assert "| quantity | value |" in (out / "typical.md").read_text()
    rows = (out / "typical_samples.csv").read_text().splitlines()
    assert rows[0] == "noise,mean NLL,std NLL,mean e(n)" and len(rows) == 1 + 7
    gauss, ts1, ts10 = (float(r.split(",")[3]) for r in rows[1:4])
    assert abs(gauss) < 0.01 and 0 < ts1 < ts10  # more iterations, lower likelihood


def test_typical_bad_arguments(tmp_path, capsys):
    assert main(["typical", "--iterations", "1,x", "--out", str(tmp_path)]) == 2
    assert '--iterations must be comma-separated numbers' in capsys.readouterr().err
    assert main(["typical", "--sigma", "0", "--out", str(tmp_path)]) == 2
    assert '--sigma must be > 0' in capsys.readouterr().err
