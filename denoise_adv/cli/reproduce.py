"""``denoise-adv reproduce table2``: the paper's Table 2 protocol in one resumable command
(the stages are :mod:`denoise_adv.evaluation.table2`'s; this module parses and prints)."""

from __future__ import annotations

import argparse

from ..evaluation.table2 import STRATEGIES
from .common import add_options

TARGETS = ("table2",)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run a table of the paper end to end (train, craft the sets, evaluate, report)",
        description="table2: train DnCNN-17 (the DnCNN recipe) with the strategies normal, "
        "ts-pres, ts-def, mixed-25.5 and mixed-26, craft Set12-Adv-Linf/-L2 on the normal "
        "model, score every model on Gaussian noise, both sets and white-box attacks, and "
        "write OUT/table2.md, OUT/report.json (every protocol value) and OUT/per_image.csv "
        "next to the paper's numbers. Resumable: rerun the same command after an interruption; "
        "finished stages are skipped, training resumes from its checkpoint.",
    )
    p.add_argument("target", choices=TARGETS, help="what to reproduce")
    p.add_argument("--train-data", required=True,
                   help="training images: a folder (BSD400 in the paper) or builtin:train")
    p.add_argument("--test-data", required=True,
                   help="test images: a folder (Set12 in the paper) or builtin:test")
    add_options(p, "--out", "--seed", "--device", "--quiet", "--max-pixels")
    p.add_argument("--smoke", action="store_true",
                   help="tiny model (depth 3, 4 features), 3 steps, 16x16 patches, 2-step "
                   "attacks: checks the machinery end to end in seconds on the CPU")
    p.add_argument("--strategies", default=",".join(STRATEGIES),
                   help=f"comma-separated subset, normal included (default: all of "
                   f"{','.join(STRATEGIES)})")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs instead of the recipe's 50 (recorded)")
    p.add_argument("--steps", type=int, default=None,
                   help="stop each training after this many steps (recorded; a later run with "
                   "more steps resumes it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.table2 import Table2Run, run_table2
    from ..report import format_table

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    table = run_table2(Table2Run(
        train_data=args.train_data, test_data=args.test_data, out=args.out, seed=args.seed,
        device=args.device, smoke=args.smoke, strategies=strategies, epochs=args.epochs,
        steps=args.steps, progress=not args.quiet, max_pixels=args.max_pixels))
    print(format_table(table))
    print(f"wrote table2.md, report.json and per_image.csv to {args.out}")
    return 0
