"""Is TS a defence? The study of the "TS study" issue, on the zoo's architecture and recipe.

Every model is a 1000-step branch (lr 1e-4, batch 64, ``--amp auto`` + channels_last) of the
zoo's stage-1 DnCNN (``runs/zoo/base``, 9000 steps of Gaussian training, see
``tools/train_zoo.sh``); branches differ only in the noise of their last 1000 steps and
in their seed:

- ``normal`` (the control), ``ts-def`` at T = 10, at T covering the *measured* PGD shift (stage
  ``shift`` below) and at T = 4406 (covers the largest shift an L-inf 2/255 budget can cause on
  40x40 patches), ``mixed-26``, and ``adversarial`` (L-inf PGD, 3 steps, eps 2/255: the positive
  control), each with seeds 1 and 2 (seed 1 of normal / ts-def T=10 / mixed-26 / adversarial
  are the shipped zoo runs themselves, ``runs/zoo/NAME``);
- the transfer source is independent of all of them: the same architecture trained from
  scratch with seed 7 (1000 steps at lr 1e-3), sharing no weights and no seed.

Per model (``builtin:test``, six 256x256 images, noise seed 0): Gaussian PSNR at sigma 25 and
26.6, the off-shell penalty against NL-means (``denoise-adv anatomy``), the white-box L-inf
and per-pixel L2 Denoising-PGD drops (2/255, 10 steps) split into radial and orthogonal parts,
and the fixed-set drops on Set-Adv made on the source (``make-adv`` + ``evaluate``); attacks
craft under ``--amp auto``, bf16 where native (on the zoo's normal model, protocol v1's mean
gap was 1.7368 dB crafted in bf16 and 1.7389 dB in float32). The table
(mean over seeds with the spread) goes to ``docs/_generated/ts_study.rst``.

Resumable (finished trainings, evaluations and sets are kept); ``--stage eval`` may run beside
the training stage (it evaluates the models trained so far). About 1.5 hours on two CPU cores:

    python experiments/ts_study.py [--out runs/study] [--stage all|shift|train|eval|table]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from denoise_adv.files import atomic_open, read_json, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from _common import cli  # noqa: E402  (tools/_common.py: the shared helpers)

LEVEL = 255.0
ZOO = Path("runs/zoo")
DOCS_TABLE = Path(__file__).parents[1] / "docs" / "_generated" / "ts_study.rst"
COMMON = ["--model", "dncnn", "--depth", "10", "--features", "32", "--sigma", "25",
          "--data", "builtin:train", "--batch-size", "64", "--amp", "auto", "--channels-last",
          "--checkpoint-every", "250", "--quiet"]
BRANCH = ["--init", str(ZOO / "base" / "model.pt"), "--steps", "1000", "--lr", "1e-4",
          "--milestones", "1000"]
ADVERSARIAL = ["--adv-norm", "linf", "--adv-eps", "2", "--adv-alpha", "1", "--adv-steps", "3"]
SEEDS = (1, 2)
#: Zoo runs that are seed 1 of a study model (same recipe, same seed).
FROM_ZOO = {"normal": "normal", "ts-def-t10": "ts-def", "mixed-26": "mixed-26",
            "adversarial": "adversarial"}
#: Single models evaluated beside the study: the branches' common start (an earlier point of
#: the same training) and the zoo's ts-pres branch (seed 1 only).
EXTRA = {"base (9000 steps, before branching)": ZOO / "base" / "model.pt",
         "ts-pres (seed 1 only)": ZOO / "ts-pres" / "model.pt"}


def _patches(x: torch.Tensor) -> torch.Tensor:
    """The non-overlapping 40x40 patches of a (1, 1, H, W) image as rows of 1600 values."""
    return x.unfold(2, 40, 40).unfold(3, 40, 40).reshape(-1, 1600)


def measured_shift(out: Path) -> dict:
    """The AEP shift e(n + delta) - e(n) of L-inf PGD (2/255, 10 steps) on the zoo's normal
    model over the 40x40 patches of builtin:test, and the T "covering" it: the T whose TS
    noise shifts as far as 95% of the patches do (the mean shift is already T = 10's)."""
    path = out / "shift.json"
    if path.is_file():
        return read_json(path)
    from denoise_adv.analysis import attack_generator, load_dataset, noisy_image
    from denoise_adv.attacks import AttackSpec
    from denoise_adv.models import pretrained
    from denoise_adv.typical import aep_deviation, ts_expected_shift, ts_iterations_for

    model, sigma, shifts = pretrained("dncnn-s25-normal"), 25 / LEVEL, []
    for name, clean in load_dataset("builtin:test"):
        clean = clean[None]
        noisy = noisy_image(clean, sigma, 0, name)
        adv = AttackSpec("linf").build(model, attack_generator(0, name, "linf"))(noisy, clean)
        shifts.append(aep_deviation(_patches(adv - clean), sigma)
                      - aep_deviation(_patches(noisy - clean), sigma))
    shift = torch.cat(shifts)
    mean, q95 = float(shift.mean()), float(torch.quantile(shift, 0.95))
    result = {"mean_shift": mean, "sd_shift": float(shift.std()), "q95_shift": q95,
              "patches": shift.numel(), "t_mean": ts_iterations_for(1600, mean),
              "t_cover": math.ceil(ts_iterations_for(1600, q95)),
              "ts_shift_t10": ts_expected_shift(1600, 10),
              "ts_shift_t4406": ts_expected_shift(1600, 4406)}
    write_json(path, result, indent=1)
    return result


def models(shift: dict) -> dict[str, list[str]]:
    """``{study name: training arguments}`` of every strategy (seed added later)."""
    ts = ["--strategy", "ts-def", "--ts-iterations"]
    return {"normal": ["--strategy", "normal"], "ts-def-t10": [*ts, "10"],
            f"ts-def-t{shift['t_cover']}": [*ts, str(shift["t_cover"])],
            "ts-def-t4406": [*ts, "4406"], "mixed-26": ["--strategy", "mixed-26"],
            "adversarial": ["--strategy", "adversarial", *ADVERSARIAL]}


def checkpoint(out: Path, name: str, seed: int) -> Path:
    if seed == 1 and name in FROM_ZOO:
        return ZOO / FROM_ZOO[name] / "model.pt"
    return out / "train" / f"{name}-s{seed}" / "model.pt"


def train(out: Path, shift: dict, only: list[str] | None = None) -> None:
    """The source, then every (strategy, seed) branch not trained yet (resuming started ones);
    ``only``: these runs (``NAME-sSEED``) alone, e.g. to train two at once."""
    runs = {"source-s7": (["--strategy", "normal", "--steps", "1000", "--lr", "1e-3",
                           "--milestones", "1000", "--seed", "7"], out / "train" / "source-s7")}
    for seed in SEEDS:
        for name, args in models(shift).items():
            path = checkpoint(out, name, seed)
            runs[f"{name}-s{seed}"] = ([*args, *BRANCH, "--seed", str(seed)], path.parent)
    for run_name, (args, folder) in runs.items():
        if (folder / "model.pt").is_file() or (only and run_name not in only):
            continue
        resume = ["--resume"] if (folder / "checkpoint.pt").is_file() else []
        cli("train", "--out", str(folder), *COMMON, *args, *resume)


def evaluate(out: Path, shift: dict) -> None:
    """Anatomy (white-box drops split radial/orthogonal, Gaussian PSNR at 25 and 26.6, the
    off-shell penalty) and the fixed-set drops of every model."""
    source = out / "train" / "source-s7" / "model.pt"
    sets = []
    for norm in ("linf", "l2"):
        path = out / "sets" / f"set-{norm}.pt"
        if not path.is_file():
            cli("make-adv", "--model", str(source), "--norm", norm, "--out", str(path),
                "--amp", "auto", "--quiet")
        sets.append(str(path))
    todo = {f"{name}-s{seed}": checkpoint(out, name, seed) for seed in SEEDS
            for name in models(shift)}
    todo |= {eval_name(label): path for label, path in EXTRA.items()}
    for name, model in todo.items():
        if not model.is_file():  # (an eval stage run beside the training stage)
            print(f"{name}: not trained yet", flush=True)
            continue
        folder = out / "eval" / name
        if not (folder / "anatomy" / "report.json").is_file():
            cli("anatomy", "--model", str(model), "--sigmas", "25,26.6", "--scales",
                "0.04,0.08", "--amp", "auto", "--out", str(folder / "anatomy"), "--quiet")
        if not (folder / "fixed" / "report.json").is_file():
            cli("evaluate", "--model", str(model), "--attacks", "none", "--adv-set", *sets,
                "--out", str(folder / "fixed"), "--quiet")


def eval_name(label: str) -> str:
    """The evaluation folder of an extra model: its label's first word."""
    return label.split()[0]


def model_row(folder: Path) -> dict[str, float]:
    """The study's numbers of one evaluated model."""
    anatomy = read_json(folder / "anatomy" / "report.json")
    fixed = read_json(folder / "fixed" / "report.json")["summary"]
    sweep = {round(r["sigma"] * LEVEL, 1): r["psnr"]
             for r in anatomy["noise_level"]["sweep_mean"]}
    row = {"psnr_25": sweep[25.0], "psnr_26.6": sweep[26.6],
           "penalty_0.08": next(r["penalty"] for r in anatomy["noise_level"]["off_shell_mean"]
                                if abs(r["scale"] - 0.08) < 1e-9)}
    for r in anatomy["anatomy"]["summary"]:
        for part in ("full", "radial", "orthogonal"):
            row[f"wb_{r['attack']}_{part}"] = r[f"drop_{part}"]
    for r in fixed:
        if r["set"] != "gaussian":
            row[f"fixed_{r['set'].removeprefix('set-')}"] = r["psnr_drop"]
    return row


def table(out: Path, shift: dict) -> list[dict]:
    """Mean and spread (max - min) over seeds per strategy; writes the docs table."""
    rows = []
    for name in models(shift):
        per_seed = [model_row(out / "eval" / f"{name}-s{seed}") for seed in SEEDS]
        row = {"model": name}
        for key in per_seed[0]:
            values = [r[key] for r in per_seed]
            row[key] = (sum(values) / len(values), max(values) - min(values))
        rows.append(row)
    for label in EXTRA:
        single = model_row(out / "eval" / eval_name(label))
        rows.append({"model": label, **{k: (v, None) for k, v in single.items()}})
    write_rst(rows, shift)
    return rows


COLUMNS = [("psnr_25", "PSNR σ25"), ("psnr_26.6", "PSNR σ26.6"),
           ("penalty_0.08", "off-shell penalty s=0.08"),
           ("wb_linf_full", "white-box L∞ drop"), ("wb_linf_radial", "radial"),
           ("wb_linf_orthogonal", "orthogonal"), ("wb_l2_full", "white-box L2 drop"),
           ("wb_l2_radial", "radial"), ("wb_l2_orthogonal", "orthogonal"),
           ("fixed_linf", "fixed-set L∞ drop"), ("fixed_l2", "fixed-set L2 drop")]


def write_rst(rows: list[dict], shift: dict) -> None:
    lines = [".. generated by experiments/ts_study.py; do not edit", "",
             ".. list-table:: dB; mean over seeds 1 and 2 ± half their range (the last two "
             "rows: one model each)",
             "   :header-rows: 1", "", "   * - model"]
    lines += [f"     - {title}" for _, title in COLUMNS]
    for row in rows:
        lines.append(f"   * - {row['model']}")
        lines += [f"     - {row[key][0]:.3f}" + ("" if row[key][1] is None else
                                               f" ± {row[key][1] / 2:.3f}") for key, _ in COLUMNS]
    lines += ["", f"Measured AEP shift of L∞ 2/255 PGD (zoo normal model, {shift['patches']} "
              f"40x40 patches of builtin:test): mean {shift['mean_shift']:.4f} (TS at T = "
              f"{shift['t_mean']:.1f}), 95th percentile {shift['q95_shift']:.4f} (T = "
              f"{shift['t_cover']}, the covering T); TS shifts: T=10 "
              f"{shift['ts_shift_t10']:.4f}, T=4406 {shift['ts_shift_t4406']:.4f}.", ""]
    with atomic_open(DOCS_TABLE, "w") as f:
        f.write("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/study", type=Path, help="study folder")
    parser.add_argument("--stage", default="all",
                        choices=("all", "shift", "train", "eval", "table"))
    parser.add_argument("--only", nargs="+", help="train only these runs (NAME-sSEED)")
    args = parser.parse_args()
    if not (ZOO / "base" / "model.pt").is_file():
        parser.error(f"{ZOO}/base/model.pt is missing: run tools/train_zoo.sh first")
    shift = measured_shift(args.out)
    print(json.dumps(shift), flush=True)
    if args.stage in ("all", "train"):
        train(args.out, shift, args.only)
    if args.stage in ("all", "eval"):
        evaluate(args.out, shift)
    if args.stage in ("all", "table"):
        for row in table(args.out, shift):
            print(row["model"], {k: round(v[0], 3) for k, v in row.items() if k != "model"},
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
