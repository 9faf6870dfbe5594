"""``denoise-adv benchmark --task`` and ``denoise-adv attack --task`` end to end, on tiny
images and a tiny prior (a protocol file holding a task; the named task protocols are
checked for what ``--task`` picks)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from denoise_adv.cli import main
from denoise_adv.cli.benchmark import _protocol
from denoise_adv.data import save_png
from denoise_adv.evaluation import PROTOCOLS
from denoise_adv.models import DnCNN, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(sample_images, tmp_path_factory):
    root = tmp_path_factory.mktemp("task-cli")
    for name, image in (("a", sample_images[0][:, :32, :32]), ("b", sample_images[2][:, :32, :32])):
        save_png(image, root / "images" / f"{name}.png")
    torch.manual_seed(0)
    save_checkpoint(DnCNN(depth=3, features=4), root / "tiny.pt")
    protocol = PROTOCOLS["v1-sr2-quick"].derive(
        "tiny-sr2", data=str(root / "images"), images=None, crop=None,
        reference=str(root / "tiny.pt"), bootstrap=100)
    (root / "protocol.json").write_text(json.dumps(protocol.as_dict()))
    return root


def test_task_picks_the_task_protocol():
    def pick(**given):
        args = {"protocol": "v1", "task": None, "quick": False, "images": None, "data": None}
        return _protocol(argparse.Namespace(**{**args, **given})).version

    assert pick(task="deblur") == "v1-deblur" and pick(task="sr4", quick=True) == "v1-sr4-quick"
    assert pick(task="inpaint", data="mine") == "v1-inpaint-custom"
    with pytest.raises(ValueError, match="unknown protocol version 'v2-sr2'"):
        pick(protocol="v2", task="sr2")


def test_benchmark_of_a_task_scores_pipelines(setup, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["benchmark", "--model", str(setup / "tiny.pt"), "baseline", "--protocol",
                 str(setup / "protocol.json"), "--out", str(out), "--quiet", "--no-figures",
                 "--docs", str(tmp_path / "board.rst")])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["leaderboard"]) == ["baseline", "tiny"]
    assert results["models"]["tiny"]["meta"]["pipeline"] == "dpir"
    assert results["models"]["baseline"]["meta"]["pipeline"] == "baseline"
    assert "restoration task sr2" in (tmp_path / "board.rst").read_text()
    for label in ("tiny", "baseline"):
        s = results["summary"][label]
        assert s["robust_psnr"]["mean"] < s["gaussian_psnr"]["mean"]
    assert "tiny-sr2" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["tiny", "baseline"])
def test_attack_of_a_task_attacks_the_measurement(setup, tmp_path, model):
    spec = str(setup / "tiny.pt") if model == "tiny" else "baseline"
    out = tmp_path / model
    assert main(["attack", "--task", "sr2", "--model", spec, "--input",
                 str(setup / "images" / "a.png"), "--steps", "3", "--out", str(out),
                 "--quiet"]) == 0
    adv = torch.load(out / "a_adv.pt", weights_only=True)
    summary = json.loads((out / "summary.json").read_text())
    row = summary["images"][0]
    assert adv.shape == (1, 1, 16, 16) and summary["protocol"]["task"] == "sr2"
    assert summary["protocol"]["sigma"] == 0.01  # the task's noise unless --sigma says
    assert row["linf_delta"] <= 2 + 1e-4 and row["drop"] > 0 and row["psnr_noisy"] is None


def test_attack_task_errors(setup, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["attack", "--task", "blur", "--model", "baseline", "--input",
              str(setup / "images"), "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2 and "invalid choice: 'blur'" in capsys.readouterr().err
