"""``denoise-adv benchmark`` end to end: outputs, docs table, resuming, sharding, errors."""

import json
import os
import subprocess
import sys

import pytest
import torch

from denoise_adv.benchmark import PROTOCOL_V1_QUICK
from denoise_adv.cli import main
from denoise_adv.data import save_png
from denoise_adv.models import DnCNN, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(sample_images, tmp_path_factory):
    """Two 32x32 images in a folder, a tiny model and reference checkpoint, and a protocol
    file (v1's attacks with 3 steps) naming them."""
    root = tmp_path_factory.mktemp("cli")
    crops = (("a", sample_images[0][:, :32, :32]), ("b", sample_images[2][:, :32, 8:40]))
    for name, image in crops:
        save_png(image, root / "images" / f"{name}.png")
    torch.manual_seed(0)
    save_checkpoint(DnCNN(depth=3, features=4), root / "tiny.pt")
    save_checkpoint(DnCNN(depth=3, features=4), root / "reference.pt")
    save_checkpoint(DnCNN(channels=3, depth=3, features=4), root / "colour.pt")
    protocol = PROTOCOL_V1_QUICK.derive("cli-tiny", data=str(root / "images"), images=None,
                                        crop=None, reference=str(root / "reference.pt"),
                                        bootstrap=100)
    (root / "protocol.json").write_text(json.dumps(protocol.as_dict()))
    return root


def _args(root, out, *more):
    return ["benchmark", "--model", str(root / "tiny.pt"), "--protocol",
            str(root / "protocol.json"), "--out", str(out), "--quiet", *more]


@pytest.mark.slow
def test_help_states_units():
    out = subprocess.run([sys.executable, "-m", "denoise_adv", "benchmark", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "8-bit" in out and "--model" in out and "--quick" in out
    assert "v2" in out and "Square" in out and "leaderboard.html" in out and "=1" in out


@pytest.mark.slow
def test_end_to_end_with_docs_table_and_rerun(setup, tmp_path, capsys):
    out, docs = tmp_path / "bench", tmp_path / "docs" / "leaderboard.rst"
    assert main(_args(setup, out, "--model", "nlmeans", "--docs", str(docs))) == 0
    printed = capsys.readouterr().out
    assert "tiny" in printed and "nlmeans" in printed and "wrote results.json" in printed
    assert "vs best (paired)" in printed and "leaderboard.html" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["version"] == "cli-tiny" and results["images"] == ["a", "b"]
    assert list(results["models"]) == ["tiny", "nlmeans"]
    assert results["models"]["tiny"]["spec"] == str(setup / "tiny.pt")
    assert results["models"]["nlmeans"]["black_box"] is True
    assert len(results["per_image"]) == 4 and results["device"]["device"] == "cpu"
    assert "tiny" in (out / "leaderboard.md").read_text()
    for name in ("robust_vs_budget.png", "worst_case_strip.png"):
        from PIL import Image

        assert min(Image.open(out / name).size) > 100  # a real picture, not an empty file
    # the docs table carries the run's own numbers
    table = docs.read_text()
    robust = results["summary"]["tiny"]["robust_psnr"]
    assert ".. list-table:: protocol cli-tiny" in table
    assert f"{robust['mean']:.2f} [{robust['low']:.2f}, {robust['high']:.2f}]" in table
    # a rerun skips every finished row: their files are not rewritten
    rows = sorted((out / "rows").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in rows]
    assert main(_args(setup, out, "--model", "nlmeans", "--no-figures")) == 0
    assert [p.stat().st_mtime_ns for p in rows] == stamps
    assert json.loads((out / "results.json").read_text())["per_image"] == results["per_image"]


@pytest.mark.slow
def test_sharded_run_gives_the_same_rows(setup, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = [sys.executable, "-m", "denoise_adv", *_args(setup, tmp_path / "one"),
              "--no-figures"]
    subprocess.run(single, check=True, timeout=300, env=env)
    sharded = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "denoise_adv",
               *_args(setup, tmp_path / "two"), "--no-figures"]
    subprocess.run(sharded, check=True, timeout=300, env=env)
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["device"]["world_size"] == 2 and one["device"]["world_size"] == 1
    assert two["per_image"] == one["per_image"]
    assert two["summary"] == one["summary"]
    # each process took one image: the transfer inputs were crafted once each
    assert sorted(p.name for p in (tmp_path / "two" / "cache" / "transfer").iterdir()) == [
        "a-s0.pt", "b-s0.pt"]


@pytest.mark.parametrize("change, message", [
    (["--model", "zoo:nope"], "unknown zoo model 'nope'"),
    (["--model", "missing.pt"], "model not found: missing.pt"),
    (["--protocol", "v9"], "unknown protocol version 'v9'; this release knows v1"),
    (["--images", "0"], "--images must be >= 1"),
    (["--colour"], "takes 3-channel images but protocol cli-tiny uses 1-channel"),
])
def test_clear_one_line_errors(setup, tmp_path, capsys, change, message):
    args = _args(setup, tmp_path / "o")
    if change == ["--colour"]:
        args[2] = str(setup / "colour.pt")
    elif change[0] == "--model":
        args[2] = change[1]
    else:
        args += change
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_results_folder_of_another_protocol_is_refused(setup, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(_args(setup, out, "--images", "1", "--no-figures")) == 0
    other = json.loads((setup / "protocol.json").read_text())
    other["version"] = "cli-other"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    capsys.readouterr()
    args = _args(setup, out)
    args[args.index("--protocol") + 1] = str(path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds results of protocol cli-tiny, not cli-other" in err and err.count("\n") == 1


def test_quick_selects_the_quick_variant(setup):
    from denoise_adv.cli import build_parser
    from denoise_adv.cli.benchmark import _protocol

    parser = build_parser()
    args = parser.parse_args(["benchmark", "--model", "m", "--out", "o", "--quick"])
    assert _protocol(args) is PROTOCOL_V1_QUICK
    args = parser.parse_args(["benchmark", "--model", "m", "--out", "o", "--quick",
                              "--protocol", str(setup / "protocol.json")])
    with pytest.raises(ValueError, match="unknown protocol version 'cli-tiny-quick'"):
        _protocol(args)


def test_own_data_is_a_custom_variant_identified_by_pixels(setup, tmp_path, capsys):
    """--data FOLDER: v1's attacks (here the quick variant's) on the user's images, recorded
    as VERSION-custom; an image that changes under the same name is scored again."""
    from PIL import Image

    data = tmp_path / "set"
    data.mkdir()
    for name in ("a", "b"):
        (data / f"{name}.png").write_bytes((setup / "images" / f"{name}.png").read_bytes())
    out = tmp_path / "bench"
    args = ["benchmark", "--model", str(setup / "tiny.pt"), "--quick", "--data", str(data),
            "--out", str(out), "--quiet", "--no-figures"]
    assert main(args) == 0
    first = json.loads((out / "results.json").read_text())
    assert first["protocol"]["version"] == "v1-quick-custom"
    assert first["protocol"]["data"] == str(data) and first["images"] == ["a", "b"]
    rows = {r["image"]: r for r in first["per_image"]}
    assert len({rows["a"]["pixel_sha256"], rows["b"]["pixel_sha256"]}) == 2
    inverted = 255 - __import__("numpy").asarray(Image.open(data / "a.png"))
    Image.fromarray(inverted).save(data / "a.png")
    assert main(args) == 0
    second = {r["image"]: r for r in json.loads((out / "results.json").read_text())["per_image"]}
    assert second["a"]["pixel_sha256"] != rows["a"]["pixel_sha256"]
    assert second["a"]["gaussian_psnr"] != pytest.approx(rows["a"]["gaussian_psnr"], abs=1e-6)
    assert second["b"] == rows["b"]  # unchanged image: its row is reused as it was
    capsys.readouterr()
    assert main([*args[:-4], "--data", "builtin:test", "--out", str(tmp_path / "x")]) == 2
    assert "folder or a file" in capsys.readouterr().err


@pytest.mark.slow
def test_colour_protocol_scores_the_published_colour_model_and_colour_baselines(tmp_path):
    """v1-color: astronaut and chelsea in colour; the colour FFDNet is white-box and the
    transfer source; NL-means is built for three channels (black-box)."""
    out = tmp_path / "colour"
    assert main(["benchmark", "--model", "zoo:ffdnet-ipol-color", "nlmeans", "--protocol",
                 "v1-color", "--quick", "--out", str(out), "--quiet", "--no-figures"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["version"] == "v1-color-quick"
    assert results["protocol"]["channels"] == 3 and results["images"] == ["astronaut",
                                                                           "chelsea"]
    assert results["models"]["nlmeans"]["black_box"] is True
    rows = {(r["model"], r["image"]): r for r in results["per_image"]}
    ffdnet = rows["ffdnet-ipol-color", "astronaut"]
    assert ffdnet["gaussian_psnr"] > rows["nlmeans", "astronaut"]["gaussian_psnr"]
    assert ffdnet["gaussian_psnr"] - ffdnet["robust_psnr"] > 0.3  # white-box damage
