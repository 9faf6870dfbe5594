"""sphinx-gallery image scraper for the figures the examples write as PNG files.

The package draws its figures on :class:`matplotlib.figure.Figure` objects that it saves and
closes (no pyplot state), so sphinx-gallery's matplotlib scraper does not see them. This
scraper shows every PNG written under ``examples_out/`` (in the example's folder, where
sphinx-gallery runs it) since the previous code block ended, in the order written.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

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
