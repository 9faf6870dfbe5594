"""Tables and figures: plain text for the terminal, Markdown/CSV files, matplotlib PNGs.

Figures use matplotlib's non-interactive Agg backend and are written atomically.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._io import atomic_open, atomic_write

__all__ = ["format_table", "image_array", "markdown_table", "new_figure", "plot_comparison_strip",
           "rst_list_table", "save_figure", "write_csv", "write_markdown"]


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], floatfmt: str = ".3f") -> str:
    """Align ``rows`` (dicts with the same keys) as a plain-text table.

    Example:
        >>> print(format_table([{"name": "a", "psnr": 30.0}, {"name": "bb", "psnr": 29.5}]))
        name    psnr
        a     30.000
        bb    29.500
    """
    if not rows:
        raise ValueError("rows must not be empty")
    columns = list(rows[0])
    cells = [[_cell(row[c], floatfmt) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[c], (int, float)) for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns)] + [line(r) for r in cells])


def markdown_table(rows: Sequence[dict[str, Any]], floatfmt: str = ".3f",
                   title: str | None = None, level: int = 1) -> str:
    """``rows`` (dicts with the same keys) as a Markdown table, under a heading of ``level``
    when ``title`` is given; floats formatted with ``floatfmt``, no trailing newline.

    Example:
        >>> print(markdown_table([{"name": "a", "psnr": 30.0}], title="PSNR", level=2))
        ## PSNR
        <BLANKLINE>
        | name | psnr |
        |---|---|
        | a | 30.000 |
    """
    if not rows:
        raise ValueError("rows must not be empty")
    columns = list(rows[0])
    lines = [f"{'#' * level} {title}", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(_cell(r[c], floatfmt) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def rst_list_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A reStructuredText ``list-table`` (one header row) as lines, ending with a blank one:
    the tables of ``docs/_generated``.

    Example:
        >>> print("\\n".join(rst_list_table("PSNR", ["model", "dB"], [["a", "30.0"]])))
        .. list-table:: PSNR
           :header-rows: 1
        <BLANKLINE>
           * - model
             - dB
           * - a
             - 30.0
        <BLANKLINE>

    With no rows a list-table would not build (docutils needs a body row), so the title is
    written as a sentence saying there are none yet:

        >>> rst_list_table("Tests", ["branch", "p"], [])
        ['Tests: none yet.', '']
    """
    if not rows:
        return [f"{title}: none yet.", ""]
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines += [f"   {'*' if j == 0 else ' '} - {cell}" for j, cell in enumerate(row)]
    return [*lines, ""]


def write_markdown(rows: Sequence[dict[str, Any]], path: str | os.PathLike,
                   floatfmt: str = ".3f", title: str | None = None) -> Path:
    """Write ``rows`` as a Markdown table (optionally under a heading), atomically."""
    text = markdown_table(rows, floatfmt, title)
    with atomic_open(path, "w") as f:
        f.write(text + "\n")
    return Path(path)


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write ``rows`` as CSV (full precision), atomically."""
    if not rows:
        raise ValueError("rows must not be empty")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_open(path, "w") as f:
        f.write(buffer.getvalue())
    return Path(path)


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None,
               squeeze: bool = True, subplot_kw: dict[str, Any] | None = None):
    """``(figure, axes)`` like ``pyplot.subplots``, built on :class:`matplotlib.figure.Figure`
    directly: no pyplot state and no backend switch, so a user's backend is left alone."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, subplot_kw=subplot_kw)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


def image_array(image: torch.Tensor) -> np.ndarray:
    """An image (C, H, W) or (1, C, H, W) as the array imshow takes, clamped to [0, 1]."""
    x = image.detach().float().cpu().clamp(0, 1)
    x = x[0] if x.dim() == 4 else x
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def plot_comparison_strip(rows: Sequence[tuple[str, Sequence[tuple[str, torch.Tensor]]]],
                          path: str | os.PathLike) -> Path:
    """A grid of images: one row per image, one column per panel (clean, noisy, adversarial,
    denoised ...). ``rows`` = ``[(row title, [(panel title, image), ...]), ...]``."""
    n_rows, n_cols = len(rows), max(len(panels) for _, panels in rows)
    fig, axes = new_figure(n_rows, n_cols, figsize=(2.4 * n_cols, 2.5 * n_rows), squeeze=False)
    for r, (title, panels) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(panels):
                name, image = panels[c]
                ax.imshow(image_array(image), cmap="gray", vmin=0, vmax=1)
                ax.set_title(name, fontsize=8)
        axes[r][0].text(-0.05, 0.5, title, transform=axes[r][0].transAxes, rotation=90,
                        ha="right", va="center", fontsize=9)
    return save_figure(fig, path)
