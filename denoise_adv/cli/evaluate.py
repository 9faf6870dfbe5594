"""``denoise-adv evaluate`` (Tables 2-3) and ``denoise-adv make-adv`` (Set12-Adv sets)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .._io import writable_file, write_json
from ..models import load_denoiser, model_label
from .attack import add_attack_choice, with_attack_choice
from .common import (
    LEVEL,
    MODEL_HELP,
    NETWORK_HELP,
    add_noise_and_attack_options,
    add_options,
    attack_spec,
    device,
    images,
    output_folder,
    white_box_attacks,
)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="PSNR/SSIM/MAE per image on Gaussian noise and adversarial sets, several models",
        description="Score each model per image on Gaussian noise, on white-box adversarial "
        "versions (--attacks linf,l2: each model attacked with its own gradients) and on fixed "
        "adversarial sets made by make-adv (--adv-set: the transfer protocol). Prints a "
        "Table-2/3-style summary with the drops (RES) and writes per_image.csv, summary.csv, "
        "report.md and report.json (the full protocol). Levels are 8-bit.",
    )
    p.add_argument("--model", nargs="+", required=True,
                   help="one or more models, each " + MODEL_HELP + " (black-box models "
                   "need --attack square, or --attacks none with --adv-set)")
    add_options(p, "--data")
    p.add_argument("--attacks", default="linf,l2",
                   help="white-box attacks: comma-separated linf,l2, or none (default: linf,l2)")
    p.add_argument("--adv-set", nargs="*", default=[], help="adversarial sets from make-adv")
    add_noise_and_attack_options(p)
    add_attack_choice(p)
    add_options(p, "--out")
    p.set_defaults(func=run_evaluate)

    m = sub.add_parser(
        "make-adv",
        help="craft an adversarial set once on a source model and save it with its manifest",
        description="Add seeded Gaussian noise to each image, attack the source model "
        "(white-box), and save the adversarial noisy images, the clean images and the Gaussian "
        "inputs in one .pt file with a manifest (source model, sigma, attack, eps, alpha, "
        "steps, seed, image names), atomically. Levels are 8-bit.",
    )
    m.add_argument("--model", required=True, help="source model, " + NETWORK_HELP)
    add_options(m, "--data")
    add_noise_and_attack_options(m)
    add_attack_choice(m)
    add_options(m, "--out", out={"help": "output file (.pt)", "writes": "file"})
    m.set_defaults(func=run_make_adv)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..analysis import evaluate_adversarial_set, evaluate_robustness, summarize
    from ..report import format_table, write_csv, write_markdown

    spec = attack_spec(args)  # its errors come before those of --out and --attacks
    output_folder(args.out, create=False)
    set_labels = _set_labels(args.adv_set)
    attacks = white_box_attacks(args, spec, allow_none=True)
    # --attack apgd/square: rows named apgd-linf, square-l2...
    attacks = {s.key: s for s in (with_attack_choice(v, args) for v in attacks.values())}
    where, sigma = device(args.device), args.sigma
    per_image, summary, protocol_models = [], [], []
    for path, label in zip(args.model, _model_labels(args.model)):
        model, channels, meta = load_denoiser(path, sigma, where)
        protocol_models.append({"label": label, "checkpoint": str(path), "meta": meta})
        rows = []
        if attacks or not args.adv_set:  # --attacks none alone: the Gaussian table
            dataset = images(args, args.data, channels)
            for name, image in dataset:
                _check_ssim_size(f"--data image {name}", tuple(image.shape))
            rows += [{**r, "source": "white-box"} for r in evaluate_robustness(
                model, dataset, sigma, attacks, args.seed, channels, not args.quiet)]
            shape = tuple(dataset[0][1].shape)
        else:
            shape = None
        for adv_path in args.adv_set:
            fixed = evaluate_adversarial_set(model, adv_path, sigma, shape, not args.quiet)
            rows += [{**r, "set": r["set"] if r["set"] == "gaussian" else
                      set_labels[adv_path], "source": str(adv_path)} for r in fixed
                     if not (attacks and r["set"] == "gaussian")]
        for r in rows:  # images of --adv-set are only seen now
            if math.isnan(r["ssim"]):
                _check_ssim_size(f"--adv-set {r['source']} image {r['image']}", None)
        per_image += [{"model": label, **r} for r in rows]
        summary += [{"model": label, **r} for r in summarize(rows)]
    out = output_folder(args.out)
    write_csv(per_image, out / "per_image.csv")
    write_csv(summary, out / "summary.csv")
    title = f"Robustness at sigma {sigma * LEVEL:g}/255 (PSNR dB, SSIM, MAE on 8-bit levels)"
    write_markdown(summary, out / "report.md", title=title)
    protocol = {"sigma": sigma, "noise_seed": args.seed, "data": args.data,
                "white_box_attacks": {k: v.as_dict() for k, v in attacks.items()},
                "adversarial_sets": args.adv_set, "models": protocol_models,
                "metrics": "PSNR peak 1; SSIM skimage-compatible (11x11 Gaussian, sigma 1.5); "
                           "MAE x255"}
    write_json(out / "report.json", {"protocol": protocol, "summary": summary,
                                     "per_image": per_image}, default=str)
    print(title)
    print(format_table(summary))
    print(f"wrote per_image.csv, summary.csv, report.md and report.json to {out}")
    return 0


def _model_labels(specs: list[str]) -> list[str]:
    """The row label of each ``--model``; the same model twice (the same file, however
    spelt, or the same zoo name) or two models of one label are refused: their rows would be
    duplicated or merged."""
    keys = [str(Path(s).resolve()) if Path(s).is_file() else s for s in specs]
    twice = [s for i, (s, k) in enumerate(zip(specs, keys)) if k in keys[:i]]
    if twice:
        raise ValueError(f"--model lists {twice[0]} more than once: each model is scored once")
    labels = [model_label(s) for s in specs]
    same = [lab for i, lab in enumerate(labels) if lab in labels[:i]]
    if same:
        both = [s for s, lab in zip(specs, labels) if lab == same[0]]
        raise ValueError(f"--model {both[0]} and {both[1]} both get the row label {same[0]!r}; "
                         "rename one file so that their rows stay apart")
    return labels


def _check_ssim_size(what: str, shape: tuple[int, ...] | None) -> None:
    """Refuse an image smaller than SSIM's window (SSIM is undefined there: no pixel has its
    whole window inside the image) rather than report NaN; ``shape`` None: known too small."""
    from ..metrics import SSIM_WINDOW

    if shape is not None and min(shape[-2:]) >= SSIM_WINDOW:
        return
    size = "" if shape is None else f" is {shape[-2]}x{shape[-1]},"
    raise ValueError(f"{what}{size} smaller than SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window: "
                     f"SSIM is undefined there; evaluate images of at least "
                     f"{SSIM_WINDOW}x{SSIM_WINDOW}")


def _set_labels(paths: list[str]) -> dict[str, str]:
    """A row label per adversarial set: its file stem, or its path (less ``.pt``) where two
    sets share a stem, so that they are never merged into one row."""
    if len(set(paths)) != len(paths):
        raise ValueError("--adv-set lists the same file twice")
    stems = [Path(p).stem for p in paths]
    return {p: stem if stems.count(stem) == 1 else str(Path(p).with_suffix(""))
            for p, stem in zip(paths, stems)}


def run_make_adv(args: argparse.Namespace) -> int:
    from .._io import remove_stale_temporaries
    from .._lock import OutputLock
    from ..analysis import make_adversarial_set

    spec = with_attack_choice(attack_spec(args), args)
    out = writable_file(args.out, "--out")  # before the attack work, not after it
    with OutputLock(out, file=True):  # one writer of this file; refused while another runs
        remove_stale_temporaries(out.parent, (out.name,))  # owned by no live process now
        where, sigma = device(args.device), args.sigma
        model, channels, meta = load_denoiser(args.model, sigma, where)
        dataset = images(args, args.data, channels)
        path = make_adversarial_set(model, dataset, out, sigma, spec, args.seed, channels,
                                    meta={"source_model": str(args.model), "source_meta":
                                          json.dumps(meta, default=str), "data": str(args.data)},
                                    progress=not args.quiet)
    print(f"wrote the {args.norm} adversarial set of {args.data} (sigma {sigma * LEVEL:g}/255, "
          f"eps {args.eps * LEVEL:g}/255, {args.steps} steps, seed {args.seed}) made on "
          f"{args.model} to {path}")
    return 0
