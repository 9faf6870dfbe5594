"""What the scripts of ``tools/`` (generators of package data and docs) and ``experiments/``
(studies) share, written once.

The command line is run as a user runs it, in a subprocess (``python -m denoise_adv``), never
imported: scripts stay on the package's public side. A tool imports this module by name
(``python tools/NAME.py`` puts ``tools/`` on the path); a study puts ``tools/`` on the path
first (``sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from denoise_adv.files import read_json as _strict_read_json

__all__ = ["cli", "read_json_or_none"]


def cli(*args: Any, check: bool = True) -> int:
    """Run ``denoise-adv ARGS`` (the installed command line, ``python -m denoise_adv``) in a
    subprocess, printing the command first; the exit status. ``check``: stop on failure
    (:class:`subprocess.CalledProcessError`) instead of returning the status. Arguments are
    passed through :class:`str` (paths, numbers)."""
    argv = [str(a) for a in args]
    print("+ denoise-adv " + " ".join(argv), flush=True)
    return subprocess.run([sys.executable, "-m", "denoise_adv", *argv], check=check).returncode


def read_json_or_none(path: str | Path) -> Any:
    """The JSON content of ``path`` (as :func:`denoise_adv.files.read_json` reads it: strict
    JSON, non-finite numbers put back), or ``None`` when it is missing or unreadable: how a
    resumable script asks whether a stage's result is already there."""
    try:
        return _strict_read_json(path)
    except (OSError, ValueError):
        return None
