"""Sphinx configuration. Builds offline (no intersphinx) with warnings as errors.

The example gallery (sphinx-gallery) runs every ``examples/plot_*.py`` on each build and shows
its output, figures and running time (sphinx-gallery's measurement, the only timing a page
gives); an example that fails stops the build. Gallery pages carry no download links (see
:func:`_strip_gallery_downloads`).

Theme: furo. At 1280 px its content column shows code lines of up to about 90 characters
(keep the pages' code blocks within that; a longer line scrolls inside its block, never under
the page's edge), and it wraps every table in a container that scrolls sideways, so the wide
tables (the 13-column leaderboards, the 12-column side-by-side table) scroll instead of
running off the page.
"""

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("."))  # _gallery_scraper, _model_cards

project = "denoise_adv"
author = "denoise_adv developers"
copyright = "2026, denoise_adv developers"
release = "0.1.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode",
              "sphinx_gallery.gen_gallery", "_model_cards"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shape", "params_style"), ("Examples", "examples")]
html_theme = "furo"
html_title = "denoise_adv"
html_static_path = ["_static"]
html_css_files = ["tables.css"]  # a wide table's caption stays in view while it scrolls
# _generated/: tables written by tools/ and experiments/, pulled into pages by
# ``.. include::`` (not documents of their own, so a table no page includes yet is no toctree
# warning)
exclude_patterns = ["_build", "_generated"]
nitpicky = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # run every example (all are named plot_*.py)
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    # no download links: no "download all" archive, no notebooks; the per-page links, which
    # sphinx-gallery writes unconditionally, are removed by _strip_gallery_downloads
    "download_all_examples": False,
    "notebook_extensions": set(),
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib", "_gallery_scraper.png_scraper"),
    # the torchattacks example first, then the reading order of _gallery_scraper.ORDER
    "within_subsection_order": "_gallery_scraper.GalleryOrder",
    # a block's last expression is not echoed (a figure function returns its PNG's path: that
    # would print "PosixPath(...)"); output is what the examples print, figures are scraped
    "capture_repr": (),
    "remove_config_comments": True,
    "show_memory": False,
    "reset_modules": ("matplotlib",),
    "min_reported_time": 0,
}

#: What sphinx-gallery writes around each example's rST for downloads: the "Go to the end to
#: download the full example code" note at the top and the footer of download buttons.
_DOWNLOAD_BLOCKS = (
    re.compile(r"\.\. only:: html\n\n    \.\. note::\n        :class: sphx-glr-download-link-note"
               r"\n(?:\n|        .*\n)*"),
    re.compile(r"\.\. _sphx_glr_download_.*:\n\n\.\. only:: html\n\n"
               r"  \.\. container:: sphx-glr-footer sphx-glr-footer-example\n(?:\n|    .*\n)*"),
)


def _strip_gallery_downloads(app, docname: str, source: list[str]) -> None:
    """Remove the download note and the download footer from a generated example page (their
    ``:download:`` roles would also copy the sources into ``_downloads/``)."""
    if not docname.startswith(sphinx_gallery_conf["gallery_dirs"] + "/"):
        return
    text = source[0]
    for pattern in _DOWNLOAD_BLOCKS:
        text = pattern.sub("", text)
    if "sphx-glr-download" in text:  # sphinx-gallery changed its template: say so (-W fails)
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "download links left on %s: update _DOWNLOAD_BLOCKS in docs/conf.py", docname)
    source[0] = text


def setup(app) -> None:
    app.connect("source-read", _strip_gallery_downloads)
