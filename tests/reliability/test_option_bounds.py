"""Silent or unbounded options (issue 25): non-finite thresholds, negative radii, bare
``Infinity`` in JSON, duplicate models, SSIM of tiny images, requests too large for memory or
time, devices that do not exist, and output folders that mix runs. Each probe is one line on
stderr and exit 2, before any work."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch

import denoise_adv._checks as checks
from denoise_adv._checks import check_budget
from denoise_adv._io import write_json
from denoise_adv.cli import main
from denoise_adv.data import save_png
from denoise_adv.noise import ts_noise
from denoise_adv.training import TrainConfig


def _one_line(code: int, err: str, command: str, fragment: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"denoise-adv {command}: error: "), err
    assert fragment in lines[0], err
    assert "Traceback" not in err


def _usage_error(capsys, *argv: object) -> tuple[int, str]:
    """``(exit code, the error line)`` of an invocation argparse refuses (it prints the usage
    above the line, as for every usage error)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    return info.value.code, capsys.readouterr().err.strip().splitlines()[-1]


def _strict(text: str):
    """Parse JSON as strict parsers do: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------ non-finite or negative


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_neighborhood_threshold_must_be_finite(capsys, checkpoint, tmp_path, value):
    code, err = _usage_error(capsys, "neighborhood", "--model", checkpoint, "--out",
                             tmp_path / "o", f"--threshold={value}")
    _one_line(code, err, "neighborhood", f"--threshold: expected a finite number, got {value}")


def test_transfer_threshold_must_be_finite(capsys, checkpoint, tmp_path):
    code, err = _usage_error(capsys, "transfer", "--models", checkpoint, checkpoint,
                             "--out", tmp_path / "o", "--threshold", "nan")
    _one_line(code, err, "transfer", "--threshold: expected a finite number, got nan")


@pytest.mark.parametrize("radii", ["-1,1", "1,-0.5", "1,nan"])
def test_neighborhood_radii_must_not_be_negative(capsys, checkpoint, tmp_path, radii):
    code, err = _usage_error(capsys, "neighborhood", "--model", checkpoint, "--out",
                             tmp_path / "o", f"--radii={radii}")
    _one_line(code, err, "neighborhood", "--radii: expected comma-separated")


# ------------------------------------------------------------------------- strict JSON


def test_sigma_0_writes_strict_json_with_null_and_the_reason(cli, checkpoint, folder, tmp_path):
    out = tmp_path / "o"
    code, _, err = cli("attack", "--model", checkpoint, "--input", folder, "--sigma", 0,
                       "--steps", 1, "--out", out, "--quiet")
    assert code == 0, err
    text = (out / "summary.json").read_text()
    assert "Infinity" not in text.replace('"Infinity"', "")  # only as the reason's string
    summary = _strict(text)
    assert [row["psnr_noisy"] for row in summary["images"]] == [None, None]  # noisy == clean
    assert summary["non_finite"] == {"/images/0/psnr_noisy": "Infinity",
                                     "/images/1/psnr_noisy": "Infinity"}
    assert all(math.isfinite(row["psnr_denoised"]) for row in summary["images"])


def test_write_json_never_writes_bare_nan(tmp_path):
    path = write_json(tmp_path / "r.json", {"a": [1.0, float("nan")], "b": {"c": -math.inf},
                                            "d/e": float("inf")})
    value = _strict(path.read_text())
    assert value == {"a": [1.0, None], "b": {"c": None}, "d/e": None,
                     "non_finite": {"/a/1": "NaN", "/b/c": "-Infinity", "/d~1e": "Infinity"}}
    with pytest.raises(ValueError, match="non-finite numbers"):
        write_json(tmp_path / "list.json", [math.nan])


# --------------------------------------------------------------------------- evaluate


def test_evaluate_refuses_the_same_model_twice(cli, checkpoint, folder, tmp_path,
                                               monkeypatch):
    monkeypatch.chdir(checkpoint.parent)
    for second in (checkpoint, f"./{checkpoint.name}"):  # however it is spelt
        code, _, err = cli("evaluate", "--model", checkpoint, second, "--data", folder,
                           "--steps", 1, "--out", tmp_path / "o", "--quiet")
        _one_line(code, err, "evaluate", "more than once")
    assert not (tmp_path / "o").exists()


def test_evaluate_refuses_two_models_of_one_label(cli, checkpoint, folder, tmp_path):
    other = tmp_path / "other" / "model.pt"  # label "other"
    twin = tmp_path / "x" / "other.pt"  # label "other" too
    for path in (other, twin):
        path.parent.mkdir()
        path.write_bytes(checkpoint.read_bytes())
    code, _, err = cli("evaluate", "--model", other, twin, "--data", folder, "--steps", 1,
                       "--out", tmp_path / "o", "--quiet")
    _one_line(code, err, "evaluate", "both get the row label 'other'")


@pytest.mark.parametrize("side", [1, 10])
def test_evaluate_refuses_images_smaller_than_the_ssim_window(cli, checkpoint, tmp_path, side):
    save_png(torch.rand(1, side, side), tmp_path / "tiny" / "px.png")
    code, _, err = cli("evaluate", "--model", checkpoint, "--data", tmp_path / "tiny",
                       "--steps", 1, "--out", tmp_path / "o", "--quiet")
    _one_line(code, err, "evaluate", f"image px is {side}x{side}, smaller than SSIM's 11x11")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------ resource bounds


def test_check_budget_compares_with_available_memory_and_time(monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda device=None: 10**9)
    check_budget("--x", "a small request", nbytes=10**8, seconds=1)
    with pytest.raises(ValueError, match=r"^--x: a big request needs about 2 GB of memory, "
                       r"more than the 1 GB available; ask for less$"):
        check_budget("--x", "a big request", nbytes=2 * 10**9)
    with pytest.raises(ValueError, match=r"^--y: it would take at least 2 h, more than the "
                       r"limit of 1 h for one request; ask for less$"):
        check_budget("--y", "it", seconds=7200)


@pytest.mark.parametrize("kwargs, fragment", [
    ('{"features": 1000000}', "model_kwargs features=1000000 is larger than 4096"),
    ('{"depth": 100000000}', "model_kwargs depth=100000000 is larger than 4096"),
    ('{"depth": 1e8}', "model_kwargs depth=100000000.0 is larger than 4096"),
])
def test_huge_model_kwargs_are_refused_at_once(cli, folder, tmp_path, kwargs, fragment):
    start = time.perf_counter()
    code, _, err = cli("train", "--out", tmp_path / "r", "--data", folder, "--val-data", "none",
                       "--model-kwargs", kwargs, "--steps", 1, "--device", "cpu", "--quiet")
    _one_line(code, err, "train", fragment)
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "r").exists()


def test_model_too_large_for_memory_is_refused_before_building(cli, folder, tmp_path,
                                                               monkeypatch):
    """features=4096 builds nothing: its size is counted on the meta device."""
    monkeypatch.setattr(checks, "available_memory", lambda device=None: 4 * 10**9)
    code, _, err = cli("train", "--out", tmp_path / "r", "--data", folder, "--val-data", "none",
                       "--model-kwargs", '{"features": 4096}', "--steps", 1, "--device", "cpu",
                       "--quiet")
    _one_line(code, err, "train", "model_kwargs: training dncnn (features=4096) on batches of "
              "128 patches of 40x40 needs about")
    assert "more than the 4 GB available on cpu" in err


def test_small_model_passes_the_memory_check():
    TrainConfig(model_kwargs={"depth": 3, "features": 4}).validate()


@pytest.mark.parametrize("argv", [("--patch", 100000), ("--samples", 1000000000)])
def test_typical_refuses_sample_sets_larger_than_memory(cli, tmp_path, argv):
    code, _, err = cli("typical", *argv, "--out", tmp_path / "o")
    _one_line(code, err, "typical", "of memory, more than the")
    assert not (tmp_path / "o").exists()


def test_neighborhood_refuses_sweeps_that_would_not_finish(cli, checkpoint, tmp_path,
                                                           monkeypatch):
    import denoise_adv.analysis as analysis

    def never(*args, **kwargs):
        raise AssertionError("the sweep started")

    monkeypatch.setattr(analysis, "neighborhood_2d", never)
    start = time.perf_counter()
    code, _, err = cli("neighborhood", "--model", checkpoint, "--crop", 16, "--angles",
                       100000000, "--steps", 1, "--device", "cpu", "--out", tmp_path / "o",
                       "--quiet")
    _one_line(code, err, "neighborhood", "--angles: 5 circles x 100000000 angles")
    assert "more than the limit of 1 h" in err or "of memory, more than" in err
    assert time.perf_counter() - start < 30
    monkeypatch.setattr(checks, "available_memory", lambda device=None: None)  # unknown
    code, _, err = cli("neighborhood", "--model", checkpoint, "--crop", 16, "--angles",
                       100000000, "--steps", 1, "--device", "cpu", "--out", tmp_path / "o",
                       "--quiet")
    _one_line(code, err, "neighborhood", "evaluations of the model")
    assert "would take at least" in err and "more than the limit of 1 h" in err


def test_ts_screening_refuses_a_t_that_would_not_finish():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"iterations: screening with T = 1e\+09 .* use "
                       r"method='exact'"):
        ts_noise((1, 1600), 1.0, iterations=1e9, method="screening")
    assert time.perf_counter() - start < 1
    assert ts_noise((1, 1600), 1.0, iterations=1e9, method="exact").shape == (1, 1600)
    with pytest.raises(ValueError, match="use method='exact'"):
        TrainConfig(strategy="ts-def", ts_method="screening", ts_iterations=1e9).validate()


# ------------------------------------------------------------------------------ devices


@pytest.mark.parametrize("name, fragment", [
    ("meta", "--device must be auto, cpu, cuda or cuda:N, got 'meta'"),
    ("mps", "--device mps requested but MPS is not available"),
    ("xpu", "--device xpu requested but XPU is not available"),
    ("cpu:5", "--device cpu:5: there is one CPU device"),
])
def test_devices_that_do_not_exist_are_blamed_not_the_checkpoint(cli, folder, tmp_path, name,
                                                                 fragment):
    if name in ("mps", "xpu") and getattr(torch.backends if name == "mps" else torch,
                                          name).is_available():
        pytest.skip(f"{name} exists here")
    code, _, err = cli("attack", "--model", "zoo:dncnn-s25-normal", "--input", folder,
                       "--steps", 1, "--out", tmp_path / "o", "--device", name, "--quiet")
    _one_line(code, err, "attack", fragment)
    assert "checkpoint" not in err


def test_cpu_0_is_the_cpu(cli, checkpoint, folder, tmp_path):
    code, _, err = cli("attack", "--model", checkpoint, "--input", folder, "--steps", 1,
                       "--out", tmp_path / "o", "--device", "cpu:0", "--quiet")
    assert code == 0, err


# ------------------------------------------------------------------------ output folders


def _attack(cli, checkpoint, images, out, *extra):
    return cli("attack", "--model", checkpoint, "--input", images, "--steps", 1, "--out", out,
               "--quiet", *extra)


def test_reusing_out_is_refused_unless_overwrite_replaces_the_run(cli, checkpoint, folder,
                                                                  tmp_path):
    out = tmp_path / "o"
    assert _attack(cli, checkpoint, folder, out)[0] == 0
    (out / "notes.txt").write_text("mine")
    other = tmp_path / "other"
    save_png(torch.rand(1, 16, 16), other / "c.png")
    code, _, err = _attack(cli, checkpoint, other, out)
    _one_line(code, err, "attack", "already holds the files of an attack run")
    assert (out / "a_adv.pt").exists()  # untouched
    assert _attack(cli, checkpoint, other, out, "--overwrite")[0] == 0
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(("a_", "b_"))]  # the old run is gone
    assert "c_adv.pt" in names and "notes.txt" in names  # the new one, and not our files
    rows = _strict((out / "summary.json").read_text())["images"]
    assert [r["image"] for r in rows] == ["c"]


def test_out_equal_to_the_input_folder_is_refused(cli, checkpoint, folder):
    before = sorted(p.name for p in folder.iterdir())
    for extra in ((), ("--overwrite",)):
        code, _, err = _attack(cli, checkpoint, folder, folder, *extra)
        _one_line(code, err, "attack", "is the folder of --input")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_anatomy_out_equal_to_data_is_refused(cli, checkpoint, folder):
    code, _, err = cli("anatomy", "--model", checkpoint, "--data", folder, "--out", folder,
                       "--steps", 1, "--reference", "none", "--quiet")
    _one_line(code, err, "anatomy", "is the folder of --data")
