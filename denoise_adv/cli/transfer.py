"""``denoise-adv transfer``: the transfer matrix between models (eq. 9) and its heat map."""

from __future__ import annotations

import argparse

from .._io import write_json
from ..models import load_denoiser, model_label
from .common import (
    LEVEL,
    MODEL_HELP,
    add_noise_and_attack_options,
    add_options,
    attack_spec,
    device,
    finite_float,
    images,
    output_folder,
)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transfer",
        help="craft attacks on each model, score them on every model (transfer matrix)",
        description="For each source model, attack each image white-box and score the "
        "adversarial inputs on every target model; cells are mean PSNR drops (the diagonal is "
        "the white-box drop); a transfer succeeds when the drop exceeds --threshold dB. A "
        "baseline row scores random perturbations of the attacks' size. bm3d and nlmeans "
        "(not differentiable) are targets only: they get a column, not a row. Writes "
        "transfer.csv, transfer.md, transfer.json and the heat map transfer.png. Levels are "
        "8-bit.",
    )
    p.add_argument("--model", "--models", dest="models", nargs="+", action="extend",
                   required=True, help="two or more models (repeat --model or list several; "
                   "--models is the same option), each " + MODEL_HELP)
    p.add_argument("--names", nargs="*", help="labels of the models (default: file names)")
    add_options(p, "--data")
    p.add_argument("--threshold", type=finite_float, default=0.1,
                   help="PSNR drop (dB) that counts as a successful transfer (default: 0.1)")
    add_noise_and_attack_options(p)
    add_options(p, "--out")
    p.set_defaults(func=run)


def _models(specs: dict[str, str], sigma: float, where) -> tuple[dict, int]:
    """``({name: denoiser}, channels)`` in the given order; the classical baselines are built
    for the channels of the networks."""
    from ..models.zoo import BASELINES

    loaded, channels = {}, set()
    for name, spec in specs.items():
        if spec not in BASELINES:
            loaded[name], c, _ = load_denoiser(spec, sigma, where)
            channels.add(c)
    if len(channels) > 1:
        raise ValueError("all models must take the same number of channels")
    c = channels.pop() if channels else 1
    for name, spec in specs.items():
        if spec in BASELINES:
            loaded[name] = load_denoiser(spec, sigma, where, c)[0]
    return {name: loaded[name] for name in specs}, c


def run(args: argparse.Namespace) -> int:
    from ..analysis import plot_transfer, transfer_matrix
    from ..report import format_table, write_csv, write_markdown

    spec = attack_spec(args)
    where, sigma = device(args.device), args.sigma
    names = args.names or [model_label(m) for m in args.models]
    if len(names) != len(args.models) or len(set(names)) != len(names):
        raise ValueError("--names must give one distinct label per model")
    output_folder(args.out, create=False)
    models, channels = _models(dict(zip(names, args.models)), sigma, where)
    dataset = images(args, args.data, channels)
    result = transfer_matrix(models, dataset, spec, args.threshold, sigma, args.seed,
                             progress=not args.quiet)
    rows = [{"source": s, **{t: result["drop"][s][t] for t in names}}
            for s in result["sources"]]
    rows.append({"source": "random (same size)", **result["baseline"]})
    out = output_folder(args.out)
    write_csv(rows, out / "transfer.csv")
    title = (f"PSNR drop (dB) of target (columns) on attacks crafted on source (rows), "
             f"{args.norm} eps {args.eps * LEVEL:g}/255, sigma {sigma * LEVEL:g}/255")
    write_markdown(rows, out / "transfer.md", title=title)
    write_json(out / "transfer.json", {**result, "models": dict(zip(names, args.models)),
                                        "data": args.data, "sigma": sigma, "seed": args.seed})
    plot_transfer(result, out / "transfer.png")
    print(title)
    print(format_table(rows))
    pairs = [(s, t) for s in result["sources"] for t in names if s != t]
    successes = sum(result["success"][s][t] for s, t in pairs)
    print(f"transfers above {args.threshold:g} dB: {successes} of {len(pairs)}")
    print(f"wrote transfer.csv, transfer.md, transfer.json and transfer.png to {out}")
    return 0
