"""``denoise-adv typical``: the typical-set quantities and the log-likelihood histograms."""

from __future__ import annotations

import argparse

import torch

from .common import LEVEL, add_options, finite_float, level, output_folder

#: Noise tensors :func:`~denoise_adv.analysis.nll_samples` holds at once besides one per TS
#: T: Gaussian, two mixed, two worst cases, and two temporaries (float64 each).
_TENSORS = 7


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "typical",
        help="typical-set bounds, volumes, TS shifts, and the log-likelihood histograms",
        description="Print the section-3.4 quantities (typical-set bounds, probabilities, "
        "volumes, perturbed sets, TS shifts and the T covering an attack budget) for one patch "
        "size, and write histograms of the per-component negative log-likelihood of Gaussian, "
        "TS, mixed and perturbed noise (Fig. 9-10). Levels are 8-bit: --sigma 25 means 25/255; "
        "--eps-l2 is the RMS per pixel (radius eps/255*sqrt(d)).",
    )
    add_options(p, "--sigma")
    p.add_argument("--patch", type=int, default=40, help="patch side (default: 40)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1, help="(default: 1)")
    p.add_argument("--eps", type=finite_float, default=0.05,
                   help="typical-set width eps, a plain number (default: 0.05)")
    p.add_argument("--eps-linf", type=level, default="2",
                   help="L-inf budget in 8-bit levels (default: 2)")
    p.add_argument("--eps-l2", type=level, default="2",
                   help="L2 budget, RMS per pixel in 8-bit levels (default: 2)")
    p.add_argument("--iterations", default="1,10,100",
                   help="comma-separated TS iterations T to show (default: 1,10,100)")
    p.add_argument("--samples", type=int, default=4000,
                   help="noise samples per histogram (default: 4000)")
    add_options(p, "--seed", "--out", out={
        "required": False, "default": None,
        "help": "write the histograms and the table files to this folder (default: print the "
                "table only)"})
    p.set_defaults(func=run)


def _check_sample_budget(args: argparse.Namespace, d: int, kinds: int) -> None:
    """Refuse sample sets that do not fit in memory (``--patch 100000``, ``--samples 1e9``)
    before drawing them: every noise kind is a (samples, d) float64 tensor, all held at once."""
    from .._checks import SECONDS_PER_ELEMENT, check_budget

    values = float(args.samples) * d * (kinds + _TENSORS)
    check_budget("--samples and --patch", f"{args.samples:,} samples of {args.patch}x{args.patch}x"
                 f"{args.channels} for {kinds + 5} kinds of noise", nbytes=8 * values,
                 seconds=values * SECONDS_PER_ELEMENT)


def run(args: argparse.Namespace) -> int:
    import math

    from ..analysis import nll_samples, plot_nll_histograms, typical_set_rows
    from ..report import format_table, write_csv, write_markdown
    from ..typical import entropy

    try:
        iterations = [float(t) for t in args.iterations.split(",") if t.strip()]
    except ValueError as exc:
        raise ValueError(f"--iterations must be comma-separated numbers: {exc}") from exc
    if args.patch < 1 or args.samples < 2:
        raise ValueError("--patch must be >= 1 and --samples >= 2")
    if args.sigma <= 0:
        raise ValueError("--sigma must be > 0")
    if args.out is not None:
        output_folder(args.out, create=False)
    d = args.channels * args.patch**2
    _check_sample_budget(args, d, len(iterations))
    sigma, eta_linf = args.sigma, args.eps_linf
    eta_l2 = args.eps_l2 * math.sqrt(d)
    rows = typical_set_rows(d, sigma, args.eps, eta_linf, eta_l2, iterations)
    shape = (args.samples, args.channels, args.patch, args.patch)
    samples = nll_samples(shape, sigma, eta_linf, eta_l2, iterations,
                          generator=torch.Generator().manual_seed(args.seed))
    h = entropy(sigma)
    stats = [{"noise": name, "mean NLL": v.mean().item(), "std NLL": v.std().item(),
              "mean e(n)": v.mean().item() - h} for name, v in samples.items()]
    title = (f"Typical sets: sigma {sigma * LEVEL:g}/255, d = {d} "
             f"({args.patch}x{args.patch}x{args.channels})")
    print(title)
    print(format_table(rows))
    print()
    print(format_table(stats, ".5f"))
    if args.out is None:
        print("(give --out DIR to write the histograms and these tables)")
        return 0
    out = output_folder(args.out)
    figure = plot_nll_histograms(samples, sigma, out / "typical_nll.png", title)
    write_markdown(rows, out / "typical.md", title=title)
    write_csv(stats, out / "typical_samples.csv")
    print(f"wrote {figure}, typical.md and typical_samples.csv to {out}")
    return 0
