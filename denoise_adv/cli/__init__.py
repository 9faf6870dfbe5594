"""The ``denoise-adv`` command line: one module per subcommand.

Units: on the command line noise levels and budgets are in 8-bit levels (``--sigma 25`` means
25/255, ``--eps 2`` means 2/255 per pixel; for L2 the RMS per pixel). The Python API uses [0, 1]
units throughout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from . import attack, demo, evaluate, neighborhood, train, transfer, typical

__all__ = ["build_parser", "main"]

COMMANDS = (demo, attack, train, typical, evaluate, transfer, neighborhood)


def _config_file(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file not found: {file}")
    text = file.read_text()
    try:
        if file.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise ValueError("TOML config files need Python 3.11+; use JSON") from None
            return tomllib.loads(text)
        return json.loads(text)
    except Exception as exc:
        raise ValueError(f"cannot parse config file {file}: {exc}") from exc


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
    if getattr(args, "config", None):
        # Values from the file become defaults; options on the command line still win.
        try:
            values = _config_file(args.config)
        except (FileNotFoundError, ValueError) as exc:
            print(f"denoise-adv {args.command}: error: {exc}", file=sys.stderr)
            return 2
        sub = parser._subparsers._group_actions[0].choices[args.command]
        known = {a.dest for a in sub._actions}
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            print(f"denoise-adv {args.command}: error: unknown option(s) in {args.config}: "
                  f"{unknown}", file=sys.stderr)
            return 2
        for key in ("scales", "milestones", "blind_range"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        for action in sub._actions:
            if action.dest in values:
                action.required = False
        sub.set_defaults(**values)
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"denoise-adv {args.command}: error: {exc}", file=sys.stderr)
        return 2
