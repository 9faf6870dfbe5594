"""``denoise-adv attack``: attack a denoiser and save the adversarial noisy images."""

from __future__ import annotations

import argparse
import fnmatch
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .._io import atomic_write, write_json
from .._tasks import DEFAULT_NOISE, TASKS
from ..models import load_denoiser
from ..report import write_csv
from .common import (
    LEVEL,
    MODEL_HELP,
    add_noise_and_attack_options,
    add_options,
    attack_spec,
    device,
    images,
    level,
    output_folder,
    separate_output,
)

#: Names of the files an attack run writes in ``--out`` (the image names vary).
OUTPUT_PATTERNS = ("summary.csv", "summary.json", "*_adv.pt", "*_adv.npy",
                   *(f"*_{suffix}.png" for suffix in ("clean", "noisy", "adv", "denoised",
                                                        "denoised_adv", "perturbation")))

#: ``--attack``'s choices and the name each prints under.
ATTACK_NAMES = {"pgd": "Denoising-PGD", "apgd": "Auto-PGD", "square": "Square Attack"}


def add_attack_choice(p: argparse.ArgumentParser) -> None:
    """``--attack`` and ``--queries``, for the commands that craft (attack, evaluate, make-adv)."""
    p.add_argument("--attack", choices=tuple(ATTACK_NAMES), default="pgd",
                   help="pgd: Denoising-PGD; apgd: Auto-PGD (step size automatic: --alpha is "
                   "unused); square: the Square Attack, forward passes only (--queries), so it "
                   "also attacks bm3d and nlmeans (default: pgd)")
    p.add_argument("--queries", type=int, default=1000,
                   help="--attack square: forward passes per image (default: 1000)")


def with_attack_choice(spec, args: argparse.Namespace):
    """``spec`` (an :class:`~denoise_adv.attacks.AttackSpec` of the shared options) with the
    kind of ``--attack`` (and ``--queries``)."""
    if args.queries < 1:
        raise ValueError(f"--queries must be >= 1, got {args.queries}")
    if args.attack == "pgd":
        return spec
    if getattr(args, "no_random_start", False):
        raise ValueError(f"--no-random-start is for --attack pgd only; {args.attack} always "
                         "starts from a random point")
    return replace(spec, kind=args.attack, queries=args.queries)


class _DefaultSigma(float):
    """--sigma's default, told apart from a given 25 (--task has its own default)."""


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack",
        help="attack a denoiser with Denoising-PGD and save the adversarial noisy images",
        description="Add seeded Gaussian noise to each image, attack the denoiser with L-inf or "
        "L2 Denoising-PGD, write the adversarial noisy images (unclipped .pt and .npy, plus PNG "
        "previews) and print the PSNR of the denoised output before and after the attack. "
        "--out must not hold another attack run's files (give --overwrite to replace them) "
        "nor be the --input folder. Colour images are read as gray for a gray model (ITU-R 601 "
        "luma; printed, and recorded in summary.json), and attacked in colour by a colour "
        "model. Levels are 8-bit: --sigma 25 means 25/255.",
    )
    p.add_argument("--model", required=True, help=MODEL_HELP + " (black-box models need "
                   "--attack square)")
    p.add_argument("--input", required=True,
                   help="image file, folder of images, builtin:NAME (e.g. builtin:camera), "
                   "builtin:test or builtin:train")
    add_noise_and_attack_options(p)
    p.add_argument("--task", default=None, choices=TASKS,
                   help="attack the task's measurement y = A(x) + noise (--sigma, default 2.55) "
                   "through DPIR around --model, or 'baseline' (the classical method); the "
                   "estimate is scored ([deepinv] extra)")
    p.set_defaults(sigma=_DefaultSigma(level("25")))  # --task replaces it (run)
    add_attack_choice(p)
    p.add_argument("--no-random-start", action="store_true", help="start from delta = 0")
    p.add_argument("--clip", action="store_true",
                   help="clip the adversarial image to [0, 1] (default: unclipped, as noisy "
                   "images are)")
    add_options(p, "--out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of an earlier attack run in --out (its summary "
                   "files and NAME_adv.pt/.npy, NAME_*.png previews are deleted first)")
    p.set_defaults(func=run)


def previous_outputs(out: Path) -> list[Path]:
    """The files of an earlier attack run in ``out`` (names of :data:`OUTPUT_PATTERNS`)."""
    if not out.is_dir():
        return []
    return sorted(f for f in out.iterdir() if f.is_file() and any(
        fnmatch.fnmatchcase(f.name, pattern) for pattern in OUTPUT_PATTERNS))


def _check_out(args: argparse.Namespace) -> list[Path]:
    """Refuse ``--out`` where a rerun would mix runs: the ``--input`` folder itself, or a
    folder holding another run's files (unless ``--overwrite``); returns those files."""
    output_folder(args.out, create=False)
    separate_output(args.out, args.input, "--input")
    old = previous_outputs(Path(args.out))
    if old and not args.overwrite:
        raise ValueError(f"--out {args.out} already holds the files of an attack run "
                         f"({len(old)} files, e.g. {old[0].name}); a new run would leave them "
                         "next to its own: give --overwrite to replace them, or another folder")
    return old


def _attack_one(model, spec, name: str, image, sigma: float, seed: int, where, out: Path,
                task: str | None = None) -> dict:
    """Attack one image (under ``task``: its measurement), write its files; its row."""
    from ..analysis import attack_generator
    from ..data import save_png
    from ..evaluation.inputs import attacked_input
    from ..metrics import psnr

    clean = image[None]
    noisy = attacked_input(clean, sigma, seed, name, task)
    clean, noisy = clean.to(where), noisy.to(where)
    adv = spec.build(model, attack_generator(seed, name, spec.key))(noisy, clean)
    with torch.no_grad():
        den = model(noisy).clamp(0, 1)
        den_adv = model(adv).clamp(0, 1)
    delta = adv - noisy
    row = {"image": name, "psnr_noisy": psnr(noisy.clamp(0, 1), clean).item()
           if noisy.shape == clean.shape else float("nan"),  # a smaller measurement: none
           "psnr_denoised": psnr(den, clean).item(),
           "psnr_denoised_adv": psnr(den_adv, clean).item()}
    row["drop"] = row["psnr_denoised"] - row["psnr_denoised_adv"]
    row["linf_delta"] = delta.abs().max().item() * LEVEL
    row["rms_delta"] = delta.pow(2).mean().sqrt().item() * LEVEL
    adv_cpu = adv.detach().cpu()
    atomic_write(out / f"{name}_adv.pt", lambda f: torch.save(adv_cpu, f))
    atomic_write(out / f"{name}_adv.npy", lambda f: np.save(f, adv_cpu.numpy()))
    for suffix, picture in (("clean", clean), ("noisy", noisy), ("adv", adv),
                            ("denoised", den), ("denoised_adv", den_adv)):
        save_png(picture, out / f"{name}_{suffix}.png")
    save_png(0.5 + delta / (2 * max(delta.abs().max().item(), 1e-12)),
             out / f"{name}_perturbation.png")
    return row


def _print_table(args: argparse.Namespace, rows: list[dict]) -> None:
    work = f"{args.queries} queries" if args.attack == "square" else f"{args.steps} steps"
    what = f"task {args.task}, measurement noise {args.sigma:g}" if args.task else (
        f"sigma {args.sigma * LEVEL:g}/255")
    print(f"{ATTACK_NAMES[args.attack]} {args.norm}, eps {args.eps * LEVEL:g}/255, {work}, "
          f"{what} (PSNR in dB)")
    print(f"{'image':<16}{'noisy':>9}{'denoised':>10}{'adv':>9}{'drop':>8}")
    for r in rows:
        print(f"{r['image']:<16}{r['psnr_noisy']:>9.2f}{r['psnr_denoised']:>10.2f}"
              f"{r['psnr_denoised_adv']:>9.2f}{r['drop']:>8.2f}")
    if len(rows) > 1:
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
        print(f"{'mean':<16}{mean['psnr_noisy']:>9.2f}{mean['psnr_denoised']:>10.2f}"
              f"{mean['psnr_denoised_adv']:>9.2f}{mean['drop']:>8.2f}")


#: How a colour image becomes gray for a one-channel model (:func:`~denoise_adv.data.to_tensor`).
LUMA = "ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B"


def _is_gray(image: torch.Tensor) -> bool:
    """Whether a (3, H, W) image has three equal channels (a gray picture stored as RGB)."""
    return bool((image[0] == image[1]).all() and (image[1] == image[2]).all())


def channel_conversion(args: argparse.Namespace, channels: int, dataset: list) -> dict | None:
    """What the inputs went through to fit the model's ``channels``, or ``None``: colour
    images read as gray for a gray model (each input is decoded once more in colour to tell),
    gray images repeated into three channels for a colour model."""
    if channels == 1:
        from ..data import iter_images

        names = [name for name, image in iter_images(args.input, 3, max_pixels=args.max_pixels)
                 if not _is_gray(image)]
        how, to = LUMA, "gray"
    else:
        names = [name for name, image in dataset if _is_gray(image)]
        how, to = "the gray channel repeated", "colour"
    if not names:
        return None
    return {"images": names, "to": to, "how": how, "model_channels": channels}


def _print_conversion(conversion: dict | None) -> None:
    if conversion is None:
        return
    names = conversion["images"]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    hint = (" (a colour model, e.g. --model zoo:ffdnet-ipol-color, attacks in colour)"
            if conversion["to"] == "gray" else "")
    print(f"note: {len(names)} image(s) converted to {conversion['to']} for the "
          f"{conversion['model_channels']}-channel model ({conversion['how']}): {shown}{hint}; "
          "recorded in summary.json (protocol.channel_conversion)")


def _load(args: argparse.Namespace, where):
    """The denoiser of ``--model``, or under ``--task`` the task's pipeline around it."""
    if args.task is None:
        return load_denoiser(args.model, args.sigma, where)
    from ..restoration import load_pipeline

    return load_pipeline(args.model, args.task, noise=args.sigma, device=where)


def run(args: argparse.Namespace) -> int:
    spec = with_attack_choice(attack_spec(args, random_start=not args.no_random_start,
                                          clip=args.clip), args)
    where = device(args.device)
    if args.task and isinstance(args.sigma, _DefaultSigma):
        args.sigma = DEFAULT_NOISE
    sigma = args.sigma
    old = _check_out(args)
    model, channels, meta = _load(args, where)
    dataset = images(args, args.input, channels)
    conversion = channel_conversion(args, channels, dataset)
    _print_conversion(conversion)
    out = output_folder(args.out)
    for file in old:  # --overwrite: the earlier run goes only once this one can start
        file.unlink(missing_ok=True)
    rows = [_attack_one(model, spec, name, image, sigma, args.seed, where, out, args.task)
            for name, image in tqdm(dataset, desc="attack", disable=args.quiet)]
    protocol = {
        "command": "attack", "model": str(args.model), "model_meta": meta, "task": args.task,
        "input": str(args.input), "sigma": sigma, "noise_seed": args.seed,
        "attack": spec.as_dict(), "model_channels": channels, "channel_conversion": conversion,
        "device": str(where), "units": "[0, 1]; multiply by 255 for 8-bit levels",
    }
    write_csv(rows, out / "summary.csv")
    # strict JSON: --sigma 0 makes psnr_noisy +inf, written as null with the reason
    write_json(out / "summary.json", {"protocol": protocol, "images": rows}, default=str)
    _print_table(args, rows)
    print(f"wrote {len(rows)} adversarial image(s) and summary.csv/json to {out}")
    return 0
