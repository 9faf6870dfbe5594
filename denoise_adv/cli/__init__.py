"""The ``denoise-adv`` command line: one module per subcommand.

Units: on the command line noise levels and budgets are in 8-bit levels (``--sigma 25`` means
25/255, ``--eps 2`` means 2/255 per pixel; for L2 the RMS per pixel). The Python API uses [0, 1]
units throughout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from . import attack, convert, demo, evaluate, neighborhood, train, transfer, typical

__all__ = ["build_parser", "main"]

COMMANDS = (demo, attack, train, typical, evaluate, transfer, neighborhood, convert)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``denoise-adv`` (one subcommand per job)."""
    parser = argparse.ArgumentParser(
        prog="denoise-adv",
        description="Adversarial attacks on deep image denoisers and their defence by "
        "Typical-Set Sampling. Noise levels and budgets are in 8-bit levels (25 = 25/255).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``denoise-adv``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, TypeError, FloatingPointError) as exc:
        print(f"denoise-adv {args.command}: error: {exc}", file=sys.stderr)
        return 2
