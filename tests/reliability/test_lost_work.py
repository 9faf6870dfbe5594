"""Lost or overwritten work (issue 14): runs are never overwritten by accident, move and resume,
leave no temporaries, stop on divergence keeping the last checkpoint; outputs are checked before
the work that fills them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_helpers import train_args

from denoise_adv.data import save_png


@pytest.fixture
def data(tmp_path):
    """Two gray 16x16 training images: one 16x16 patch each, one batch of 2 per epoch."""
    folder = tmp_path / "train_images"
    g = torch.Generator().manual_seed(3)
    for name in ("p", "q"):
        save_png(torch.rand(1, 16, 16, generator=g), folder / f"{name}.png")
    return folder


def _steps(run) -> int:
    return torch.load(run / "checkpoint.pt", weights_only=True)["global_step"]


def test_training_into_an_existing_run_refuses_without_resume_or_overwrite(tmp_path, data, cli):
    run = tmp_path / "run"
    assert cli(*train_args(run, data, "--steps", 3))[0] == 0
    before = (run / "checkpoint.pt").read_bytes()
    code, _, err = cli(*train_args(run, data, "--steps", 1))
    assert code == 2 and "already holds a training run" in err
    assert (run / "checkpoint.pt").read_bytes() == before and _steps(run) == 3
    assert cli(*train_args(run, data, "--steps", 1, "--overwrite"))[0] == 0
    assert _steps(run) == 1  # started over, as asked


def test_a_moved_or_respelled_run_resumes(tmp_path, data, cli, monkeypatch):
    """`out` is where the files live, not part of the trajectory."""
    monkeypatch.chdir(tmp_path)
    assert cli(*train_args("tr/sp", data, "--steps", 2))[0] == 0
    assert cli(*train_args("./tr/sp", data, "--steps", 3, "--resume"))[0] == 0
    assert _steps(tmp_path / "tr" / "sp") == 3
    shutil.move(tmp_path / "tr" / "sp", tmp_path / "moved")
    assert cli(*train_args(tmp_path / "moved", data, "--steps", 4, "--resume"))[0] == 0
    log = json.loads((tmp_path / "moved" / "log.json").read_text())
    assert log["steps"] == 4 and [s["step"] for s in
                                  torch.load(tmp_path / "moved" / "checkpoint.pt",
                                             weights_only=True)["steps_log"]] == [1, 2, 3, 4]


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path, data, cli):
    run = tmp_path / "run"
    assert cli(*train_args(run, data, "--steps", 1))[0] == 0
    stale = run / ".checkpoint.pt.k1ll3d.tmp"  # what SIGKILL during atomic_open leaves
    stale.write_bytes(b"half a checkpoint")
    other = run / ".notes.txt.k1ll3d.tmp"  # not ours: kept
    other.write_text("user file")
    assert cli(*train_args(run, data, "--steps", 2, "--resume"))[0] == 0
    assert not stale.exists() and other.exists()


def test_divergence_stops_with_an_error_and_keeps_the_last_checkpoint(tmp_path, data, cli):
    run = tmp_path / "run"
    code, out, err = cli(*train_args(run, data, "--optimizer", "sgd", "--lr", "1e9",
                                     "--steps", 6, "--checkpoint-every", 1))
    assert code == 2 and "training diverged at step" in err and "final MSE nan" not in out
    assert "last good checkpoint" in err
    kept = torch.load(run / "checkpoint.pt", weights_only=True)
    assert all(np.isfinite(entry["loss"]) for entry in kept["steps_log"])
    assert not (run / "model.pt").exists()  # no NaN model published


@pytest.mark.parametrize("option,value,message", [
    ("--gamma", "nan", "gamma must be finite"),
    ("--gamma", "-1", "gamma must be in (0, 1]"),
    ("--gamma", "1.5", "gamma must be in (0, 1]"),
    ("--milestones", "1.5", "expected a whole number"),
    ("--milestones", "0", "milestones must be whole epochs >= 1"),
    ("--lr", "inf", "lr must be finite"),
])
def test_schedule_options_are_validated(tmp_path, data, cli, option, value, message):
    code, _, err = cli(*train_args(tmp_path / "run", data, option, value))
    assert code == 2 and message in err
    assert not (tmp_path / "run").exists()


def test_images_with_one_stem_keep_their_own_outputs(tmp_path, checkpoint, cli):
    folder = tmp_path / "same_stem"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / "a.bmp")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / "a.png")
    out = tmp_path / "out"
    assert cli("attack", "--model", checkpoint, "--input", folder, "--steps", 1, "--out", out,
               "--quiet")[0] == 0
    rows = json.loads((out / "summary.json").read_text())["images"]
    assert [r["image"] for r in rows] == ["a.bmp", "a.png"]
    first, second = (torch.load(out / f"{n}_adv.pt", weights_only=True)
                     for n in ("a.bmp", "a.png"))
    assert not torch.equal(first, second)
    assert rows[0]["psnr_noisy"] != rows[1]["psnr_noisy"]


def test_make_adv_checks_its_output_before_the_attack(tmp_path, checkpoint, folder, cli,
                                                      monkeypatch):
    import denoise_adv.analysis as analysis

    def crafted(*args, **kwargs):
        raise AssertionError("the attack ran before the output was checked")

    monkeypatch.setattr(analysis, "make_adversarial_set", crafted)
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    code, _, err = cli("make-adv", "--model", checkpoint, "--data", folder, "--out", existing,
                       "--quiet")
    assert code == 2 and "--out must be a file, but" in err and "is a folder" in err
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_typical_without_out_prints_and_writes_nothing(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("typical", "--patch", 4, "--samples", 50, "--iterations", "1")
    assert code == 0 and "Typical sets" in out
    assert list(tmp_path.iterdir()) == []
