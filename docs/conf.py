"""Sphinx configuration. Builds offline (no intersphinx) with warnings as errors."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "denoise_adv"
author = "denoise_adv developers"
copyright = "2026, denoise_adv developers"
release = "0.1.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shape", "params_style"), ("Examples", "examples")]
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
