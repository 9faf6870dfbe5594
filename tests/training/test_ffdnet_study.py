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
                              "adversarial-s1", "control-s1"] and len(runs) == 30
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
    assert "none yet" in text and "has not run in this folder" in text
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
    # the mean and half its 95% t-interval: t(0.975, 1) * sd / sqrt(2) = 12.706 * 0.1 = 1.271
    assert lines[row + 1] == "     - 1,2" and "     - 1.100 ± 1.271" in lines[row:row + 16]
    assert (tmp_path / "ffdnet_study.rst").is_file() and not list(tmp_path.glob("docs"))
    data = json.loads((tmp_path / "ffdnet_study.json").read_text())["data"]
    assert data["normal"] == {"1": {"fixed_linf": 1.0}, "2": {"fixed_linf": 1.2}}


def _results(values):
    """A benchmark results.json of ``{spec: (gaussian, robust, gap)}``."""
    return {"models": {spec: {"spec": spec} for spec in values},
            "summary": {spec: {"gaussian_psnr": {"mean": g}, "robust_psnr": {"mean": r},
                               "gap": {"mean": gap}} for spec, (g, r, gap) in values.items()}}


def test_branches_are_compared_with_normal_by_welch_and_holm(study, tmp_path):
    from scipy import stats

    opts = study.parse(["--quick", "--out", str(tmp_path), "--lr", "1e-5", "--steps", "2",
                        "--seeds", "1", "2", "3"])
    gaps = {"normal": [2.00, 2.05, 1.95], "ts-def-t10": [1.90, 1.96, 1.93],
            "control": [1.60, 1.65, 1.62]}
    values = {}
    for branch, seeds in gaps.items():
        for seed, gap in enumerate(seeds, 1):
            folder = tmp_path / "train" / f"{branch}-s{seed}"
            (folder / "snapshots").mkdir(parents=True)
            (folder / "snapshots" / "step-2.pt").write_bytes(b"")
            values[str(folder / "model.pt")] = (31.8, 31.8 - gap, gap)
    bench = tmp_path / "eval" / "benchmark" / "results.json"
    bench.parent.mkdir(parents=True)
    bench.write_text(json.dumps(_results(values)))
    data = study.seed_values(opts)
    assert study._per_seed(data, "control", "v1_gap") == pytest.approx(gaps["control"])
    tests = study.comparisons(data)
    gap = tests["v1_gap"]
    for branch in ("ts-def-t10", "control"):
        welch = stats.ttest_ind(gaps[branch], gaps["normal"], equal_var=False)
        assert gap[branch]["p"] == pytest.approx(welch.pvalue)
        assert gap[branch]["diff"] == pytest.approx(sum(gaps[branch]) / 3 - 2.0)
    # one Holm family of 4 tests (gap and robust PSNR x 2 branches): the smallest p times 4
    ps = sorted(t["p"] for key in ("v1_gap", "v1_robust") for t in tests[key].values())
    assert min(t["p_holm"] for t in gap.values()) == pytest.approx(min(4 * ps[0], 1))
    text = study.reading(data)
    assert "the positive control (adversarial at 4/255) narrows the gap (-0.377 dB" in text
    assert "detects a difference of gap of" in text
    assert "TS-Def. T = 4406: fewer than two seeds, no test" in text


def test_committed_numbers_outlive_the_folder_and_are_not_measured_again(study, tmp_path,
                                                                          monkeypatch):
    opts = study.parse(["--quick", "--out", str(tmp_path), "--lr", "1e-5", "--steps", "2"])
    complete = dict.fromkeys(study.MEASURED, 1.0)
    study.write_json(study.data_file(opts), {
        "recipe": study.recipe_record(opts), "measure": None,
        "data": {"normal": {"1": complete},
                 "untouched": {"-": dict.fromkeys(study.BENCHMARK, 2.0)}}})
    trained, ran = [], []
    monkeypatch.setattr(study, "train_in_snapshots", lambda folder, *a: trained.append(folder))
    monkeypatch.setattr(study, "cli", lambda *args: ran.append([str(a) for a in args]))
    study.train(opts)  # normal-s1's every number is committed: not trained again
    assert [f.name for f in trained] == ["ts-def-t10-s1", "ts-def-t4406-s1", "mixed-26-s1",
                                         "adversarial-s1", "control-s1"]
    for run in ("normal-s1", "mixed-26-s1"):  # both on this machine
        (tmp_path / "train" / run / "snapshots").mkdir(parents=True)
        (tmp_path / "train" / run / "snapshots" / "step-2.pt").write_bytes(b"")
    opts.parts = ["benchmark"]
    study.evaluate(opts)  # only mixed-26-s1 lacks its protocol-v1 numbers
    assert len(ran) == 1 and ran[0][0] == "benchmark"
    assert ran[0][ran[0].index("--model") + 1:ran[0].index("--out")] == [
        str(tmp_path / "train" / "mixed-26-s1" / "model.pt")]
    fixed = tmp_path / "eval" / "mixed-26-s1" / "fixed" / "report.json"
    fixed.parent.mkdir(parents=True)
    fixed.write_text(json.dumps({"summary": [{"set": "set-l2", "psnr_drop": 0.5}]}))
    study.report(opts)  # the folder's numbers join the committed ones, which are kept
    data = json.loads(study.data_file(opts).read_text())["data"]
    assert data["normal"]["1"] == complete and data["mixed-26"]["1"] == {"fixed_l2": 0.5}
    assert data["untouched"]["-"] == dict.fromkeys(study.BENCHMARK, 2.0)
    other = study.parse(["--quick", "--out", str(tmp_path), "--lr", "3e-5", "--steps", "2"])
    assert study.committed(other) == {}  # another recipe's numbers are never mixed in
