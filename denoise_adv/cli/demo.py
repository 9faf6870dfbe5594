"""``denoise-adv demo``: the main job on a fresh install, no arguments, no network.

Trains a small DnCNN on the built-in training images for about a minute (or reuses the cached
one), attacks it with L-inf and L2 Denoising-PGD on the built-in test images, prints the
Table-2-style report and writes it with its figures to an output folder it names.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .._io import atomic_open
from .common import LEVEL, device, positive_level

#: The demo model: 8-layer, 32-feature DnCNN, 400 Adam steps of 32 patches (about a minute on
#: two CPU cores; ~26.6 dB on builtin:test at sigma 25).
DEMO_RECIPE = {"model_kwargs": {"depth": 8, "features": 32}, "max_steps": 400,
               "batch_size": 32, "lr": 2e-3}


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: train a small DnCNN (cached), attack it, write the report",
        description="Train a small DnCNN on the built-in images for about a minute (cached "
        "under $XDG_CACHE_HOME/denoise_adv, else ~/.cache/denoise_adv), attack it with L-inf "
        "and L2 Denoising-PGD (eps 2/255 per pixel, 10 steps) on builtin:test, print the "
        "Table-2-style report and write it with a comparison strip and a polar plot. Needs no "
        "arguments and no network. Levels are 8-bit.",
    )
    p.add_argument("--out", default="denoise-adv-demo", help="output folder "
                   "(default: ./denoise-adv-demo)")
    p.add_argument("--sigma", type=positive_level, default=25.0, help="(default: 25)")
    p.add_argument("--data", default="builtin:test", help="test images (default: builtin:test)")
    p.add_argument("--model", default=None, help="use this checkpoint instead of the demo model")
    p.add_argument("--retrain", action="store_true", help="ignore the cached demo model")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "denoise_adv"


def demo_model(sigma: float, seed: int, retrain: bool, quiet: bool) -> Path:
    """The cached demo checkpoint for (recipe, sigma, seed), trained if missing."""
    from ..training import TrainConfig, train

    key = hashlib.sha256(json.dumps([DEMO_RECIPE, sigma, seed]).encode()).hexdigest()[:12]
    cached = _cache_dir() / f"demo-dncnn-{key}.pt"
    if cached.is_file() and not retrain:
        print(f"using the cached demo model {cached}")
        return cached
    print("training the demo DnCNN (8 layers, 32 features) on builtin:train, about a minute...")
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(out=tmp, sigma=sigma, seed=seed, val_data=None,
                             progress=not quiet, **DEMO_RECIPE)
        train(config)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".tmp")
        shutil.copyfile(Path(tmp) / "model.pt", partial)
        os.replace(partial, cached)
    return cached


def run(args: argparse.Namespace) -> int:
    import torch

    from ..analysis import (
        attack_generator,
        evaluate_robustness,
        load_dataset,
        neighborhood_2d,
        noisy_image,
        plot_comparison_strip,
        plot_polar,
        summarize,
    )
    from ..attacks import AttackSpec
    from ..report import format_table, write_csv, write_markdown
    from .common import load_model

    sigma, where = args.sigma / LEVEL, device(args.device)
    path = Path(args.model) if args.model else demo_model(sigma, args.seed, args.retrain,
                                                          args.quiet)
    model, channels, meta = load_model(path, sigma, where)
    images = load_dataset(args.data, channels)
    attacks = {"linf": AttackSpec("linf"), "l2": AttackSpec("l2")}
    rows = evaluate_robustness(model, images, sigma, attacks, args.seed, channels,
                               not args.quiet)
    summary = summarize(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "per_image.csv")
    write_csv(summary, out / "summary.csv")
    title = (f"DnCNN demo at sigma {args.sigma:g}/255: Gaussian vs Denoising-PGD "
             "(L-inf 2/255, L2 2/255 RMS, 10 steps)")
    write_markdown(summary, out / "report.md", title=title)

    # Figures: clean / noisy / adversarial / denoised for three images; a polar sweep.
    strips = []
    with torch.no_grad():
        for name, clean in images[:3]:
            clean = clean[None].to(where)
            noisy = noisy_image(clean, sigma, args.seed, name)
            with torch.enable_grad():
                adv = attacks["linf"].build(model, attack_generator(args.seed, name, "linf"))(
                    noisy, clean)
            strips.append((name, [("clean", clean), ("noisy", noisy), ("denoised", model(noisy)),
                                  ("adversarial", adv), ("denoised adv.", model(adv))]))
    plot_comparison_strip(strips, out / "comparison.png")
    name, clean = images[0]
    crop = clean[None, :, :64, :64].to(where)
    noise = noisy_image(crop, sigma, args.seed, name) - crop
    adv = attacks["linf"].build(model, attack_generator(args.seed, name, "linf"))(crop + noise,
                                                                               crop)
    delta = adv - crop - noise
    polar = neighborhood_2d(model, crop, noise, delta,
                            [delta.norm().item() * r for r in (0.5, 1.0, 1.5, 2.0)], angles=36)
    plot_polar(polar, out / "polar.png", f"{name} (64x64 crop): PSNR around the noisy image")
    with atomic_open(out / "report.json", "w") as f:
        json.dump({"protocol": {"model": str(path), "model_meta": meta, "data": args.data,
                                "sigma": sigma, "noise_seed": args.seed,
                                "attacks": {k: v.as_dict() for k, v in attacks.items()}},
                   "summary": summary, "per_image": rows, "polar": polar}, f, indent=2,
                  default=str)
    print(title)
    print(format_table(summary))
    worst = polar["worst_angle_deg"][1]
    print(f"2-D neighbourhood of {name}: worst direction {worst:.0f} deg from the noise "
          f"(attack at {polar['delta_angle_deg']:.0f} deg); adversarial fraction of the circle "
          f"of radius ||delta||: {polar['adversarial_fraction'][1]:.0%}")
    print(f"wrote report.md, summary.csv, per_image.csv, report.json, comparison.png and "
          f"polar.png to {out.resolve()}")
    return 0
