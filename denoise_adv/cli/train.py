"""``denoise-adv train``: train a denoiser with a sampling strategy."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .common import LEVEL, levels, positive_level


def add(sub: argparse._SubParsersAction) -> None:
    from ..models import MODELS
    from ..train import STRATEGIES

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
    p.add_argument("--init", default=None,
                   help="start from the weights of this model checkpoint (fine-tuning)")
    p.add_argument("--depth", type=int, help="shortcut for model_kwargs depth")
    p.add_argument("--features", type=int, help="shortcut for model_kwargs features")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1, help="(default: 1)")
    p.add_argument("--strategy", choices=STRATEGIES, default="normal", help="(default: normal)")
    p.add_argument("--sigma", type=positive_level, default=25.0,
                   help="noise level in 8-bit levels (default: 25)")
    p.add_argument("--data", default="builtin:train",
                   help="folder of clean images, an image, or builtin:train (default)")
    p.add_argument("--val-data", default="builtin:test",
                   help="validation images, or 'none' (default: builtin:test)")
    p.add_argument("--val-crop", type=int, default=128,
                   help="centre crop of validation images, 0 for none (default: 128)")
    p.add_argument("--patch-size", type=int, default=40, help="(default: 40)")
    p.add_argument("--stride", type=int, default=10, help="(default: 10)")
    p.add_argument("--scales", type=levels, default=(1.0, 0.9, 0.8, 0.7),
                   help="comma-separated rescaling factors (default: 1,0.9,0.8,0.7)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="global batch size (default: 128)")
    p.add_argument("--epochs", type=int, default=50, help="(default: 50)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="(default: adam)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    p.add_argument("--milestones", type=levels, default=(30,),
                   help="epochs where the learning rate is multiplied by --gamma (default: 30)")
    p.add_argument("--gamma", type=float, default=0.1, help="(default: 0.1)")
    p.add_argument("--ts-iterations", type=float, default=10, help="TS T (default: 10)")
    p.add_argument("--ts-method", choices=("exact", "screening"), default="exact")
    p.add_argument("--blind-range", type=levels, default=(0.0, 55.0),
                   help="blind strategy: sigma range in 8-bit levels (default: 0,55)")
    p.add_argument("--adv-norm", choices=("linf", "l2"), default="linf",
                   help="adversarial strategy: attack norm (default: linf)")
    p.add_argument("--adv-eps", type=positive_level, default=2.0,
                   help="adversarial strategy: budget, 8-bit levels per pixel (default: 2)")
    p.add_argument("--adv-alpha", type=positive_level, default=0.5,
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training import TrainConfig, train

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
        out=args.out, model=args.model, model_kwargs=kwargs, init=args.init, channels=args.channels,
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
