"""Command-line plug paths of issue 24: colour inputs to a gray model are recorded, a
subcommand's own usage on its errors, ``train --max-steps`` as ``--steps``."""

import json

import pytest
import torch

from denoise_adv.cli import build_parser, main
from denoise_adv.cli.train import build_config
from denoise_adv.data import builtin_image, save_png
from denoise_adv.models import save_checkpoint


@pytest.fixture
def checkpoint(trained_dncnn, tmp_path):
    return save_checkpoint(trained_dncnn, tmp_path / "model.pt", {"strategy": "normal"})


def test_attack_records_and_prints_colour_read_as_gray(checkpoint, tmp_path, capsys):
    folder = tmp_path / "images"
    colour = builtin_image("astronaut", channels=3)[:, 100:132, 200:232]
    assert not torch.equal(colour[0], colour[1])
    save_png(colour, folder / "rgb.png")
    save_png(builtin_image("camera")[:, 100:132, 200:232], folder / "gray.png")
    out = tmp_path / "out"
    assert main(["attack", "--model", str(checkpoint), "--input", str(folder), "--steps", "1",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "note: 1 image(s) converted to gray for the 1-channel model" in printed
    assert "rgb" in printed.split("note:")[1].splitlines()[0]
    protocol = json.loads((out / "summary.json").read_text())["protocol"]
    assert protocol["model_channels"] == 1
    conversion = protocol["channel_conversion"]
    assert conversion["images"] == ["rgb"] and conversion["to"] == "gray"
    assert "0.299 R + 0.587 G + 0.114 B" in conversion["how"]


def test_attack_on_gray_inputs_records_no_conversion(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["attack", "--model", str(checkpoint), "--input", "builtin:coins", "--steps",
                 "1", "--out", str(out), "--quiet", "--max-pixels", "200000"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["protocol"][
        "channel_conversion"] is None


@pytest.mark.parametrize("extra", [["--bogus"], ["--bogus", "x"]])
def test_unknown_option_of_a_subcommand_prints_that_subcommands_usage(capsys, extra):
    with pytest.raises(SystemExit) as stop:
        main(["attack", "--model", "m", "--input", "i", "--out", "o", *extra])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: denoise-adv attack ")
    assert f"denoise-adv attack: error: unrecognized arguments: {' '.join(extra)}" in err
    assert "COMMAND" not in err  # not the top-level usage


def test_bad_value_of_a_subcommand_prints_that_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["attack", "--model", "m", "--input", "i", "--out", "o", "--steps", "x"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: denoise-adv attack ")
    assert "denoise-adv attack: error: argument --steps: invalid int value: 'x'" in err


def test_unknown_command_still_gets_the_top_level_usage(capsys):
    with pytest.raises(SystemExit):
        main(["bogus"])
    assert capsys.readouterr().err.startswith("usage: denoise-adv [-h]")


@pytest.mark.parametrize("flag", ["--steps", "--max-steps"])
def test_train_takes_steps_and_max_steps(flag, tmp_path):
    args = build_parser().parse_args(["train", "--out", str(tmp_path / "run"), flag, "7"])
    assert build_config(args).max_steps == 7


def test_train_help_lists_both_spellings(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--steps MAX_STEPS, --max-steps MAX_STEPS" in capsys.readouterr().out
