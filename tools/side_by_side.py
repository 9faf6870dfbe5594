"""The paper's Table 2, the DnCNN study and the FFDNet study side by side (docs/reproduction.rst).

Reads only what other commands generated, never a typed number: the paper's Tables 2 and 4 as
``denoise-adv reproduce`` holds them (:data:`denoise_adv.evaluation.PAPER_TABLE2`,
:data:`~denoise_adv.evaluation.PAPER_TABLE4`; TS-Def.'s Gaussian PSNR differs between the two),
the first
table of ``docs/_generated/ts_study.rst`` (``experiments/ts_study.py``) and of
``docs/_generated/ffdnet_study.rst`` (``experiments/ffdnet_study.py``). Each cell is the
strategy's value and, in parentheses, its change against that source's ``normal`` model
(Gaussian PSNR in dB, drops in percent); writes ``docs/_generated/side_by_side.rst``::

    python tools/side_by_side.py
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from denoise_adv.evaluation import PAPER_TABLE2, PAPER_TABLE4
from denoise_adv.files import atomic_open
from denoise_adv.report import rst_list_table

DOCS = Path(__file__).parents[1] / "docs" / "_generated"
#: Our measures, by the column titles of each study's table.
STUDIES = {
    "DnCNN study": (DOCS / "ts_study.rst", {
        "gaussian": "PSNR σ25", "fixed_linf": "fixed-set L∞ drop",
        "fixed_l2": "fixed-set L2 drop", "wb_linf": "white-box L∞ drop"}),
    "FFDNet study": (DOCS / "ffdnet_study.rst", {
        "gaussian": "v1 Gaussian PSNR", "fixed_linf": "fixed-set L∞ drop",
        "fixed_l2": "fixed-set L2 drop", "wb_linf": "white-box L∞ drop"}),
}
MEASURES = {"gaussian": "Gaussian PSNR", "fixed_linf": "fixed-set L∞ drop",
            "fixed_l2": "fixed-set L2 drop", "wb_linf": "white-box L∞ drop"}
#: Rows in this order (a strategy no source has is left out).
ORDER = ["untouched (published)", "normal", "ts-pres", "ts-def", "ts-def-t10", "ts-def-t43",
         "ts-def-t4406", "mixed-25.5", "mixed-26", "adversarial", "control"]


def first_list_table(path: Path) -> list[dict[str, str]]:
    """The rows of the first ``list-table`` of a generated page, as ``{title: cell}``."""
    rows: list[list[str]] = []
    in_table = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(".. list-table::"):
            if in_table:
                break
            in_table = True
        elif in_table and (m := re.match(r"   ([* ]) - (.*)$", line)):
            if m.group(1) == "*":
                rows.append([])
            rows[-1].append(m.group(2))
    if not rows:
        raise ValueError(f"{path} holds no list-table")
    header, *body = rows
    return [dict(zip(header, row)) for row in body]


def mean_of(cell: str | None) -> float | None:
    """The mean of a cell (``"1.236 ± 0.002"`` -> 1.236); ``None`` when it holds none."""
    m = re.match(r"\s*([-+]?\d+(?:\.\d+)?)", cell or "")
    return float(m.group(1)) if m else None


def paper_values(table: dict = PAPER_TABLE2) -> dict[str, dict[str, str]]:
    """A table of the paper (Table 2 by default, or Table 4) in the studies' measures (its
    sets are crafted on its normal model: for that model they are white-box, for the others
    transfer)."""
    digits = 4 if table is PAPER_TABLE4 else 3
    return {model: {"gaussian": f"{p['gaussian']:.{digits}f}",
                    "fixed_linf": f"{p['gaussian'] - p['adv-linf']:.{digits}f}",
                    "fixed_l2": f"{p['gaussian'] - p['adv-l2']:.{digits}f}"}
            for model, p in table.items()}


def study_values(path: Path, columns: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{strategy: {measure: cell}}`` of one study's first table."""
    return {row[next(iter(row))]: {key: row[title] for key, title in columns.items()
                                   if title in row}
            for row in first_list_table(path)}


def with_change(key: str, cell: str | None, normal: str | None) -> str:
    """``cell`` with its change against ``normal`` (``None``: the row is normal itself): dB
    for PSNR, percent of normal's drop for drops (dB when that drop is not positive)."""
    value, base = mean_of(cell), mean_of(normal)
    if value is None:
        return "–"
    if base is None:
        return cell
    change = (f"{100 * (value - base) / base:+.0f}%" if key != "gaussian" and base > 0
              else f"{value - base:+.3f} dB")
    return f"{cell} ({change})"


def page() -> str:
    """The side-by-side table as a generated reStructuredText page."""
    sources = {"paper (Table 2, Set12)": paper_values(),
               "paper (Table 4, Set12)": paper_values(PAPER_TABLE4)}
    sources.update({name: study_values(path, cols) for name, (path, cols) in STUDIES.items()})
    header, measures = ["strategy"], {}
    for name in sources:
        measures[name] = [k for k in MEASURES if any(k in v for v in sources[name].values())]
        header += [f"{name}: {MEASURES[k]}" for k in measures[name]]
    rows = []
    for strategy in ORDER:
        if not any(strategy in values for values in sources.values()):
            continue
        row = [strategy]
        for name, values in sources.items():
            normal = {} if strategy == "normal" else values.get("normal", {})
            row += [with_change(k, values.get(strategy, {}).get(k), normal.get(k))
                    for k in measures[name]]
        rows.append(row)
    return "\n".join([".. generated by tools/side_by_side.py; do not edit", "",
                      *rst_list_table(
                          "The paper's Tables 2 and 4, the DnCNN study and the FFDNet study "
                          "(dB; in parentheses the change against the same source's normal "
                          "model: dB for PSNR, percent for drops; study cells as their pages "
                          "give them)", header, rows)])


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    try:
        text = page()
    except (OSError, ValueError) as exc:  # a study's page is missing or not a table
        raise SystemExit(f"side_by_side: error: {exc}") from None
    with atomic_open(DOCS / "side_by_side.rst", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
