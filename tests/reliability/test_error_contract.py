"""The error contract of ``denoise-adv`` (issue 14): every user error, in every command, is one
line ``denoise-adv CMD: error: ...`` on stderr and exit code 2, no traceback; ``--debug`` shows
the traceback instead."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from reliability_helpers import tiny_model, train_args

from denoise_adv.cli import main
from denoise_adv.data import save_png
from denoise_adv.models import DnCNN, save_checkpoint

#: A device name that is refused on every machine: plain "cuda" without a GPU (the issue's
#: case), an index past the last GPU with one.
NO_SUCH_DEVICE = "cuda:99" if torch.cuda.is_available() else "cuda"


@pytest.fixture
def files(tmp_path, checkpoint, folder):
    """Everything the bad invocations point at."""
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02garbage")
    deeper = {"format": "denoise_adv.checkpoint", "version": 1, "model": "dncnn",
              "kwargs": {"channels": 1, "depth": 5, "features": 4},
              "state_dict": DnCNN(depth=3, features=4).state_dict(), "meta": {}}
    torch.save(deeper, tmp_path / "other_depth.pt")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"truncated checkpoint")
    existing = tmp_path / "existing_run"
    existing.mkdir()
    save_checkpoint(tiny_model(), existing / "model.pt")
    bad_set = tmp_path / "edited_set.pt"
    torch.save({"adv_inputs": [1, 2, 3], "labels": torch.zeros(1, 1, 16, 16), "meta": {}},
               bad_set)
    (tmp_path / "an_adv_set_dir").mkdir()
    return {"tmp": tmp_path, "ckpt": checkpoint, "images": folder, "image": folder / "a.png",
            "file": tmp_path / "a_file", "under_file": tmp_path / "a_file" / "out",
            "garbage": tmp_path / "garbage.pt", "deeper": tmp_path / "other_depth.pt",
            "run": run, "existing": existing, "bad_set": bad_set,
            "dir": tmp_path / "an_adv_set_dir"}


def _attack(f, *extra):
    return ["attack", "--model", f["ckpt"], "--input", f["images"], "--steps", 1,
            "--out", f["tmp"] / "out", "--quiet", *extra]


def _evaluate(f, *extra):
    return ["evaluate", "--model", f["ckpt"], "--data", f["images"], "--steps", 1,
            "--out", f["tmp"] / "out", "--quiet", *extra]


def _make_adv(f, *extra):
    return ["make-adv", "--model", f["ckpt"], "--data", f["images"], "--steps", 1,
            "--out", f["tmp"] / "set.pt", "--quiet", *extra]


def _transfer(f, *extra):
    return ["transfer", "--models", f["ckpt"], f["ckpt"], "--names", "x", "y", "--data",
            f["images"], "--steps", 1, "--out", f["tmp"] / "out", "--quiet", *extra]


def _neighborhood(f, *extra):
    return ["neighborhood", "--model", f["ckpt"], "--input", f["image"], "--crop", 0,
            "--steps", 1, "--out", f["tmp"] / "out", "--quiet", *extra]


def _patch(f, *extra):
    return ["patch-attack", "--model", f["ckpt"], "--input", f["image"], "--crop", 0,
            "--steps", 1, "--out", f["tmp"] / "out", "--quiet", *extra]


def _demo(f, *extra):
    return ["demo", "--model", f["ckpt"], "--data", f["images"], "--out", f["tmp"] / "out",
            "--quiet", *extra]


def _anatomy(f, *extra):
    return ["anatomy", "--model", f["ckpt"], "--data", f["images"], "--steps", 1,
            "--out", f["tmp"] / "out", "--quiet", *extra]


def _reproduce(f, *extra):
    return ["reproduce", "table2", "--train-data", f["images"], "--test-data", f["images"],
            "--smoke", "--out", f["tmp"] / "out", "--quiet", *extra]


def _benchmark(f, *extra):
    return ["benchmark", "--model", f["ckpt"], "--quick", "--out", f["tmp"] / "out", "--quiet",
            *extra]


def _train(f, *extra):
    return train_args(f["tmp"] / "train", f["images"], "--steps", 1, *extra)


#: (command, argv builder, a fragment the message must contain). Each row is a mistake a user
#: makes; none may reach a traceback or exit 1.
CASES = [
    ("attack", lambda f: _attack(f, "--steps", 0), "--steps must be >= 1"),
    ("attack", lambda f: _attack(f, "--eps", 0, "--alpha", 0), "--alpha must be > 0"),
    ("attack", lambda f: _attack(f, "--eps", "1e308"), "--eps must be at most"),
    ("attack", lambda f: _attack(f, "--alpha", "1e300"), "--alpha must be at most"),
    ("attack", lambda f: _attack(f, "--device", "bogus"), "device must be auto, cpu"),
    ("attack", lambda f: _attack(f, "--device", NO_SUCH_DEVICE), "requested but"),
    ("attack", lambda f: _attack(f, "--out", f["file"]), "is a file"),
    ("attack", lambda f: _attack(f, "--out", f["under_file"]), "lies under the file"),
    ("attack", lambda f: ["attack", "--model", f["deeper"], "--input", f["images"],
                          "--out", f["tmp"] / "o", "--quiet"], "do not fit the model"),
    ("attack", lambda f: ["attack", "--model", f["garbage"], "--input", f["images"],
                          "--out", f["tmp"] / "o", "--quiet"], "not plain weights"),
    ("attack", lambda f: _attack(f, "--max-pixels", 100), "more than the limit of 100"),
    ("attack", lambda f: ["attack", "--model", f["tmp"] / "missing.pt", "--input",
                          f["images"], "--out", f["tmp"] / "o"], "model not found"),
    ("evaluate", lambda f: _evaluate(f, "--attacks", "foo"), "--attacks takes linf, l2"),
    ("evaluate", lambda f: _evaluate(f, "--attacks", "none", "--adv-set", f["bad_set"]),
     "adv_inputs must be a float tensor"),
    ("evaluate", lambda f: _evaluate(f, "--out", f["file"]), "is a file"),
    ("make-adv", lambda f: _make_adv(f, "--out", f["dir"]), "is a folder"),
    ("make-adv", lambda f: _make_adv(f, "--steps", 0), "--steps must be >= 1"),
    ("transfer", lambda f: _transfer(f, "--names", "x"), "--names must give one distinct"),
    ("transfer", lambda f: _transfer(f, "--device", "bogus"), "device must be auto"),
    ("neighborhood", lambda f: _neighborhood(f, "--crop", 100), "--crop 100 is larger"),
    ("neighborhood", lambda f: _neighborhood(f, "--angles", 1), "--angles must be >= 4"),
    ("neighborhood", lambda f: _neighborhood(f, "--out", f["file"]), "is a file"),
    ("patch-attack", lambda f: _patch(f, "--box", "1,2"), "--box takes top,left"),
    ("patch-attack", lambda f: _patch(f, "--box", "0,0,100,100"), "must lie inside the image"),
    ("typical", lambda f: ["typical", "--patch", 0], "--patch must be >= 1"),
    ("typical", lambda f: ["typical", "--patch", 4, "--samples", 10, "--out", f["file"]],
     "is a file"),
    ("train", lambda f: _train(f, "--model-kwargs", "{bad"), "--model-kwargs"),
    ("train", lambda f: _train(f, "--blind-range", "1,2,3"), "blind_range must be"),
    ("train", lambda f: _train(f, "--lr", "inf"), "lr must be finite"),
    ("train", lambda f: _train(f, "--gamma", "nan"), "gamma must be finite"),
    ("train", lambda f: _train(f, "--gamma", "-1"), "gamma must be in (0, 1]"),
    ("train", lambda f: _train(f, "--milestones", "1.5"), "whole number"),
    ("train", lambda f: _train(f, "--device", NO_SUCH_DEVICE), "requested but"),
    ("train", lambda f: train_args(f["file"], f["images"]), "is a file"),
    ("train", lambda f: train_args(f["run"], f["images"], "--resume"), "cannot resume"),
    ("train", lambda f: train_args(f["existing"], f["images"]), "already holds a training run"),
    ("demo", lambda f: _demo(f, "--device", "bogus"), "device must be auto"),
    ("demo", lambda f: _demo(f, "--model", f["tmp"] / "missing.pt"), "model not found"),
    ("demo", lambda f: _demo(f, "--out", f["file"]), "is a file"),
    ("convert", lambda f: ["convert", f["garbage"], f["tmp"] / "c.pt"], "not plain weights"),
    ("convert", lambda f: ["convert", f["ckpt"], f["dir"]], "is a folder"),
    # commands added since the issue
    ("anatomy", lambda f: _anatomy(f, "--steps", 0), "--steps must be >= 1"),
    ("anatomy", lambda f: _anatomy(f, "--out", f["file"]), "is a file"),
    ("reproduce", lambda f: _reproduce(f, "--device", "bogus"), "device must be auto"),
    ("reproduce", lambda f: _reproduce(f, "--out", f["file"]), "is a file"),
    ("benchmark", lambda f: _benchmark(f, "--protocol", "v0"), "unknown protocol version"),
    ("benchmark", lambda f: _benchmark(f, "--out", f["file"]), "is a file"),
    ("zoo", lambda f: ["zoo", "nope"], "name must be a zoo model"),
]


def _id(case):
    return case[0] + ":" + case[2].split()[0]


def test_every_command_is_in_the_table():
    """A new subcommand needs its rows here."""
    from denoise_adv.cli import build_parser

    names = {name for action in build_parser()._subparsers._group_actions
             for name in action.choices}
    assert {"demo", "attack", "train", "typical", "evaluate", "make-adv", "transfer",
            "neighborhood", "patch-attack", "convert"} <= names
    assert names == {case[0] for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_user_errors_are_one_line_and_exit_2(case, files, cli):
    command, argv, fragment = case
    code, _, err = cli(*argv(files))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"denoise-adv {command}: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err and "weights_only=False" not in err


def test_debug_flag_reraises_with_the_traceback(files):
    with pytest.raises(ValueError, match="--steps must be >= 1"):
        main(["--debug", *map(str, _attack(files, "--steps", 0))])


def test_usage_errors_exit_2(files):
    with pytest.raises(SystemExit) as info:
        main(["attack", "--model", str(files["ckpt"])])  # --input and --out missing
    assert info.value.code == 2


@pytest.mark.slow
def test_the_installed_command_exits_2_with_one_line(files):
    """The real process, as a shell sees it (the in-process table covers the rest)."""
    argv = [sys.executable, "-m", "denoise_adv", *map(str, _attack(files, "--eps", "1e308"))]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "denoise-adv attack: error: --eps must be at most 2.55e+08 (8-bit levels), got 1e+308"]


def test_huge_image_is_refused_before_decoding(tmp_path, checkpoint, cli):
    """A 4097x4097 image (over the default 4096x4096 limit) never reaches the denoiser."""
    big = tmp_path / "big"
    save_png(torch.zeros(1, 4097, 4097), big / "huge.png")
    code, _, err = cli("attack", "--model", checkpoint, "--input", big, "--out",
                       tmp_path / "o", "--quiet")
    assert code == 2
    assert err.startswith("denoise-adv attack: error: image ") and "4097x4097" in err
    assert not (tmp_path / "o").exists()  # nothing written, not even the folder


def test_a_missing_optional_package_is_a_user_error(files, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # as if the baselines extra were missing
    argv = _evaluate(files, "--attacks", "none")
    argv[argv.index("--model") + 1] = "bm3d"
    code, _, err = cli(*argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("denoise-adv evaluate: error: BM3D needs the optional bm3d "
                               "package: pip install \"denoise-adv[baselines]\"")
