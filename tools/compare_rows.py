"""Compare two benchmark results folders row by row: are their numbers the same, bit for bit?

Reads every row file ``rows/MODEL/IMAGE-sSEED.json`` of both folders (what ``denoise-adv
benchmark`` writes) and, where both have one, ``results.json``'s per-model means (the
leaderboard's ``mean`` values, mean PSNR and drop per attack, worst-attack counts; not its
intervals or ranks, whose statistics may differ between releases). Timing fields are left
out; everything else (each PSNR, the worst case, the loss checks, the hash of the worst-case
output's pixels) is compared exactly, NaN equal to NaN, or within ``--tolerance``. Prints
``model, image, field, old, new, equal`` and a summary line; exit status 0 when every value
is equal, 1 otherwise::

    python tools/compare_rows.py OLD NEW [--differences] [--tolerance DB]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from _common import read_json_or_none

#: Keys left out wherever they appear: the time a row or a run took.
TIMING = frozenset({"seconds", "timing", "images_per_s"})
#: results.json's per-model tables whose every value is a mean (or a count) over images.
MEAN_TABLES = frozenset({"attack_psnr", "attack_drop", "worst_attack_counts"})
#: The image column of results.json's means.
MEANS = "(means)"


class _Missing:
    """The value of a field one folder lacks (printed ``(missing)``)."""

    def __repr__(self) -> str:
        return "(missing)"


MISSING = _Missing()


class Compared(NamedTuple):
    """One value of both folders: ``old``/``new`` is :data:`MISSING` where a folder lacks it."""

    model: str
    image: str
    field: str
    old: Any
    new: Any
    equal: bool


def flatten(value: Any, prefix: str = "", ignore: frozenset[str] = TIMING) -> dict[str, Any]:
    """The leaves of nested dicts as ``{"psnr[pgd-linf-2]": 30.3, ...}``; ``ignore`` keys are
    left out at any depth.

    Example:
        >>> flatten({"psnr": {"fgsm-2": 1.0}, "seconds": 2.0, "gap": 0.5})
        {'psnr[fgsm-2]': 1.0, 'gap': 0.5}
    """
    if not isinstance(value, Mapping):
        return {prefix: value}
    leaves: dict[str, Any] = {}
    for key, inner in value.items():
        if key not in ignore:
            leaves |= flatten(inner, f"{prefix}[{key}]" if prefix else str(key), ignore)
    return leaves


def read_rows(folder: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(model, "IMAGE-sSEED"): row}`` of a results folder's row files.

    Raises:
        ValueError: ``folder`` has no ``rows/`` folder, or a row file is unreadable.
    """
    rows_dir = Path(folder) / "rows"
    if not rows_dir.is_dir():
        raise ValueError(f"folder {folder} holds no rows/ folder: not a benchmark results folder")
    rows = {}
    for path in sorted(rows_dir.glob("*/*.json")):
        payload = read_json_or_none(path)
        if not isinstance(payload, dict):
            raise ValueError(f"row file {path} is unreadable")
        rows[path.parent.name, path.stem] = payload.get("row", payload)
    return rows


def read_means(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``{model: {field: mean}}`` of ``folder/results.json`` (``{}`` without one)."""
    results = read_json_or_none(Path(folder) / "results.json")
    if not isinstance(results, dict):
        return {}
    means = {}
    for model, summary in results.get("summary", {}).items():
        leaves = flatten(summary)
        means[model] = {k: v for k, v in leaves.items()
                        if k.endswith("[mean]") or k.split("[")[0] in MEAN_TABLES}
    return means


def same(old: Any, new: Any, tolerance: float = 0.0) -> bool:
    """Whether two values agree: numbers within ``tolerance`` (NaN equals NaN), anything
    else exactly.

    Example:
        >>> same(float("nan"), float("nan")), same(1.0, 1.0 + 1e-9), same(1.0, 1.0 + 1e-9, 1e-6)
        (True, False, True)
    """
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (old, new))
    if not numbers:
        return old == new and type(old) is type(new)
    if math.isnan(old) or math.isnan(new):
        return math.isnan(old) and math.isnan(new)
    return old == new or abs(old - new) <= tolerance


def _pair(model: str, image: str, old: Mapping[str, Any] | None,
          new: Mapping[str, Any] | None, tolerance: float) -> list[Compared]:
    old, new = old or {}, new or {}
    fields = list(dict.fromkeys([*old, *new]))
    return [Compared(model, image, f, old.get(f, MISSING), new.get(f, MISSING),
                     f in old and f in new and same(old[f], new[f], tolerance))
            for f in fields]


def compare(old: str | Path, new: str | Path, tolerance: float = 0.0) -> list[Compared]:
    """Every value of two results folders: each row file's fields (a row only one folder has
    is compared against :data:`MISSING`), then ``results.json``'s means.

    Raises:
        ValueError: ``tolerance`` is negative or not a number, or a folder is not a results
            folder (see :func:`read_rows`).
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    old_rows, new_rows = read_rows(old), read_rows(new)
    found = []
    for key in sorted(set(old_rows) | set(new_rows)):
        found += _pair(*key, *(flatten(r[key]) if key in r else None
                               for r in (old_rows, new_rows)), tolerance)
    old_means, new_means = read_means(old), read_means(new)
    for model in sorted(set(old_means) & set(new_means)):
        found += _pair(model, MEANS, old_means[model], new_means[model], tolerance)
    return found


def render(found: Iterable[Compared], differences: bool = False) -> str:
    """The table, one line a value (``differences``: only the unequal ones), floats in full
    (``repr``: the printed value is the stored one)."""
    lines = [("model", "image", "field", "old", "new", "equal")]
    lines += [(c.model, c.image, c.field, repr(c.old), repr(c.new), str(c.equal))
              for c in found if not (differences and c.equal)]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[5]
                     for line in lines)


def summary(found: list[Compared]) -> str:
    """One line: values compared, equal and different, in how many rows."""
    rows = {(c.model, c.image) for c in found if c.image != MEANS}
    unequal = [c for c in found if not c.equal]
    missing = sum(c.old is MISSING or c.new is MISSING for c in found)
    fields = sorted({c.field for c in unequal})
    shown = ", ".join(fields[:8]) + (", ..." if len(fields) > 8 else "")
    return (f"{len(found)} values ({len(rows)} rows and results.json's means): "
            f"{len(found) - len(unequal)} equal, {len(unequal)} different ({missing} missing "
            f"on one side)" + (f"; fields that differ: {shown}" if unequal else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the first results folder (e.g. the old code's)")
    parser.add_argument("new", help="the second results folder")
    parser.add_argument("--differences", action="store_true",
                        help="list only the values that differ")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="largest difference two numbers may have and count as equal "
                        "(default 0: bit for bit)")
    args = parser.parse_args(argv)
    try:
        found = compare(args.old, args.new, args.tolerance)
    except ValueError as error:
        parser.exit(2, f"compare_rows: {error}\n")
    print(render(found, args.differences))
    print(summary(found))
    return 0 if all(c.equal for c in found) else 1


if __name__ == "__main__":
    sys.exit(main())
