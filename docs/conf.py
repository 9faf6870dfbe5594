"""Sphinx configuration. Builds offline (no intersphinx) with warnings as errors.

The example gallery (sphinx-gallery) runs every ``examples/plot_*.py`` on each build and shows
its output, figures and running time; an example that fails stops the build.
"""

import os
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
html_theme = "alabaster"
# _generated/: tables written by experiments/, pulled into pages by ``.. include::`` (not
# documents of their own, so a table no page includes yet is no toctree warning)
exclude_patterns = ["_build", "_generated"]
nitpicky = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # run every example (all are named plot_*.py)
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,  # no download links or zip archives
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib", "_gallery_scraper.png_scraper"),
    "remove_config_comments": True,
    "show_memory": False,
    "reset_modules": ("matplotlib",),
    "min_reported_time": 0,
}
