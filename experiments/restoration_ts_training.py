"""Training a restoration network with TS noise through deepinv's ``Trainer`` (issue 32 (d)).

A worked example of :class:`denoise_adv.integrations.deepinv.TSNoiseModel` in deepinv's own
training idiom: the TS-Def. idea (paper section 4.2, Gaussian:TS = 1:1) applied to a
restoration network instead of a denoiser.

What is trained, twice from the same seed (same initial weights, same patches in the same
order, same physics), the two runs differing only in the measurement noise:

- the network: deepinv's ``ArtifactRemoval(mode="adjoint")`` around a small DnCNN
  (:class:`denoise_adv.models.DnCNN`, ``--depth`` x ``--features``, BatchNorm), i.e.
  ``x_hat = A^T y - r(A^T y)``;
- the task: deblurring, ``make_physics("deblur", patch)`` (``BlurFFT``, Gaussian kernel of
  standard deviation 1.6, circular boundary), measurement noise ``--sigma`` (default 0.01, the
  level of every task of :mod:`denoise_adv.restoration` and of ``experiments/restoration_study``);
- the data: ``--patch`` x ``--patch`` clean patches of ``builtin:train``
  (:class:`denoise_adv.data.PatchDataset`, scales 1 to 0.7, flips/rotations), drawn by a
  seeded sampler, batch ``--batch-size``; ``--steps`` Adam steps over ``--epochs`` epochs (lr
  ``--lr``, divided by 10 for the last epoch), ``SupLoss`` (MSE), ``online_measurements=True``:
  ``y = physics(x)`` at each step;
- the noise: ``dinv.physics.GaussianNoise(sigma)`` for the control, and
  ``TSNoiseModel.ts_def(sigma, iterations=--ts-iterations)`` for the TS run (each sample's noise
  is TS with probability 1/2, else Gaussian).

Each run records the AEP deviation ``e(n) = (|n|^2 / (d sigma^2) - 1) / 2`` of every training
sample's noise (``y - A(x)``): Gaussian noise has mean 0, TS-Def. noise
``p * ts_expected_shift(d, T)``, so the record shows which noise each network was trained on.

Evaluation, on the centre ``--size`` crops of the six ``builtin:test`` images (never trained
on): one measurement ``y`` per image (the physics' Gaussian noise, seeded), PSNR of x-hat, and
the drop under L-inf PGD on ``y`` (2/255, ``--attack-steps`` steps, step eps/4, random start,
seeded) through :class:`denoise_adv.restoration.Restorer`; 95% t-intervals over the images
(:func:`~denoise_adv.stats.mean_interval`) and paired intervals of TS minus Gaussian
(:func:`~denoise_adv.stats.paired_interval`).

Writes ``OUT/restoration_ts_training.json`` (settings, records, every per-image number) and
``OUT/restoration_ts_training.rst`` (the table), atomically; OUT is ``docs/_generated``. Not
resumable: cheap enough not to need it (a full run, both trainings and the evaluation, takes
a few CPU-minutes on one thread). Run::

    OMP_NUM_THREADS=1 python experiments/restoration_ts_training.py [--steps 400] [--epochs 4]
        [--out docs/_generated] [--quiet]
    python experiments/restoration_ts_training.py --quick --out /tmp/ts   # seconds
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import deepinv as dinv
import torch
from tqdm import tqdm

from denoise_adv import DenoisePGD
from denoise_adv.data import PatchDataset, center_crop
from denoise_adv.evaluation import load_dataset
from denoise_adv.files import atomic_open, write_json
from denoise_adv.integrations.deepinv import TSNoiseModel, as_deepinv_denoiser
from denoise_adv.metrics import psnr
from denoise_adv.models import DnCNN
from denoise_adv.report import rst_list_table
from denoise_adv.restoration import DEFAULT_NOISE, Restorer, make_physics
from denoise_adv.stats import mean_interval, paired_interval
from denoise_adv.typical import aep_deviation, ts_expected_shift

TASK = "deblur"
EPS = 2 / 255
RUNS = ("gaussian", "ts-def")
QUICK = {"steps": 8, "epochs": 2, "batch_size": 8, "depth": 3, "features": 8, "size": 32,
         "attack_steps": 2}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The options (``--quick`` replaces the sizes by :data:`QUICK`'s).

    Example:
        >>> opts = parse(["--quick"])
        >>> opts.steps, opts.epochs, opts.patch, opts.sigma
        (8, 2, 40, 0.01)
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--steps", type=int, default=400, help="gradient steps of each run, all epochs")
    add("--epochs", type=int, default=4, help="epochs (steps must be a multiple)")
    add("--batch-size", type=int, default=16)
    add("--patch", type=int, default=40, help="training patch side")
    add("--depth", type=int, default=8, help="DnCNN convolution layers")
    add("--features", type=int, default=32, help="DnCNN hidden channels")
    add("--lr", type=float, default=1e-3, help="Adam learning rate")
    add("--sigma", type=float, default=DEFAULT_NOISE, help="measurement noise, [0, 1] units")
    add("--ts-iterations", type=float, default=10, help="T of TS noise")
    add("--size", type=int, default=128, help="evaluation crop side")
    add("--attack-steps", type=int, default=10, help="PGD steps of the evaluation")
    add("--seed", type=int, default=0)
    add("--threads", type=int, default=1, help="torch threads")
    add("--out", type=Path, default=Path("docs/_generated"))
    add("--quick", action="store_true", help="a tiny network and run (seconds)")
    add("--quiet", action="store_true", help="no progress bar")
    opts = parser.parse_args(argv)
    if opts.quick:
        vars(opts).update(QUICK)
    if opts.steps < opts.epochs or opts.steps % opts.epochs:
        parser.error(f"--steps ({opts.steps}) must be a multiple of --epochs ({opts.epochs})")
    return opts


class CleanPatches(torch.utils.data.Dataset):
    """Clean patches of ``builtin:train`` as deepinv's datasets give them: ``{"x": patch}``."""

    def __init__(self, patch: int, seed: int) -> None:
        images = [image for _, image in load_dataset("builtin:train")]
        self.patches = PatchDataset(images, patch_size=patch, stride=patch // 2, seed=seed)

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.patches[i]}


def train_loader(opts: argparse.Namespace) -> torch.utils.data.DataLoader:
    """``steps / epochs`` batches an epoch, drawn by a sampler seeded with ``--seed`` (each
    run makes its own loader: both see the same patches in the same order)."""
    per_epoch = opts.steps // opts.epochs * opts.batch_size
    sampler = torch.utils.data.RandomSampler(
        CleanPatches(opts.patch, opts.seed), num_samples=per_epoch,
        generator=torch.Generator().manual_seed(opts.seed))
    return torch.utils.data.DataLoader(sampler.data_source, batch_size=opts.batch_size,
                                       sampler=sampler)


def make_model(opts: argparse.Namespace) -> dinv.models.ArtifactRemoval:
    """The network, initialised from ``--seed``: ArtifactRemoval around a small DnCNN."""
    torch.manual_seed(opts.seed)
    net = DnCNN(depth=opts.depth, features=opts.features)
    net.sigma = opts.sigma  # the level it is trained for: the adapter then has nothing to warn
    return dinv.models.ArtifactRemoval(as_deepinv_denoiser(net), mode="adjoint")


def noise_model(run: str, opts: argparse.Namespace) -> dinv.physics.NoiseModel:
    """The run's noise: deepinv's Gaussian, or TS-Def. at the same level; seeded.

    Example:
        >>> noise_model("ts-def", parse([]))
        TSNoiseModel(sigma=0.009999999776482582, iterations=10.0, p=0.5, method='exact')
    """
    rng = torch.Generator().manual_seed(opts.seed)
    if run == "gaussian":
        return dinv.physics.GaussianNoise(opts.sigma, rng=rng)
    return TSNoiseModel.ts_def(opts.sigma, iterations=opts.ts_iterations, rng=rng)


def digest(tensors: Any) -> str:
    """sha256 of tensors' bytes, in order (a state dict's values, batches).

    Example:
        >>> digest([torch.zeros(2)]) == digest([torch.zeros(2)]) != digest([torch.ones(2)])
        True
    """
    sha = hashlib.sha256()
    for tensor in tensors:
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


class RecordingTrainer(dinv.Trainer):
    """deepinv's ``Trainer``, recording each training batch: the AEP deviation of every
    sample's noise ``y - A(x)``, a digest of the clean batches, and a tick of ``bar`` (set it
    after construction; ``None``: no bar)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.aep: list[float] = []
        self.data = hashlib.sha256()
        self.bar: Any = None

    def get_samples_online(self, iterators: list, g: int
                           ) -> tuple[torch.Tensor, torch.Tensor, dinv.physics.Physics]:
        """deepinv's ``(x, y, physics)`` of one step, recorded on the way."""
        x, y, physics = super().get_samples_online(iterators, g)
        with torch.no_grad():
            noise = (y - physics.A(x)).flatten(1)
        self.aep += aep_deviation(noise, float(physics.noise_model.sigma)).tolist()
        self.data.update(x.detach().cpu().contiguous().numpy().tobytes())
        if self.bar is not None:
            self.bar.update()
        return x, y, physics


def expected_aep(noise: dinv.physics.NoiseModel, d: int) -> float:
    """The mean AEP deviation of the noise: 0 for Gaussian, ``p * shift(d, T)`` for TS.

    Example:
        >>> round(expected_aep(TSNoiseModel.ts_def(0.01), 1600), 4)  # shift(1600, 10) / 2
        0.0142
    """
    if not isinstance(noise, TSNoiseModel):
        return 0.0
    return noise.p * ts_expected_shift(d, noise.iterations)


def train_run(run: str, opts: argparse.Namespace, bar: Any = None
              ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train one network through deepinv's ``Trainer``; returns it and its record."""
    model = make_model(opts)
    init = digest(model.state_dict().values())
    physics = make_physics(TASK, opts.patch, noise=opts.sigma)
    physics.set_noise_model(noise_model(run, opts))
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [opts.epochs - 1], gamma=0.1)
    if bar is not None:
        bar.set_description(run)
    trainer = RecordingTrainer(
        model=model, physics=physics, optimizer=optimizer, train_dataloader=train_loader(opts),
        epochs=opts.epochs, losses=dinv.loss.SupLoss(), scheduler=scheduler,
        online_measurements=True, metrics=None, compute_train_metrics=False, device="cpu",
        save_path=None, verbose=False, show_progress_bar=False, non_blocking_transfers=False)
    trainer.bar = bar
    start = time.perf_counter()
    trainer.train()
    d = opts.patch ** 2
    aep = torch.tensor(trainer.aep, dtype=torch.float64)
    return model, {
        "noise_model": repr(physics.noise_model), "noise_type": type(physics.noise_model).__name__,
        "init_sha256": init, "data_sha256": trainer.data.hexdigest(),
        "final_sha256": digest(model.state_dict().values()),
        "steps": len(trainer.aep) // opts.batch_size, "samples": len(trainer.aep),
        "aep": {"mean": float(aep.mean()), "sd": float(aep.std()), "min": float(aep.min()),
                "max": float(aep.max()), "expected": expected_aep(physics.noise_model, d),
                "gaussian_sd": 1 / math.sqrt(2 * d),
                "first_batch": trainer.aep[:opts.batch_size]},  # to replay the noise model
        "loss_per_epoch": [float(v) for v in trainer.loss_history["SupLoss"]],
        "seconds": time.perf_counter() - start}


def crops(size: int) -> tuple[list[str], torch.Tensor]:
    """Names and centre ``size`` x ``size`` crops (N, 1, size, size) of builtin:test."""
    images = load_dataset("builtin:test")
    return [name for name, _ in images], torch.stack([center_crop(im, size) for _, im in images])


def scores(restorer: torch.nn.Module, y: torch.Tensor, clean: torch.Tensor) -> list[float]:
    """Per-image PSNR of the estimate, clamped to [0, 1]."""
    with torch.no_grad():
        return psnr(restorer(y).clamp(0, 1), clean).tolist()


def evaluate(models: dict[str, torch.nn.Module], opts: argparse.Namespace) -> dict[str, Any]:
    """Every per-image number: PSNR of x-hat, attacked PSNR, drop, largest change of y."""
    names, clean = crops(opts.size)
    physics = make_physics(TASK, opts.size, noise=opts.sigma)
    restorers = {run: Restorer(model, physics) for run, model in models.items()}
    y = next(iter(restorers.values())).measure(clean, seed=opts.seed)  # one y for both nets
    out: dict[str, Any] = {"images": names, "runs": {}, "adjoint_psnr": psnr(
        physics.A_adjoint(y).clamp(0, 1), clean).tolist()}
    for run, restorer in restorers.items():
        attack = DenoisePGD(restorer, eps=EPS, alpha=EPS / 4, steps=opts.attack_steps,
                            generator=torch.Generator().manual_seed(opts.seed))
        adv = attack(y, clean)
        before, after = scores(restorer, y, clean), scores(restorer, adv, clean)
        out["runs"][run] = {"psnr": before, "attacked_psnr": after,
                            "drop": [b - a for b, a in zip(before, after)],
                            "max_delta": float((adv - y).abs().max())}
    return out


def interval(values: list[float]) -> dict[str, float]:
    """Mean of ``values`` over images and its 95% t-interval."""
    low, high = mean_interval(values)
    return {"mean": sum(values) / len(values), "low": low, "high": high}


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean of ``a - b`` over images and its 95% paired t-interval.

    Example:
        >>> {k: round(v, 3) for k, v in paired([30.1, 31.4, 29.0], [30.0, 31.0, 29.2]).items()}
        {'mean': 0.1, 'low': -0.645, 'high': 0.845}
    """
    low, high = paired_interval(a, b)
    return {"mean": sum(x - y for x, y in zip(a, b)) / len(a), "low": low, "high": high}


def summarize(evaluation: dict[str, Any]) -> dict[str, Any]:
    """Per run: PSNR and drop with t-intervals; TS-Def. minus Gaussian, paired."""
    runs = evaluation["runs"]
    out: dict[str, Any] = {run: {k: interval(v[k]) for k in ("psnr", "drop")}
                           for run, v in runs.items()}
    out["ts-def - gaussian"] = {k: paired(runs["ts-def"][k], runs["gaussian"][k])
                                for k in ("psnr", "drop")}
    return out


def settings(opts: argparse.Namespace, model: torch.nn.Module) -> dict[str, Any]:
    """Exactly what was trained and measured, in words and numbers."""
    per_epoch = opts.steps // opts.epochs
    return {
        "task": f"{TASK}: BlurFFT, Gaussian kernel std 1.6 px, circular boundary; "
                f"measurement noise sigma {opts.sigma:g}",
        "network": f"deepinv ArtifactRemoval(mode='adjoint') around DnCNN(depth={opts.depth}, "
                   f"features={opts.features}, BatchNorm), x_hat = A^T y - r(A^T y)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": f"{opts.patch}x{opts.patch} clean patches of builtin:train (PatchDataset, "
                f"stride {opts.patch // 2}, scales 1-0.7, flips/rotations), seeded sampler",
        "training": f"deepinv Trainer, SupLoss (MSE), online_measurements=True, Adam lr "
                    f"{opts.lr:g} (x0.1 for the last epoch), batch {opts.batch_size}, "
                    f"{opts.epochs} epochs x {per_epoch} steps = {opts.steps} steps, seed "
                    f"{opts.seed}, CPU",
        "noise": {"gaussian": f"dinv.physics.GaussianNoise({opts.sigma:g})",
                  "ts-def": f"TSNoiseModel.ts_def({opts.sigma:g}, iterations="
                            f"{opts.ts_iterations:g})"},
        "evaluation": f"centre {opts.size}x{opts.size} crops of the 6 builtin:test images, one "
                      f"measurement each (Gaussian noise {opts.sigma:g}, seed {opts.seed}); "
                      f"L-inf PGD-{opts.attack_steps} on y, eps 2/255, step eps/4, random start",
        "options": {k: str(v) for k, v in sorted(vars(opts).items())}}


def cell(value: dict[str, float]) -> str:
    """``mean [low, high]`` in dB, two decimals."""
    return f"{value['mean']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"


def verdict(value: dict[str, float], above: str, below: str) -> str:
    """How an interval falls: above 0, below 0, or containing 0.

    Example:
        >>> verdict({"mean": 0.1, "low": -0.2, "high": 0.4}, "more", "less")
        'not distinguishable at this size (the interval contains 0)'
    """
    if value["low"] > 0:
        return above
    return below if value["high"] < 0 else "not distinguishable at this size (the interval " \
                                            "contains 0)"


def report(result: dict[str, Any]) -> str:
    """The rst of ``docs/_generated/restoration_ts_training.rst``."""
    s, training, summary = result["settings"], result["training"], result["summary"]
    evaluation = result["evaluation"]
    lines = [".. generated by experiments/restoration_ts_training.py; do not edit", "",
             f"Trained twice from one seed, differing only in the noise: {s['network']} "
             f"({s['parameters']} parameters); {s['task']}; {s['data']}; {s['training']}. "
             "TS-Def.: each sample's noise is TS (the least likely of T + 1 Gaussian draws) "
             "with probability 1/2, else Gaussian.", ""]
    rows = [[run, f"``{s['noise'][run]}``", f"{r['steps']} x {r['samples'] // r['steps']}",
             f"{r['loss_per_epoch'][-1]:.2e}",
             f"{r['aep']['mean']:.4f} (expected {r['aep']['expected']:.4f})",
             f"{r['seconds']:.0f}"] for run, r in training.items()]
    lines += rst_list_table(
        "Training: the noise each network saw (AEP deviation e(n) of every training sample's "
        f"noise; Gaussian: mean 0, sd {training['gaussian']['aep']['gaussian_sd']:.4f} a "
        "sample)", ["run", "noise model", "steps x batch", "last epoch's MSE",
                    "mean e(n)", "seconds (wall, shared CPU)"], rows)
    adjoint = sum(evaluation["adjoint_psnr"]) / len(evaluation["adjoint_psnr"])
    rows = [[run, cell(summary[run]["psnr"]), cell(summary[run]["drop"]),
             f"{evaluation['runs'][run]['max_delta'] * 255:.3f}/255"] for run in RUNS]
    diff = summary["ts-def - gaussian"]
    rows.append(["ts-def - gaussian (paired)", cell(diff["psnr"]), cell(diff["drop"]), ""])
    lines += rst_list_table(
        f"Evaluation: {s['evaluation']}; dB, mean [95% t-interval over the images]; A^T y "
        f"alone: {adjoint:.2f} dB", ["run", "PSNR x-hat", "PGD drop", "largest change of y"],
        rows)
    lines += [f"Reading (generated from the paired intervals): TS-Def. minus Gaussian, PSNR "
              f"{cell(diff['psnr'])} dB: "
              f"{verdict(diff['psnr'], 'TS-Def. restores better', 'TS-Def. costs PSNR')}; "
              f"PGD drop {cell(diff['drop'])} dB: "
              f"{verdict(diff['drop'], 'TS-Def. more fragile', 'TS-Def. more robust')}. "
              "One network per noise: the intervals are over the images only and leave out "
              "the seed-to-seed spread of training, so they compare these two networks, not "
              "the two noises in general.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train both networks, evaluate them, write the JSON and the table; returns the JSON."""
    opts = parse(argv)
    torch.set_num_threads(opts.threads)
    bar = tqdm(total=len(RUNS) * opts.steps, disable=opts.quiet, unit="step")
    models, training = {}, {}
    for run in RUNS:
        models[run], training[run] = train_run(run, opts, bar)
    bar.close()
    result = {"settings": settings(opts, models["gaussian"]), "training": training}
    result["evaluation"] = evaluate(models, opts)
    result["summary"] = summarize(result["evaluation"])
    text = report(result)
    opts.out.mkdir(parents=True, exist_ok=True)
    write_json(opts.out / "restoration_ts_training.json", result)
    with atomic_open(opts.out / "restoration_ts_training.rst", "w") as f:
        f.write(text)
    if not opts.quiet:
        print(text)
    return result


if __name__ == "__main__":
    main()
