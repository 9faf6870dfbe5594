"""Round 4's probes (issue 31), each a test: every writing command holds its output's lock,
reserved protocol names, protocol files checked whole, verified strict row files, a NaN row,
a Gaussian-only evaluation."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from denoise_adv._lock import OutputLock
from denoise_adv.benchmark import PROTOCOL_V1, PROTOCOL_V1_QUICK, get_protocol, run_benchmark
from denoise_adv.cli import build_parser
from denoise_adv.evaluation.protocol import custom_data
from denoise_adv.evaluation.results import check_row
from denoise_adv.evaluation.store import read_row_file, write_row_file
from denoise_adv.models import DnCNN


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _writers() -> dict[str, argparse.ArgumentParser]:
    """The subcommands whose parser has an output argument (``out`` or ``output``)."""
    return {name: p for name, p in _subparsers().items()
            if any(a.dest in ("out", "output") for a in p._actions)}


# ------------------------------------------------------------------------------- locks
def test_every_command_with_an_output_declares_it():
    """The lock comes from the parser's declaration: a new command with ``--out`` (through
    the shared option) is covered, and one that names its output otherwise fails here."""
    writers = _writers()
    assert {"evaluate", "make-adv", "transfer", "attack", "anatomy", "typical", "benchmark",
            "reproduce", "train", "convert", "demo"} <= set(writers)
    for name, p in writers.items():
        dest, kind = p.get_default("output_of")
        assert dest in ("out", "output") and kind in ("folder", "file"), name


def _argv(name: str, p: argparse.ArgumentParser, target) -> list[str]:
    """A parsable command line of ``name`` with every required argument set and its output
    at ``target``."""
    argv = [name]
    for a in p._actions:
        if a.dest in ("out", "output"):
            value = str(target)
        elif a.required or not a.option_strings and a.dest != "help":
            value = a.choices and list(a.choices)[0] or "1"
        else:
            continue
        argv += [value] if not a.option_strings else [a.option_strings[0], value]
    return argv


@pytest.mark.parametrize("name", sorted(_writers()))
def test_a_second_writer_of_any_command_is_refused(name, tmp_path, cli):
    """While another run holds the output's lock, every writing command is refused in one
    line, exit 2, before any work (probe: two ``evaluate`` runs on one --out both 'wrote')."""
    p = _writers()[name]
    kind = p.get_default("output_of")[1]
    target = tmp_path / ("out.pt" if kind == "file" else "out")
    with OutputLock(target, file=kind == "file"):
        code, _, err = cli(*_argv(name, p, target))
    assert code == 2 and "in use by another run" in err, err
    assert err.count("\n") == 1


def test_a_refused_command_leaves_no_folder_behind(tmp_path, cli):
    code, _, err = cli("evaluate", "--model", tmp_path / "missing.pt", "--out", tmp_path / "new")
    assert code == 2 and "error" in err
    assert not (tmp_path / "new").exists()


def test_the_commands_own_library_locks_nest_inside_its_lock(tmp_path):
    with OutputLock.for_command(tmp_path / "o"):
        inner = OutputLock(tmp_path / "o").acquire()
        assert inner.held
        inner.release()
    assert OutputLock(tmp_path / "o").acquire().held  # free again afterwards


# ---------------------------------------------------------------------------- protocols
@pytest.mark.parametrize("version", ["v1-custom", "v2-quick-custom", "v3", "V1-color",
                                     "v1-quick-color-custom", "v9-quick"])
def test_names_the_tool_gives_itself_are_reserved(version, tmp_path):
    """Probe: a file calling itself v1-custom with sigma 10/255 was labelled 'protocol
    v1-custom'."""
    values = {**PROTOCOL_V1.as_dict(), "version": version, "sigma": 10 / 255}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ValueError, match="reserved"):
        get_protocol(path)


def test_the_tools_own_custom_variant_is_accepted(tmp_path):
    mine = custom_data(PROTOCOL_V1, tmp_path)
    assert get_protocol(mine) is mine and mine.version == "v1-custom"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(mine.as_dict()))
    assert get_protocol(path) == mine
    assert get_protocol(PROTOCOL_V1.derive("my-study", sigma=10 / 255)).version == "my-study"


@pytest.mark.parametrize("change", [{"steps": 2}, {"alpha": 0.001}, {"restarts": 3}])
def test_a_protocol_file_whose_fgsm_contradicts_its_kind_is_refused_at_load(change, tmp_path,
                                                                            cli):
    """Probe: an FGSM with ``steps: 2`` was accepted, then crashed on the first image."""
    values = PROTOCOL_V1.derive("mine").as_dict()
    fgsm = next(a for a in values["attacks"] if a["kind"] == "fgsm")
    fgsm.update(change)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(values))
    code, _, err = cli("benchmark", "--protocol", path, "--model", "zoo:dncnn-s25-normal",
                       "--out", tmp_path / "o", "--quiet")
    assert code == 2 and "fgsm" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------- rows
@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    model = DnCNN(depth=3, features=4).eval()
    out = tmp_path_factory.mktemp("rows")
    results = run_benchmark({"m": model}, out, PROTOCOL_V1_QUICK, reference=model,
                            max_images=1, progress=False, figures=False)
    return model, out, results


def _strict(text: str):
    """``text`` parsed as strict JSON (a bare NaN or Infinity raises)."""
    def refuse(name):
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


def _row_file(out):
    return next((out / "rows" / "m").glob("*.json"))


def test_row_files_are_strict_json_with_their_own_hash(bench):
    _, out, results = bench
    record = _strict(_row_file(out).read_text())
    assert len(record["sha256"]) == 64
    assert read_row_file(_row_file(out))["row"]["robust_psnr"] == \
        results["per_image"][0]["robust_psnr"]


def test_a_row_with_nan_ssim_reads_back_as_nan(tmp_path):
    path = write_row_file(tmp_path / "r.json", {"gaussian_ssim": math.nan, "x": 1.0}, 2.0)
    assert _strict(path.read_text())["row"]["gaussian_ssim"] is None
    assert math.isnan(read_row_file(path)["row"]["gaussian_ssim"])


@pytest.mark.parametrize("edit", [42.0, "NaN"])
def test_an_edited_row_is_computed_again_not_trusted(bench, edit, tmp_path):
    """Probes: a row edited to PSNR 42 showed up in results.json; one edited to NaN crashed
    the rerun."""
    model, out, results = bench
    path = _row_file(out)
    original = path.read_text()
    try:
        record = json.loads(original)
        record["row"]["robust_psnr"] = edit if edit != "NaN" else None
        path.write_text(json.dumps(record))
        with pytest.warns(UserWarning, match="not a verified row"):
            again = run_benchmark({"m": model}, out, PROTOCOL_V1_QUICK, reference=model,
                                  max_images=1, progress=False, figures=False)
        assert again["per_image"][0]["robust_psnr"] == results["per_image"][0]["robust_psnr"]
        assert read_row_file(path) is not None  # rewritten, verified
    finally:
        path.write_text(original)


def test_a_nan_that_reaches_the_statistics_names_its_row():
    with pytest.raises(ValueError, match=r"row m / a / seed 0: psnr\['pgd'\] is NaN"):
        check_row({"gaussian_psnr": 30.0, "psnr": {"pgd": math.nan}}, "m / a / seed 0")
    check_row({"gaussian_psnr": 30.0, "gaussian_ssim": math.nan}, "fine")  # SSIM may be NaN


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_with_no_attack_and_no_set_is_a_gaussian_table(tmp_path, checkpoint, folder,
                                                                 cli):
    """Probe: ``evaluate --attacks none`` alone exited 2 with 'rows must not be empty'."""
    code, out, err = cli("evaluate", "--model", checkpoint, "--data", folder, "--attacks",
                         "none", "--out", tmp_path / "o", "--quiet", "--device", "cpu")
    assert code == 0, err
    rows = json.loads((tmp_path / "o" / "report.json").read_text())["per_image"]
    assert {r["set"] for r in rows} == {"gaussian"} and len(rows) == 2
    noisy = rows[0]["psnr"]
    assert 0 < noisy < 60 and torch.isfinite(torch.tensor(noisy))


@pytest.mark.parametrize("field, value", [("steps", 10**9), ("restarts", 10**9)])
def test_a_protocol_file_with_endless_iterations_is_refused_at_load(field, value, tmp_path,
                                                                    cli):
    """Probe: a protocol with ``steps`` 1e9 ran without end; now refused before any work
    with a time estimate, through the one budget check."""
    values = PROTOCOL_V1.derive("mine").as_dict()
    pgd = next(a for a in values["attacks"] if a["kind"] == "pgd")
    pgd[field] = value
    path = tmp_path / "p.json"
    path.write_text(json.dumps(values))
    code, _, err = cli("benchmark", "--protocol", path, "--model", "zoo:dncnn-s25-normal",
                       "--out", tmp_path / "o", "--quiet")
    assert code == 2 and field in err and "would take at least" in err, err


def test_the_attack_command_refuses_endless_steps(tmp_path, checkpoint, folder, cli):
    """Probe: ``attack --steps 1000000000000`` ran without end."""
    code, _, err = cli("attack", "--model", checkpoint, "--input", folder, "--out",
                       tmp_path / "o", "--steps", 10**12, "--device", "cpu", "--quiet")
    assert code == 2 and "steps" in err and "would take at least" in err, err
    assert not (tmp_path / "o").exists()
