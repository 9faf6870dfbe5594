"""``denoise-adv transfer``: the transfer matrix between models (eq. 9) and its heat map."""

from __future__ import annotations

import argparse
import json

from .._io import atomic_open
from .common import (
    LEVEL,
    MODEL_HELP,
    add_noise_and_attack_options,
    add_options,
    attack_spec,
    device,
    images,
    load_model,
    model_label,
    output_folder,
)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transfer",
        help="craft attacks on each model, score them on every model (transfer matrix)",
        description="For each source model, attack each image white-box and score the "
        "adversarial inputs on every target model; cells are mean PSNR drops (the diagonal is "
        "the white-box drop); a transfer succeeds when the drop exceeds --threshold dB. A "
        "baseline row scores random perturbations of the attacks' size. Writes transfer.csv, "
        "transfer.md, transfer.json and the heat map transfer.png. Levels are 8-bit.",
    )
    p.add_argument("--models", nargs="+", required=True,
                   help="two or more models, each " + MODEL_HELP)
    p.add_argument("--names", nargs="*", help="labels of the models (default: file names)")
    add_options(p, "--data")
    p.add_argument("--threshold", type=float, default=0.1,
                   help="PSNR drop (dB) that counts as a successful transfer (default: 0.1)")
    add_noise_and_attack_options(p)
    add_options(p, "--out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import plot_transfer, transfer_matrix
    from ..report import format_table, write_csv, write_markdown

    spec = attack_spec(args)
    where, sigma = device(args.device), args.sigma / LEVEL
    names = args.names or [model_label(m) for m in args.models]
    if len(names) != len(args.models) or len(set(names)) != len(names):
        raise ValueError("--names must give one distinct label per model")
    output_folder(args.out, create=False)
    models, channels = {}, set()
    for name, path in zip(names, args.models):
        models[name], c, _ = load_model(path, sigma, where)
        channels.add(c)
    if len(channels) != 1:
        raise ValueError("all models must take the same number of channels")
    dataset = images(args, args.data, channels.pop())
    result = transfer_matrix(models, dataset, spec, args.threshold, sigma, args.seed,
                             progress=not args.quiet)
    rows = [{"source": s, **{t: result["drop"][s][t] for t in names}} for s in names]
    rows.append({"source": "random (same size)", **result["baseline"]})
    out = output_folder(args.out)
    write_csv(rows, out / "transfer.csv")
    title = (f"PSNR drop (dB) of target (columns) on attacks crafted on source (rows), "
             f"{args.norm} eps {args.eps:g}/255, sigma {args.sigma:g}/255")
    write_markdown(rows, out / "transfer.md", title=title)
    with atomic_open(out / "transfer.json", "w") as f:
        json.dump({**result, "models": dict(zip(names, args.models)), "data": args.data,
                   "sigma": sigma, "seed": args.seed}, f, indent=2)
    plot_transfer(result, out / "transfer.png")
    print(title)
    print(format_table(rows))
    successes = sum(result["success"][s][t] for s in names for t in names if s != t)
    print(f"transfers above {args.threshold:g} dB: {successes} of {len(names) * (len(names) - 1)}")
    print(f"wrote transfer.csv, transfer.md, transfer.json and transfer.png to {out}")
    return 0
