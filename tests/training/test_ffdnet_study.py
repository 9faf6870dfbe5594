"""experiments/ffdnet_study.py without training: the recipe's choice, the runs, and a report
made from whatever has finished (the full smoke run, ``--quick``, takes minutes: by hand)."""

import json

import pytest
from conftest import load_experiment


@pytest.fixture(scope="module")
def study():
    return load_experiment("ffdnet_study")


def test_snapshots_and_the_choice_of_learning_rate(study):
    assert study.snapshot_steps(250, 100) == [100, 200, 250]
    table = {"1e-05": {"100": {"psnr_change": 0.01}, "200": {"psnr_change": -0.015}},
             "0.0001": {"100": {"psnr_change": -0.3}}}
    assert study.choose(table, 0.02) == {"lr": 1e-5, "steps": 200, "psnr_change": -0.015,
                                         "within_tolerance": True}
    worse = {"1e-05": {"100": {"psnr_change": -0.05}}, "0.0001": {"100": {"psnr_change": -0.3}}}
    assert study.choose(worse, 0.02) == {"lr": 1e-5, "steps": 100, "psnr_change": -0.05,
                                         "within_tolerance": False}


def test_runs_share_the_recipe_and_the_control_is_stronger(study, tmp_path):
    opts = study.parse(["--out", str(tmp_path), "--lr", "3e-5", "--steps", "300"])
    runs = study.study_runs(opts)
    assert list(runs)[:6] == ["normal-s1", "ts-def-t10-s1", "ts-def-t4406-s1", "mixed-26-s1",
                              "adversarial-s1", "control-s1"] and len(runs) == 12
    assert {steps for name, (_, steps) in runs.items() if not name.startswith("control")} == {300}
    args, steps = runs["control-s2"]  # twice the evaluation's 2/255 ball, alpha eps/2
    assert steps == 300 and args[args.index("--adv-eps") + 1] == "4"
    assert args[args.index("--adv-alpha") + 1] == "2" and args[args.index("--adv-steps") + 1] == "3"
    branch = runs["adversarial-s2"][0]
    assert branch[branch.index("--adv-eps") + 1] == "2"
    assert args[args.index("--seed") + 1] == "2" and args[args.index("--lr") + 1] == "3e-05"
    assert "--freeze-batchnorm" in study.recipe(opts) and study.SOURCE in study.recipe(opts)


def test_report_from_partial_results(study, tmp_path):
    opts = study.parse(["--quick", "--out", str(tmp_path), "--lr", "1e-5", "--steps", "2",
                        "--seeds", "1", "2"])
    text = study.report(opts).read_text()  # nothing has run: every cell says so
    assert "none yet" in text and "has not run yet" in text
    for seed, drop in ((1, 1.0), (2, 1.2)):  # two seeds of normal, fixed-set results only
        folder = tmp_path / "train" / f"normal-s{seed}"
        (folder / "snapshots").mkdir(parents=True)
        (folder / "snapshots" / "step-2.pt").write_bytes(b"")
        fixed = tmp_path / "eval" / f"normal-s{seed}" / "fixed" / "report.json"
        fixed.parent.mkdir(parents=True)
        fixed.write_text(json.dumps({"summary": [{"set": "gaussian", "psnr_drop": 0.0},
                                                 {"set": "set-linf", "psnr_drop": drop}]}))
    lines = study.report(opts).read_text().splitlines()
    row = lines.index("   * - normal")
    assert lines[row + 1] == "     - 1,2" and "     - 1.100 ± 0.100" in lines[row:row + 16]
    assert (tmp_path / "ffdnet_study.rst").is_file() and not list(tmp_path.glob("docs"))


def test_matched_psnr_reads_branches_off_the_normal_line(study, tmp_path):
    opts = study.parse(["--quick", "--out", str(tmp_path), "--lr", "1e-5", "--steps", "2",
                        "--seeds", "1", "2"])
    curves = tmp_path / "curves"
    curves.mkdir(parents=True)
    # normal fine-tunes on the line drop = 1 + 0.1 * psnr, but for +-0.01 of noise
    on_line = {str(i): {"psnr": 30.0 + i, "drop_linf": 1 + 0.1 * (30.0 + i) + 0.01 * (-1) ** i}
               for i in range(1, 5)}
    (curves / "measure-lr-1e-05.json").write_text(json.dumps(on_line))
    (curves / "untouched.json").write_text(json.dumps({"psnr": 30.0, "drop_linf": 4.0}))
    line = study.normal_line(opts)
    assert line["b"] == pytest.approx(0.1, abs=0.01) and line["points"] == 5
    assert line["sd"] == pytest.approx(0.011, abs=0.003)
    for name, drop in (("ts-def-t10-s1", 3.5), ("ts-def-t10-s2", 3.7)):
        (tmp_path / "train" / name / "snapshots").mkdir(parents=True)
        (tmp_path / "train" / name / "snapshots" / "step-2.pt").write_bytes(b"")
        (curves / f"{name}.json").write_text(json.dumps({  # run of 2 steps: 1 and 2 count
            "1": {"psnr": 33.0, "drop_linf": 4.3 + drop - 4.0}, "2": {"psnr": 30.0,
                                                                     "drop_linf": drop}}))
    away = study.off_line(opts, {"a": 1.0, "b": 0.1})  # the second half's mean, per seed
    assert away == {"ts-def-t10": [pytest.approx(-0.5), pytest.approx(-0.3)]}
    assert study._verdict((-0.4, 0.1, 2), "x") == (
        "x narrows it by -0.400 dB (beyond the seed spread, the two half-ranges summed: 0.100)")
    assert "within" in study._verdict((0.05, 0.1, 2), "x")
    assert "one seed" in study._verdict((-0.4, 0.0, 1), "x")
