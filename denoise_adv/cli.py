"""The ``denoise-adv`` command line.

Units: on the command line noise levels and budgets are in 8-bit levels (``--sigma 25`` means
25/255, ``--eps 2`` means 2/255 per pixel; for L2 the RMS per pixel). The Python API uses [0, 1]
units throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__
from ._io import atomic_open, atomic_write
from .report import write_csv

__all__ = ["build_parser", "main"]

LEVEL = 255.0


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"error: --device {name} requested but CUDA is not available")
    return torch.device(name)


def _positive_level(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


# ------------------------------------------------------------------------------------ attack
def _add_attack(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack",
        help="attack a denoiser with Denoising-PGD and save the adversarial noisy images",
        description="Add seeded Gaussian noise to each image, attack the denoiser with L-inf or "
        "L2 Denoising-PGD, write the adversarial noisy images (unclipped .pt and .npy, plus PNG "
        "previews) and print the PSNR of the denoised output before and after the attack. "
        "Levels are 8-bit: --sigma 25 means 25/255.",
    )
    p.add_argument("--model", required=True, help="checkpoint written by denoise-adv (.pt)")
    p.add_argument("--input", required=True,
                   help="image file, folder of images, builtin:NAME (e.g. builtin:camera), "
                   "builtin:test or builtin:train")
    p.add_argument("--sigma", type=_positive_level, default=25.0,
                   help="Gaussian noise level in 8-bit levels (default: 25)")
    p.add_argument("--norm", choices=("linf", "l2"), default="linf",
                   help="attack norm (default: linf)")
    p.add_argument("--eps", type=_positive_level, default=2.0,
                   help="budget in 8-bit levels per pixel; for l2 the RMS per pixel, so the "
                   "L2 radius is eps/255*sqrt(C*H*W) (default: 2)")
    p.add_argument("--alpha", type=_positive_level, default=None,
                   help="step size in the units of --eps (default: eps/4)")
    p.add_argument("--steps", type=int, default=10, help="attack steps (default: 10)")
    p.add_argument("--no-random-start", action="store_true", help="start from delta = 0")
    p.add_argument("--clip", action="store_true",
                   help="clip the adversarial image to [0, 1] (default: unclipped, as noisy "
                   "images are)")
    p.add_argument("--seed", type=int, default=0, help="seed of noise and random start")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_attack)


def _run_attack(args: argparse.Namespace) -> int:
    from .attacks import DenoisePGD, DenoisePGDL2
    from .data import iter_images, save_png
    from .metrics import psnr
    from .models import fixed_level_denoiser, load_checkpoint

    if args.steps < 1:
        raise SystemExit(f"error: --steps must be >= 1, got {args.steps}")
    if args.alpha is not None and args.alpha <= 0:
        raise SystemExit(f"error: --alpha must be > 0, got {args.alpha}")
    device = _device(args.device)
    model, meta = load_checkpoint(args.model, map_location=device)
    channels = getattr(model, "channels", 1)
    sigma, eps = args.sigma / LEVEL, args.eps / LEVEL
    model = fixed_level_denoiser(model, sigma)
    alpha = (args.alpha if args.alpha is not None else args.eps / 4) / LEVEL
    if alpha <= 0:
        raise SystemExit("error: --alpha must be > 0 (with --eps 0 give --alpha explicitly)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    start_generator = torch.Generator().manual_seed(args.seed + 1)
    common = dict(eps=eps, alpha=alpha, steps=args.steps, random_start=not args.no_random_start,
                  clip=(0.0, 1.0) if args.clip else None, generator=start_generator)
    if args.norm == "linf":
        attack = DenoisePGD(model, **common)
    else:
        attack = DenoisePGDL2(model, per_pixel=True, **common)

    rows = []
    images = list(iter_images(args.input, channels))
    for index, (name, image) in enumerate(tqdm(images, desc="attack", disable=args.quiet)):
        clean = image[None]
        noise_generator = torch.Generator().manual_seed(args.seed * 1_000_003 + index)
        noisy = clean + sigma * torch.randn(clean.shape, generator=noise_generator)
        clean, noisy = clean.to(device), noisy.to(device)
        adv = attack(noisy, clean)
        with torch.no_grad():
            den = model(noisy).clamp(0, 1)
            den_adv = model(adv).clamp(0, 1)
        delta = adv - noisy
        row = {
            "image": name,
            "psnr_noisy": psnr(noisy.clamp(0, 1), clean).item(),
            "psnr_denoised": psnr(den, clean).item(),
            "psnr_denoised_adv": psnr(den_adv, clean).item(),
        }
        row["drop"] = row["psnr_denoised"] - row["psnr_denoised_adv"]
        row["linf_delta"] = delta.abs().max().item() * LEVEL
        row["rms_delta"] = delta.pow(2).mean().sqrt().item() * LEVEL
        rows.append(row)
        adv_cpu = adv.detach().cpu()
        atomic_write(out / f"{name}_adv.pt", lambda f, t=adv_cpu: torch.save(t, f))
        atomic_write(out / f"{name}_adv.npy", lambda f, t=adv_cpu: np.save(f, t.numpy()))
        save_png(clean, out / f"{name}_clean.png")
        save_png(noisy, out / f"{name}_noisy.png")
        save_png(adv, out / f"{name}_adv.png")
        save_png(den, out / f"{name}_denoised.png")
        save_png(den_adv, out / f"{name}_denoised_adv.png")
        save_png(0.5 + delta / (2 * max(delta.abs().max().item(), 1e-12)),
                 out / f"{name}_perturbation.png")

    protocol = {
        "command": "attack", "model": str(args.model), "model_meta": meta,
        "input": str(args.input), "sigma": sigma, "noise_seed": args.seed,
        "attack": attack.params, "norm": args.norm, "device": str(device),
        "units": "[0, 1]; multiply by 255 for 8-bit levels",
    }
    write_csv(rows, out / "summary.csv")
    with atomic_open(out / "summary.json", "w") as f:
        json.dump({"protocol": protocol, "images": rows}, f, indent=2, default=str)

    header = f"{'image':<16}{'noisy':>9}{'denoised':>10}{'adv':>9}{'drop':>8}"
    print(f"Denoising-PGD {args.norm}, eps {args.eps:g}/255, {args.steps} steps, "
          f"sigma {args.sigma:g}/255 (PSNR in dB)")
    print(header)
    for r in rows:
        print(f"{r['image']:<16}{r['psnr_noisy']:>9.2f}{r['psnr_denoised']:>10.2f}"
              f"{r['psnr_denoised_adv']:>9.2f}{r['drop']:>8.2f}")
    if len(rows) > 1:
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
        print(f"{'mean':<16}{mean['psnr_noisy']:>9.2f}{mean['psnr_denoised']:>10.2f}"
              f"{mean['psnr_denoised_adv']:>9.2f}{mean['drop']:>8.2f}")
    print(f"wrote {len(rows)} adversarial image(s) and summary.csv/json to {out}")
    return 0


# ------------------------------------------------------------------------------------- train
def _levels(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text}") from exc


def _add_train(sub: argparse._SubParsersAction) -> None:
    from .models import MODELS
    from .train import STRATEGIES

    p = sub.add_parser(
        "train",
        help="train a denoiser with a sampling strategy (normal, TS, mixed, blind, adversarial)",
        description="Train a denoiser on DnCNN-style patches with the noise of a strategy; "
        "writes OUT/model.pt (the model), OUT/checkpoint.pt (to --resume), OUT/log.csv and "
        "OUT/log.json. Defaults are DnCNN's recipe (Adam 1e-3, MultiStepLR x0.1 at epoch 30, "
        "batch 128 of 40x40 patches, sigma 25, 50 epochs). Levels are 8-bit: --sigma 25 means "
        "25/255. Runs under torchrun --nproc_per_node N with DistributedDataParallel. "
        "--config FILE (JSON or TOML, keys = option names) sets defaults that options override.",
    )
    p.add_argument("--config", help="JSON or TOML file of option values")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--model", choices=sorted(MODELS), default="dncnn", help="(default: dncnn)")
    p.add_argument("--model-kwargs", default="{}", help='JSON constructor arguments, e.g. '
                   '\'{"depth": 8, "features": 32}\'')
    p.add_argument("--depth", type=int, help="shortcut for model_kwargs depth")
    p.add_argument("--features", type=int, help="shortcut for model_kwargs features")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1, help="(default: 1)")
    p.add_argument("--strategy", choices=STRATEGIES, default="normal", help="(default: normal)")
    p.add_argument("--sigma", type=_positive_level, default=25.0,
                   help="noise level in 8-bit levels (default: 25)")
    p.add_argument("--data", default="builtin:train",
                   help="folder of clean images, an image, or builtin:train (default)")
    p.add_argument("--val-data", default="builtin:test",
                   help="validation images, or 'none' (default: builtin:test)")
    p.add_argument("--val-crop", type=int, default=128,
                   help="centre crop of validation images, 0 for none (default: 128)")
    p.add_argument("--patch-size", type=int, default=40, help="(default: 40)")
    p.add_argument("--stride", type=int, default=10, help="(default: 10)")
    p.add_argument("--scales", type=_levels, default=(1.0, 0.9, 0.8, 0.7),
                   help="comma-separated rescaling factors (default: 1,0.9,0.8,0.7)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="global batch size (default: 128)")
    p.add_argument("--epochs", type=int, default=50, help="(default: 50)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="(default: adam)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    p.add_argument("--milestones", type=_levels, default=(30,),
                   help="epochs where the learning rate is multiplied by --gamma (default: 30)")
    p.add_argument("--gamma", type=float, default=0.1, help="(default: 0.1)")
    p.add_argument("--ts-iterations", type=float, default=10, help="TS T (default: 10)")
    p.add_argument("--ts-method", choices=("exact", "screening"), default="exact")
    p.add_argument("--blind-range", type=_levels, default=(0.0, 55.0),
                   help="blind strategy: sigma range in 8-bit levels (default: 0,55)")
    p.add_argument("--adv-norm", choices=("linf", "l2"), default="linf",
                   help="adversarial strategy: attack norm (default: linf)")
    p.add_argument("--adv-eps", type=_positive_level, default=2.0,
                   help="adversarial strategy: budget, 8-bit levels per pixel (default: 2)")
    p.add_argument("--adv-alpha", type=_positive_level, default=0.5,
                   help="adversarial strategy: step, 8-bit levels (default: 0.5)")
    p.add_argument("--adv-steps", type=int, default=3,
                   help="adversarial strategy: attack steps (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="also checkpoint every N steps (default: 0, epoch ends only)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--amp", choices=("bf16",), default=None, help="bf16 autocast")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_train)


def _config_file(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file not found: {file}")
    text = file.read_text()
    try:
        if file.suffix.lower() == ".toml":
            import tomllib

            return tomllib.loads(text)
        return json.loads(text)
    except Exception as exc:
        raise ValueError(f"cannot parse config file {file}: {exc}") from exc


def _run_train(args: argparse.Namespace) -> int:
    from .training import TrainConfig, train

    try:  # a config file may give a table; the command line gives JSON text
        kwargs = (dict(args.model_kwargs) if isinstance(args.model_kwargs, dict)
                  else json.loads(args.model_kwargs))
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --model-kwargs must be JSON: {exc}") from exc
    if not isinstance(kwargs, dict):
        raise SystemExit("error: --model-kwargs must be a JSON object")
    for name in ("depth", "features"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if len(args.blind_range) != 2:
        raise SystemExit("error: --blind-range needs two levels, low,high")
    config = TrainConfig(
        out=args.out, model=args.model, model_kwargs=kwargs, channels=args.channels,
        strategy=args.strategy, sigma=args.sigma / LEVEL, data=args.data,
        val_data=None if str(args.val_data).lower() == "none" else args.val_data,
        val_crop=args.val_crop or None, patch_size=args.patch_size, stride=args.stride,
        scales=tuple(args.scales), batch_size=args.batch_size, epochs=args.epochs,
        max_steps=args.steps, optimizer=args.optimizer, lr=args.lr,
        milestones=tuple(int(m) for m in args.milestones), gamma=args.gamma,
        ts_iterations=args.ts_iterations, ts_method=args.ts_method,
        blind_range=(args.blind_range[0] / LEVEL, args.blind_range[1] / LEVEL),
        adv_norm=args.adv_norm, adv_eps=args.adv_eps / LEVEL, adv_alpha=args.adv_alpha / LEVEL,
        adv_steps=args.adv_steps, seed=args.seed, checkpoint_every=args.checkpoint_every,
        workers=args.workers, device=args.device, amp=args.amp,
        channels_last=args.channels_last, progress=not args.quiet)
    result = train(config, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        last = result["epochs"][-1] if result["epochs"] else {}
        val = f"; validation PSNR {last['val_psnr']:.3f} dB" if "val_psnr" in last else ""
        print(f"trained {args.model} ({args.strategy}) for {result['steps']} steps; final MSE "
              f"{result['final_loss']:.6f}{val}; wrote {Path(args.out) / 'model.pt'}")
    return 0


# ----------------------------------------------------------------------------------- typical
def _add_typical(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "typical",
        help="typical-set bounds, volumes, TS shifts, and the log-likelihood histograms",
        description="Print the section-3.4 quantities (typical-set bounds, probabilities, "
        "volumes, perturbed sets, TS shifts and the T covering an attack budget) for one patch "
        "size, and write histograms of the per-component negative log-likelihood of Gaussian, "
        "TS, mixed and perturbed noise (Fig. 9-10). Levels are 8-bit: --sigma 25 means 25/255; "
        "--eps-l2 is the RMS per pixel (radius eps/255*sqrt(d)).",
    )
    p.add_argument("--sigma", type=_positive_level, default=25.0,
                   help="noise level in 8-bit levels (default: 25)")
    p.add_argument("--patch", type=int, default=40, help="patch side (default: 40)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1, help="(default: 1)")
    p.add_argument("--eps", type=float, default=0.05,
                   help="typical-set width eps, a plain number (default: 0.05)")
    p.add_argument("--eps-linf", type=_positive_level, default=2.0,
                   help="L-inf budget in 8-bit levels (default: 2)")
    p.add_argument("--eps-l2", type=_positive_level, default=2.0,
                   help="L2 budget, RMS per pixel in 8-bit levels (default: 2)")
    p.add_argument("--iterations", default="1,10,100",
                   help="comma-separated TS iterations T to show (default: 1,10,100)")
    p.add_argument("--samples", type=int, default=4000,
                   help="noise samples per histogram (default: 4000)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_run_typical)


def _run_typical(args: argparse.Namespace) -> int:
    import math

    from .analysis import nll_samples, plot_nll_histograms, typical_set_rows
    from .report import format_table, write_markdown
    from .typical import entropy

    try:
        iterations = [float(t) for t in args.iterations.split(",") if t.strip()]
    except ValueError as exc:
        raise SystemExit(f"error: --iterations must be comma-separated numbers: {exc}") from exc
    if args.patch < 1 or args.samples < 2:
        raise SystemExit("error: --patch must be >= 1 and --samples >= 2")
    if args.sigma <= 0:
        raise SystemExit("error: --sigma must be > 0")
    d = args.channels * args.patch**2
    sigma, eta_linf = args.sigma / LEVEL, args.eps_linf / LEVEL
    eta_l2 = args.eps_l2 / LEVEL * math.sqrt(d)
    rows = typical_set_rows(d, sigma, args.eps, eta_linf, eta_l2, iterations)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shape = (args.samples, args.channels, args.patch, args.patch)
    samples = nll_samples(shape, sigma, eta_linf, eta_l2, iterations,
                          generator=torch.Generator().manual_seed(args.seed))
    h = entropy(sigma)
    stats = [{"noise": name, "mean NLL": v.mean().item(), "std NLL": v.std().item(),
              "mean e(n)": v.mean().item() - h} for name, v in samples.items()]
    title = (f"Typical sets: sigma {args.sigma:g}/255, d = {d} "
             f"({args.patch}x{args.patch}x{args.channels})")
    print(title)
    print(format_table(rows))
    print()
    print(format_table(stats, ".5f"))
    figure = plot_nll_histograms(samples, sigma, out / "typical_nll.png", title)
    write_markdown(rows, out / "typical.md", title=title)
    write_csv(stats, out / "typical_samples.csv")
    print(f"wrote {figure}, typical.md and typical_samples.csv to {out}")
    return 0


# -------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``denoise-adv`` (one subcommand per job)."""
    parser = argparse.ArgumentParser(
        prog="denoise-adv",
        description="Adversarial attacks on deep image denoisers and their defence by "
        "Typical-Set Sampling. Noise levels and budgets are in 8-bit levels (25 = 25/255).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_attack(sub)
    _add_train(sub)
    _add_typical(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``denoise-adv``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        # Values from the file become defaults; options on the command line still win.
        try:
            values = _config_file(args.config)
        except (FileNotFoundError, ValueError) as exc:
            print(f"denoise-adv {args.command}: error: {exc}", file=sys.stderr)
            return 2
        sub = parser._subparsers._group_actions[0].choices[args.command]
        known = {a.dest for a in sub._actions}
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            print(f"denoise-adv {args.command}: error: unknown option(s) in {args.config}: "
                  f"{unknown}", file=sys.stderr)
            return 2
        for key in ("scales", "milestones", "blind_range"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        for action in sub._actions:
            if action.dest in values:
                action.required = False
        sub.set_defaults(**values)
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"denoise-adv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
