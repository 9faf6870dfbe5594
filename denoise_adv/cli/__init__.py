"""The ``denoise-adv`` command line: one module per subcommand.

Units: on the command line noise levels and budgets are in 8-bit levels (``--sigma 25`` means
25/255, ``--eps 2`` means 2/255 per pixel; for L2 the RMS per pixel). The Python API uses [0, 1]
units throughout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from .._checks import MissingExtra
from .._lock import OutputLock
from . import (
    anatomy,
    attack,
    benchmark,
    convert,
    demo,
    evaluate,
    neighborhood,
    reproduce,
    train,
    transfer,
    typical,
    zoo,
)

__all__ = ["build_parser", "main"]

COMMANDS = (demo, attack, train, typical, evaluate, transfer, neighborhood, anatomy, reproduce,
            benchmark, convert, zoo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``denoise-adv`` (one subcommand per job)."""
    parser = argparse.ArgumentParser(
        prog="denoise-adv",
        description="Adversarial attacks on deep image denoisers and their defence by "
        "Typical-Set Sampling. Noise levels and budgets are in 8-bit levels (25 = 25/255).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add(sub)
    return parser


#: What counts as a user error: bad values or types, missing or unwritable files, a missing
#: optional package (its message says which extra installs it), a diverged
#: training run. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError, MissingExtra)


#: Exit status of a command stopped by Ctrl-C (SIGINT): 128 + 2, as shells report it.
INTERRUPTED = 130


def _resume_hint(args: argparse.Namespace) -> str:
    """How to continue an interrupted command, for those that can (train, benchmark)."""
    out = getattr(args, "out", None)
    if args.command == "train":
        from ..training.trainer import CHECKPOINT

        if out is None:
            return f"; rerun it with --resume to continue from OUT/{CHECKPOINT}, if one was written"
        checkpoint = Path(out) / CHECKPOINT
        if checkpoint.is_file():
            return f"; rerun it with --resume to continue from {checkpoint}"
        return f"; no checkpoint was written yet ({checkpoint}): nothing to resume"
    if args.command == "benchmark":
        return f"; rerun the same command to continue (finished rows are kept in {out})"
    return ""


def _subcommand_parser(parser: argparse.ArgumentParser, command: str
                       ) -> argparse.ArgumentParser:
    """The parser of subcommand ``command`` (``parser`` itself when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, except that arguments a subcommand does not know are
    reported by that subcommand (its usage line and ``denoise-adv CMD: error: ...``, exit 2),
    not by ``denoise-adv`` with the list of commands."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        _subcommand_parser(parser, args.command).error(
            f"unrecognized arguments: {' '.join(extra)}")
    return args


def _output_lock(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The lock of the output the command declared (:func:`.common.declare_output`), held for
    the whole command: every writing command is covered here, by its parser's declaration."""
    from .._io import writable_file, writable_folder

    dest, kind = getattr(args, "output_of", (None, None))
    path = getattr(args, dest, None) if dest else None
    if path is None or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # under torchrun the library's collective lock (OutputLock.acquire_on_main) decides,
        # so that every process stops together when the output is in use
        return contextlib.nullcontext()
    flag = f"--{dest}" if dest == "out" else dest.upper()
    if kind == "file":  # the commands' own checks, first: their messages, nothing written
        writable_file(path, flag)
    else:
        writable_folder(path, flag, create=False)
    return OutputLock.for_command(path, file=kind == "file")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``denoise-adv``; returns the exit status.

    A user error (:data:`USER_ERRORS`) prints one line, ``denoise-adv CMD: error: ...``, on
    stderr and returns 2 (argparse's own usage errors also exit 2); ``--debug`` re-raises it
    to show the traceback. Ctrl-C prints one line, ``denoise-adv CMD: interrupted``, with how
    to resume where the command can (train, benchmark), and returns 130.
    """
    parser = build_parser()
    args = _parse(parser, argv)
    try:
        with _output_lock(args):
            return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"denoise-adv {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return INTERRUPTED
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"denoise-adv {args.command}: error: {message}", file=sys.stderr)
        return 2
