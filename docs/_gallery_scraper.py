"""sphinx-gallery helpers: the gallery's order, and an image scraper for the figures the
examples write as PNG files.

Order (:class:`GalleryOrder`): the examples of :data:`ORDER` first, in that order (attacking a
denoiser the torchattacks way leads: it is what a newcomer wants first), then any other example
by file name.

Scraper (:func:`png_scraper`): the package draws its figures on
:class:`matplotlib.figure.Figure` objects that it saves and closes (no pyplot state), so
sphinx-gallery's matplotlib scraper does not see them. This scraper shows every PNG written
under ``examples_out/`` (in the example's folder, where sphinx-gallery runs it) since the
previous code block ended, in the order written.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

#: The gallery's reading order (file names under ``examples/``).
ORDER = (
    "plot_attack_with_torchattacks.py",
    "plot_ts_noise_pipeline.py",
    "plot_train_small_model.py",
    "plot_evaluate_strategies.py",
    "plot_transferability.py",
    "plot_neighborhood.py",
    "plot_patch_attack.py",
    "plot_art_attack.py",
)


class GalleryOrder:
    """sphinx-gallery's ``within_subsection_order`` key: :data:`ORDER`, then by file name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = Path(filename).name
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    def __repr__(self) -> str:  # sphinx-gallery keys its cache on the config's repr
        return f"GalleryOrder({ORDER})"


#: Time the previous code block ended (files older than it belong to earlier blocks or runs).
_last = [time.time()]


def _new_pngs(folder: Path, since: float) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [(p.stat().st_mtime, p) for p in folder.rglob("*.png") if p.stat().st_mtime >= since]
    return [p for _, p in sorted(found)]


def png_scraper(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """Copy the PNG files written by the last code block into the gallery; return their rST."""
    from sphinx_gallery.scrapers import figure_rst

    since, _last[0] = _last[0], time.time()
    folder = Path(block_vars["src_file"]).parent / "examples_out"
    images = []
    for png, target in zip(_new_pngs(folder, since), block_vars["image_path_iterator"]):
        shutil.copyfile(png, target)
        images.append(target)
    return figure_rst(images, gallery_conf["src_dir"])
