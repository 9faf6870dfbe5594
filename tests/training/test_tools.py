"""tools/ (the generators of package data and docs) and experiments/ (the studies): every script
parses its ``--help``, each generator's cheap path runs (its page from committed or tiny
inputs), the shared helpers of ``tools/_common.py`` are the only copies, and no script imports
a private module or the command line."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import EXPERIMENTS, ROOT, TOOLS, load_script

GENERATORS = sorted(p.name for p in TOOLS.glob("*.py") if not p.name.startswith("_"))
STUDIES = sorted(p.name for p in EXPERIMENTS.glob("*.py"))
SCRIPTS = [f"tools/{n}" for n in GENERATORS] + [f"experiments/{n}" for n in STUDIES]
GENERATED = ROOT / "docs" / "_generated"


def test_the_split():
    """Generators in tools/, studies in experiments/ (docs/layout.rst says which is which)."""
    assert GENERATORS == ["benchmark_budgets.py", "benchmark_v2_budget.py", "benchmark_zoo.py",
                          "compare_rows.py", "export_zoo.py", "measure_locality.py",
                          "measure_published.py", "side_by_side.py", "transfer_study.py"]
    assert {"ffdnet_study.py", "ts_study.py", "deadleaves.py"} <= set(STUDIES)
    assert (TOOLS / "train_zoo.sh").is_file() and not set(GENERATORS) & set(STUDIES)


@pytest.mark.parametrize("path", SCRIPTS)
def test_every_script_parses_its_help(path, monkeypatch, capsys):
    module = load_script(path)
    monkeypatch.setattr(sys, "argv", [path, "--help"])
    with pytest.raises(SystemExit) as exit_:
        module.main()
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ")


def test_train_zoo_script_parses():
    subprocess.run(["bash", "-n", str(TOOLS / "train_zoo.sh")], check=True)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("path", SCRIPTS + ["tools/_common.py"])
def test_no_private_module_and_no_command_line_import(path):
    """The scripts stay on the public side: no ``denoise_adv._x`` module (``denoise_adv.files``
    is the public face of the atomic writes and strict JSON), and the command line only through
    ``tools/_common.cli`` (a subprocess), never imported."""
    bad = sorted(m for m in _imports(ROOT / path) if m.startswith("denoise_adv.") and (
        any(part.startswith("_") for part in m.split(".")[1:]) or m.startswith("denoise_adv.cli")))
    assert not bad, f"{path} imports {bad}"


def test_shared_helpers_are_written_once():
    defined = {}
    for path in [*TOOLS.glob("*.py"), *EXPERIMENTS.glob("*.py")]:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and (node.name == "cli"
                                                      or node.name.startswith("read_json")):
                defined.setdefault(node.name, []).append(path.relative_to(ROOT).as_posix())
    assert defined == {"cli": ["tools/_common.py"], "read_json_or_none": ["tools/_common.py"]}


# ---------------------------------------------------------------------- the shared helpers
@pytest.fixture(scope="module")
def common():
    return load_script("tools/_common.py")


def test_cli_runs_the_command_line_in_a_subprocess(common, monkeypatch, capsys):
    calls = []

    def run(argv, check):
        calls.append((argv, check))
        return subprocess.CompletedProcess(argv, 3)

    monkeypatch.setattr(common.subprocess, "run", run)
    assert common.cli("train", "--out", Path("runs/x"), "--steps", 5, check=False) == 3
    assert calls == [([sys.executable, "-m", "denoise_adv", "train", "--out",
                       str(Path("runs/x")), "--steps", "5"], False)]
    assert capsys.readouterr().out == f"+ denoise-adv train --out {Path('runs/x')} --steps 5\n"


@pytest.mark.slow
def test_cli_for_real(common, capfd):
    """One real run (a subprocess importing torch: seconds): the command line answers."""
    with pytest.raises(subprocess.CalledProcessError) as error:
        common.cli("no-such-command")  # check=True: a failure stops the script
    assert error.value.returncode == 2 and "usage: denoise-adv" in capfd.readouterr().err


def test_read_json_or_none(common, tmp_path):
    from denoise_adv.files import write_json

    assert common.read_json_or_none(tmp_path / "missing.json") is None
    (tmp_path / "bare.json").write_text('{"psnr": NaN}')  # not strict JSON: unreadable
    assert common.read_json_or_none(tmp_path / "bare.json") is None
    value = common.read_json_or_none(write_json(tmp_path / "r.json", {"psnr": [1.0, math.inf]}))
    assert value == {"psnr": [1.0, math.inf]}


def test_files_is_the_public_face_of_the_atomic_writes():
    import denoise_adv._io as private
    import denoise_adv.files as files

    for name in files.__all__:
        assert getattr(files, name) is getattr(private, name)


# ------------------------------------------------------------- each generator's cheap path
def test_export_zoo_table_is_the_committed_page():
    tool = load_script("tools/export_zoo.py")
    manifest = json.loads((tool.ZOO_DIR / "manifest.json").read_text())
    assert tool.zoo_table(manifest) == (GENERATED / "zoo_table.rst").read_text()


def test_measure_published_table_is_the_committed_page():
    tool = load_script("tools/measure_published.py")
    record = json.loads(Path(tool.RECORD).read_text())
    assert tool.table(record) == (GENERATED / "published_table.rst").read_text()


def test_side_by_side_writes_its_page(monkeypatch, tmp_path, capsys):
    tool = load_script("tools/side_by_side.py")
    monkeypatch.setattr(tool, "DOCS", tmp_path)  # the studies' pages are still the committed
    assert tool.main([]) == 0
    text = (tmp_path / "side_by_side.rst").read_text(encoding="utf-8")
    assert text == tool.page() and text.startswith(".. generated by tools/side_by_side.py")
    assert capsys.readouterr().out == text + "\n"


def test_measure_locality_distance_is_the_chebyshev_distance_to_the_square():
    tool = load_script("tools/measure_locality.py")
    distance = tool.distance_to_square(7, 2, 3)  # the square is rows and columns 2..4
    assert distance[2:5, 2:5].eq(0).all()
    assert distance[0, 0] == 2 and distance[3, 6] == 2 and distance[6, 0] == 2
    assert distance[1, 3] == 1 and distance[5, 5] == 1


def test_measure_locality_finds_a_convolutions_reach_and_a_global_statistic():
    """A stack of three 3x3 convolutions reaches exactly 3 px and nothing beyond; a model
    that subtracts the image's mean moves every pixel, so its reach is the farthest one and
    a declared radius of 3 is visibly wrong."""
    tool = load_script("tools/measure_locality.py")
    torch.manual_seed(0)
    convs = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    noisy = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        output = convs(noisy)
        assert tool.reach(convs, noisy, output, 4, 3) == [4, 3, "0.0e+00", 0]
        assert tool.reach(convs, noisy, output, 4, 2)[3] == 10 * 10 - 8 * 8  # the ring at 3
        assert tool.reach(convs, noisy, output, 4, 14)[2:] == ["--", 0]  # nothing beyond 14

        def centred(x):
            return x - x.mean()

        side, farthest, largest, count = tool.reach(centred, noisy, centred(noisy), 4, 3)
    assert farthest == 14 and float(largest) > 0 and count == 32 * 32 - 10 * 10


def test_measure_locality_refuses_a_side_outside_the_image(capsys):
    tool = load_script("tools/measure_locality.py")
    for side in ("0", "256"):
        with pytest.raises(SystemExit) as exit_:
            tool.main(["--sides", "10", side, "--no-bm3d"])
        assert exit_.value.code == 2
        assert "--sides: each side must be between 1 and 255" in capsys.readouterr().err


def test_measure_locality_prices_a_whole_square_row_from_the_protocol(monkeypatch):
    tool = load_script("tools/measure_locality.py")
    clock = iter([0.0, 0.3, 1.0, 1.2])  # two forwards: 0.3 s and 0.2 s; the best counts
    monkeypatch.setattr(tool.time, "perf_counter", lambda: next(clock))
    line = tool.square_queries_cost(lambda x: x, torch.zeros(1, 1, 4, 4))
    # 1000 queries at each of v2's six Square budgets, at 0.2 s
    assert line.startswith("its v2 row, run whole, costs at least 6000 Square queries x 0.2 s")
    assert line.endswith("= 0.3 hours")


@pytest.mark.parametrize(("protocol", "bm3d"), [("v1", True), ("v2", False),
                                                ("v1-color", True)])
def test_benchmark_zoo_runs_the_benchmark_command(protocol, bm3d, monkeypatch, tmp_path):
    tool = load_script("tools/benchmark_zoo.py")
    calls = []
    monkeypatch.setattr(tool, "cli", lambda *a, check: calls.append((a, check)) or 5)
    monkeypatch.setattr(sys, "argv", ["benchmark_zoo.py", "--protocol", protocol, "--out",
                                      str(tmp_path), "--quick"])
    assert tool.main() == 5  # the command's exit status
    (argv, check), = calls
    assert not check and argv[0] == "benchmark" and argv[-1] == "--quick"
    models = argv[argv.index("--model") + 1:argv.index("--protocol")]
    assert ("bm3d" in models) is bm3d and models[-1] == "nlmeans"
    assert argv[argv.index("--docs") + 1] == str(GENERATED / tool.PAGES[protocol])
    assert argv[argv.index("--out") + 1] == str(tmp_path)


def test_benchmark_zoo_runs_a_restoration_board(monkeypatch, tmp_path):
    tool = load_script("tools/benchmark_zoo.py")
    calls = []
    monkeypatch.setattr(tool, "cli", lambda *a, check: calls.append(a) or 0)
    monkeypatch.setattr(sys, "argv", ["benchmark_zoo.py", "--task", "sr2", "--out",
                                      str(tmp_path)])
    assert tool.main() == 0
    (argv,) = calls
    models = argv[argv.index("--model") + 1:argv.index("--protocol")]
    assert models[0] == "zoo:ffdnet-ipol-gray" and models[-1] == "baseline"
    assert "zoo:dncnn-s25-ts-def" in models and "bm3d" not in models
    assert argv[argv.index("--task") + 1] == "sr2"
    assert argv[argv.index("--docs") + 1] == str(GENERATED / "leaderboard_sr2.rst")
    monkeypatch.setattr(sys, "argv", ["benchmark_zoo.py", "--task", "sr2", "--protocol", "v2"])
    with pytest.raises(SystemExit):
        tool.main()


def _v1_results(version: str = "v1") -> dict:
    drops = {f"{k}-{n}-{b}": 0.1 * b for k in ("pgd", "random") for n in ("linf", "l2")
             for b in (1, 2, 4)}
    drops.update({"pgd-linf-2-s20": 0.5, "obsatk-2": 0.4, "fgsm-2": 0.3})
    classical = {f"{k}-{n}-{b}": 0.01 * b for k in ("transfer", "random")
                 for n in ("linf", "l2") for b in (2, 4)}
    return {"protocol": {"version": version}, "images": ["a", "b"],
            "summary": {"dncnn-s25-normal": {"attack_drop": drops,
                                             "gaussian_psnr": {"mean": 30.25}},
                        "nlmeans": {"attack_drop": classical},
                        "bm3d": {"attack_drop": classical}}}


def test_benchmark_budgets_page(monkeypatch, tmp_path):
    tool = load_script("tools/benchmark_budgets.py")
    results = _v1_results()
    text = tool.render(results, {"pgd-linf-2": (0.2, 0.21, 0.03)})
    lines = text.splitlines()
    assert lines[0].startswith("Mean PSNR drops (dB) over v1's 2 images") and "30.25" in lines[0]
    assert "PGD L-inf (alpha eps/4, 10 steps)  0.100    0.200    0.400" in lines
    assert "NL-means: transfer L-inf           --       0.020    0.040" in lines
    assert "ObsAtk 0.400" in text and "0.200 from one start, 0.210 from the better of two" in text
    path = tmp_path / "results.json"  # another protocol's results are refused before any work
    path.write_text(json.dumps(_v1_results("v2")))
    monkeypatch.setattr(sys, "argv", ["benchmark_budgets.py", "--results", str(path)])
    with pytest.raises(SystemExit, match="holds protocol v2, not v1"):
        tool.main()


def test_benchmark_v2_budget_additions_page(tmp_path, monkeypatch):
    tool = load_script("tools/benchmark_v2_budget.py")
    attacks = [{"name": f"{k}-linf-{b}", "kind": k, "eps": b / 255}
               for k in ("pgd", "apgd", "square") for b in (2, 4)]
    per_image = [{"model": "m", "image": i, "psnr": {
        "pgd-linf-2": 29.0, "apgd-linf-2": 28.5, "square-linf-2": 28.8, "pgd-linf-4": 27.0,
        "apgd-linf-4": 26.0 + i, "square-linf-4": 26.5}} for i in (0, 1)]
    results = {"protocol": {"version": "v2", "attacks": attacks}, "per_image": per_image}
    cell = tool.additions(results)["m"]
    assert (cell[2]["v1"], cell[2]["apgd"], cell[2]["square"]) == (29.0, 28.5, 28.5)
    assert cell[4]["apgd"] == pytest.approx(26.5) and cell[4]["square"] == pytest.approx(26.25)
    assert cell[4]["strongest"] == {"apgd": 1, "square": 1}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    text = tool.additions_page(path)
    assert text.startswith(".. Generated by tools/benchmark_v2_budget.py --part additions")
    assert "26.250 (-0.250)" in text
    with pytest.raises(SystemExit, match="cannot read"):
        tool.additions_page(tmp_path / "missing.json")
    monkeypatch.setattr(tool, "DOCS", tmp_path / "docs")  # each board's page by its name
    (tmp_path / "docs").mkdir()
    monkeypatch.setattr(sys, "argv", ["benchmark_v2_budget.py", "--part", "additions",
                                      "--results", str(path), "--page", "crops.rst"])
    tool.main()
    assert (tmp_path / "docs" / "crops.rst").read_text() == tool.additions_page(path,
                                                                               "crops.rst")
    assert text.splitlines()[0] == (  # the header names the command that writes the page
        f".. Generated by tools/benchmark_v2_budget.py --part additions --results {path} "
        "--page v2_additions.rst; do not edit.")
    attacks.append({"name": "new-2", "kind": "new", "eps": 2 / 255})
    with pytest.raises(SystemExit, match="no family"):
        tool.additions(results)


def test_transfer_study_tables_and_resume(tmp_path):
    tool = load_script("tools/transfer_study.py")
    names = ["ffdnet-ipol-gray", "dncnn", "nlmeans"]
    sources = names[:2]
    result = {"names": names, "sources": sources,
              "drop": {"ffdnet-ipol-gray": {"ffdnet-ipol-gray": 1.4, "dncnn": 0.9,
                                            "nlmeans": 0.2},
                       "dncnn": {"ffdnet-ipol-gray": 1.1, "dncnn": 1.2, "nlmeans": 0.3}},
              "baseline": {n: 0.05 for n in names},
              "clean_psnr": {n: 30.0 for n in names}}
    tool.write_json(tmp_path / "transfer_linf.json", result)
    denoisers = dict.fromkeys(names)  # the names match: the finished norm is read back
    assert tool.run("linf", tmp_path, denoisers) == result
    text = tool.table({"linf": result})
    assert text.startswith(".. Generated by tools/transfer_study.py")
    assert "     - **1.40**" in text and "   * - random (same size)" in text
    assert tool.summary({"linf": result}) == (
        "- linf: ffdnet-ipol-gray loses 1.40 dB to its own (white-box) attack and 1.10-1.10 "
        "dB (79%-79% of that) to attacks crafted on the zoo's DnCNNs, against 0.05 dB for "
        "random noise of the same size; its own attacks cost the DnCNNs 0.90-0.90 dB; "
        "nlmeans loses 0.20-0.30 dB (random: 0.05).\n")


# ------------------------------------------------------------------- compare_rows (a check)
def _results_folder(root: Path, psnr: float, seconds: float, means: dict | None = None,
                    rows: tuple[str, ...] = ("a-s0", "b-s0")) -> Path:
    """A fake results folder: rows of one model ``m`` (as the runner writes them: the row
    under ``"row"`` and its time under ``"seconds"``) and, with ``means``, a results.json."""
    from denoise_adv.files import write_json

    for image in rows:
        row = {"model": "m", "image": image[:-3], "gaussian_psnr": 30.0, "gaussian_ssim":
               math.nan, "psnr": {"pgd-linf-2": psnr, "random-linf-2": 29.5},
               "worst_attack": "pgd-linf-2", "loss_increased": {"pgd-linf-2": True}}
        write_json(root / "rows" / "m" / f"{image}.json", {"row": row, "seconds": seconds})
    if means is not None:
        write_json(root / "results.json", {"summary": {"m": means}, "timing": {"m": seconds}})
    return root


def test_compare_rows_equal_folders_differ_only_in_timing(tmp_path, capsys):
    tool = load_script("tools/compare_rows.py")
    means = {"robust_psnr": {"mean": 28.0, "low": 27.0, "high": 29.0},
             "attack_psnr": {"pgd-linf-2": 28.0}, "rank": 1}
    old = _results_folder(tmp_path / "old", 28.0, 1.5, means)
    new = _results_folder(tmp_path / "new", 28.0, 9.0,  # other intervals and rank: not means
                          {**means, "robust_psnr": {"mean": 28.0, "low": 1.0}, "rank": 2})
    found = tool.compare(old, new)
    assert all(c.equal for c in found)  # NaN SSIM equals NaN; seconds and timing left out
    assert not any("seconds" in c.field or "timing" in c.field for c in found)
    assert {c.field for c in found if c.image == tool.MEANS} == {"robust_psnr[mean]",
                                                                "attack_psnr[pgd-linf-2]"}
    assert tool.main([str(old), str(new)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["model", "image", "field", "old", "new", "equal"]
    assert out[-1] == "18 values (2 rows and results.json's means): 18 equal, 0 different " \
                      "(0 missing on one side)"


def test_compare_rows_lists_each_difference(tmp_path, capsys):
    tool = load_script("tools/compare_rows.py")
    old = _results_folder(tmp_path / "old", 28.0, 1.0, {"gap": {"mean": 2.0}})
    new = _results_folder(tmp_path / "new", 28.0 + 1e-9, 1.0, {"gap": {"mean": 2.0 + 1e-9}},
                          rows=("a-s0", "c-s0"))
    assert tool.main([str(old), str(new), "--differences"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["m", "a-s0", "psnr[pgd-linf-2]", "28.0", "28.000000001", "False"]
    assert sum(" (missing) " in line for line in out) == 16  # b-s0 old only, c-s0 new only
    assert out[-1].startswith("25 values (3 rows and results.json's means): 7 equal, 18 "
                              "different (16 missing on one side); fields that differ: ")
    assert tool.main([str(old), str(new), "--tolerance", "1e-6"]) == 1  # the missing rows
    assert all(c.equal for c in tool.compare(old, new, 1e-6) if tool.MISSING not in c[3:5])
    with pytest.raises(ValueError, match="tolerance must be a number >= 0"):
        tool.compare(old, new, -1.0)
    with pytest.raises(SystemExit, match="2"):
        tool.main([str(old), str(tmp_path / "nothing")])
    assert "holds no rows/ folder" in capsys.readouterr().err
