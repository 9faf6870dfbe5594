"""``denoise-adv benchmark``: the standard robustness benchmark (a versioned protocol)."""

from __future__ import annotations

import argparse
import json
import os

from .._io import resolve_device, writable_file
from .._tasks import TASKS
from ..models import load_denoiser, model_label
from .common import (
    MODEL_HELP,
    add_options,
    amp_of,
    output_folder,
)


def add(sub: argparse._SubParsersAction) -> None:
    from ..evaluation import PROTOCOLS

    p = sub.add_parser(
        "benchmark",
        help="robust PSNR of denoisers under a fixed, versioned protocol (leaderboard)",
        description="Score each model under a versioned protocol (v1: builtin:test, sigma "
        "25/255, PGD L-inf and per-pixel L2 at budgets 1, 2 and 4 (8-bit levels per pixel, "
        "2 = 2/255), ObsAtk, FGSM, transfer from zoo:dncnn-s25-normal, random noise of the "
        "budgets' size; v2: v1's attacks plus Auto-PGD L-inf and L2 with restarts and the "
        "Square Attack (forward passes only) at every budget, EOT on models that declare "
        "randomized = True): per image the Gaussian PSNR/SSIM, each attack's PSNR and the "
        "worst case (robust PSNR), the gap and the random-noise drop; means with t-intervals "
        "over the images, each model's robust PSNR minus the best model's with a paired "
        "t-interval, ranks by paired t-tests of all pairs, Holm-adjusted (models no test "
        "tells apart share a rank, shown =1), and sanity "
        "checks against gradient masking. Writes OUT/results.json, OUT/leaderboard.md, "
        "OUT/leaderboard.html (one self-contained page) and figures. Resumable: a rerun skips "
        "finished model/image rows. Under torchrun --nproc_per_node N the images are shared "
        "among the processes. bm3d and nlmeans are black-box: under v1 transfer and random "
        "inputs only (an upper bound, not ranked); under v2 Square is their white-box attack "
        "and they are ranked (slow on bm3d: one forward is seconds).",
    )
    p.add_argument("--model", nargs="+", action="extend", required=True,
                   help="models to score (repeat --model or list several), each " + MODEL_HELP)
    p.add_argument("--protocol", default="v1",
                   help=f"protocol version (this release knows {', '.join(PROTOCOLS)}; "
                   "default: v1) or a protocol .json file")
    p.add_argument("--quick", action="store_true",
                   help="smoke run under the protocol's quick variant (v1-quick, v2-quick: 2 "
                   "images of 64x64, 3 steps; v2-quick: Auto-PGD 5 steps, Square 20 queries); "
                   "its results never mix with the full protocol's")
    p.add_argument("--data", default=None,
                   help="your own test images (a folder or a file: Set12, BSD68, Kodak...) "
                   "instead of the protocol's; runs the protocol's attacks under the variant "
                   "VERSION-custom (e.g. v1-custom), whose rows are keyed by the sha256 of "
                   "each image's pixels, so changed images are scored again, never reused")
    p.add_argument("--task", default=None, choices=TASKS,
                   help="a restoration task instead of denoising: runs the protocol's task "
                   "variant (v1-TASK: 64x64 centre crops, the task's measurement with noise "
                   "0.01 is attacked, the estimate scored), each --model being the prior of "
                   "deepinv's DPIR, and 'baseline' the task's classical method (Wiener, "
                   "bicubic, normalised convolution); needs the [deepinv] extra")
    p.add_argument("--images", type=int, default=None,
                   help="only the first N images of the protocol (a partial run; results say so)")
    p.add_argument("--docs", default=None,
                   help="also write the leaderboard as a reStructuredText table to this file "
                   "(docs/_generated/leaderboard.rst)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    add_options(p, "--out", "--device", "--amp", "--quiet")
    p.set_defaults(func=run)


def _protocol(args: argparse.Namespace):
    from ..evaluation import custom_data, get_protocol

    protocol = get_protocol(args.protocol)
    if args.task is not None:
        protocol = get_protocol(f"{protocol.version}-{args.task}")
    if args.quick:
        protocol = get_protocol(f"{protocol.version}-quick")
    if args.images is not None and args.images < 1:
        raise ValueError(f"--images must be >= 1, got {args.images}")
    if args.data is not None:
        protocol = custom_data(protocol, args.data)
    return protocol


def _label(spec: str, protocol) -> str:
    if protocol.task is None:
        return model_label(spec)
    from ..restoration import pipeline_label

    return pipeline_label(spec)


def _load(spec: str, protocol, where):
    """A denoiser, or under a restoration task the task's pipeline around the spec."""
    if protocol.task is None:
        return load_denoiser(spec, protocol.sigma, where, protocol.channels)
    from ..restoration import load_pipeline

    return load_pipeline(spec, protocol.task, protocol.channels, protocol.sigma, where)


def _models(specs: list[str], protocol, where) -> tuple[dict, dict]:
    """``({label: denoiser}, {label: {spec, meta}})`` of the ``--model`` values."""
    models, info = {}, {}
    for spec in specs:
        label = _label(spec, protocol)
        if label in models:
            raise ValueError(f"--model: two models share the label {label!r} "
                             f"({info[label]['spec']} and {spec}); rename one file")
        model, channels, meta = _load(spec, protocol, where)
        if channels != protocol.channels:
            raise ValueError(f"--model {spec} takes {channels}-channel images but protocol "
                             f"{protocol.version} uses {protocol.channels}-channel images")
        models[label] = model
        info[label] = {"spec": str(spec), "meta": json.loads(json.dumps(meta, default=str))}
    return models, info


def run(args: argparse.Namespace) -> int:
    from ..evaluation import distributed, run_benchmark
    from ..evaluation.report import PAIRED_COLUMN, headline_column, leaderboard_rows
    from ..report import format_table

    protocol = _protocol(args)
    docs = writable_file(args.docs, "--docs") if args.docs else None
    out = output_folder(args.out)
    with distributed() as (rank, _):
        where = resolve_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
        models, info = _models(args.model, protocol, where)
        results = run_benchmark(models, out, protocol, max_images=args.images, device=where,
                                progress=not args.quiet, model_info=info, docs=docs,
                                figures=not args.no_figures, amp=amp_of(args))
    if results is None:  # not process 0: it reports
        return 0
    columns = ("rank", "model", "access", "Gaussian PSNR",
               headline_column(protocol.headline_budget), PAIRED_COLUMN, "gap", "flags")
    print(f"protocol {protocol.version}, {len(results['images'])} images")
    print(format_table([{c: r[c] for c in columns} for r in leaderboard_rows(results)]))
    for label in results["leaderboard"]:
        for warning in results["summary"][label]["warnings"]:
            print(f"warning: {label}: {warning['message']}")
    written = "results.json, leaderboard.md, leaderboard.html" + ("" if args.no_figures else
                                                ", robust_vs_budget.png, worst_case_strip.png")
    print(f"wrote {written} to {out}" + (f" and {docs}" if docs else ""))
    return 0
