"""Measure the published models (``zoo:ffdnet-ipol-gray``, ``zoo:ffdnet-ipol-color``) and record
them in ``denoise_adv/models/zoo/published.json`` with the docs' table.

For each published model: the package and version it was read from, the weight file's sha256
(a later load refuses another file under the same name), and the Gaussian PSNR/SSIM per image
and mean, on the noise of :func:`denoise_adv.analysis.noisy_image` (seed 0) at sigma 25:

- gray: ``builtin:test`` (six 256x256 crops), next to BM3D, NL-means and the zoo's DnCNNs;
- colour: the 256x256 colour crops of astronaut and chelsea (protocol v1-color's images),
  next to CBM3D (``bm3d.bm3d_rgb``) and colour NL-means.

Needs ``pip install -e ".[published,baselines]"``; about a minute on 2 CPU cores (BM3D).

    python tools/measure_published.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from denoise_adv.analysis import evaluate_robustness, summarize
from denoise_adv.benchmark import PROTOCOL_V1_COLOR, load_images
from denoise_adv.files import atomic_open, atomic_write, file_sha256
from denoise_adv.models import build, pretrained, zoo_manifest
from denoise_adv.models.published import PUBLISHED, RECORD, published_file

SIGMA, SEED = 25 / 255, 0
DOCS_TABLE = Path(__file__).parents[1] / "docs" / "_generated" / "published_table.rst"


def scores(model, data, channels: int) -> dict:
    rows = evaluate_robustness(model, data, SIGMA, {}, SEED, channels=channels, progress=False)
    mean = summarize(rows)[0]
    return {"psnr": mean["psnr"], "ssim": mean["ssim"],
            "per_image_psnr": {r["image"]: r["psnr"] for r in rows}}


def measure(name: str) -> dict:
    spec = PUBLISHED[name]
    path, version = published_file(name)
    data = "builtin:test" if spec.channels == 1 else load_images(PROTOCOL_V1_COLOR)
    model = pretrained(name, sigma=SIGMA)
    return {"package": spec.package, "version": version, "file": spec.file,
            "sha256": file_sha256(path), "licence": spec.licence,
            "parameters": sum(p.numel() for p in model.parameters()),
            "architecture": {"model": "ffdnet", **model.config},
            "data": "builtin:test" if spec.channels == 1 else "builtin:test colour crops of "
            + ", ".join(PROTOCOL_V1_COLOR.images),
            "builtin_test": scores(model, data, spec.channels)}


def references(no_bm3d: bool) -> dict:
    colour = load_images(PROTOCOL_V1_COLOR)
    out = {"gray": {"nlmeans": scores(build("nlmeans", sigma=SIGMA), "builtin:test", 1)},
           "color": {"nlmeans": scores(build("nlmeans", sigma=SIGMA, channels=3), colour, 3)}}
    if not no_bm3d:
        out["gray"]["bm3d"] = scores(build("bm3d", sigma=SIGMA), "builtin:test", 1)
        out["color"]["cbm3d"] = scores(build("bm3d", sigma=SIGMA, channels=3), colour, 3)
    return out


def table(record: dict) -> str:
    """The docs' table (reStructuredText), from the record and the zoo's manifest alone."""
    lines = [".. list-table:: Published models next to the classical baselines and the zoo "
             "(sigma 25, noise seed 0; gray: builtin:test, colour: astronaut and chelsea)",
             "   :header-rows: 1", "", "   * - model", "     - images", "     - PSNR (dB)",
             "     - SSIM", "     - source"]

    def row(name: str, images: str, entry: dict, source: str) -> None:
        nonlocal lines
        lines += [f"   * - {name}", f"     - {images}", f"     - {entry['psnr']:.3f}",
                  f"     - {entry['ssim']:.4f}", f"     - {source}"]

    for name, entry in record["models"].items():
        images = "gray" if PUBLISHED[name].channels == 1 else "colour"
        row(f"``zoo:{name}``", images, entry["builtin_test"],
            f"``{entry['package']}`` {entry['version']} ({entry['licence']})")
    for kind, refs in record["references"].items():
        for name, entry in refs.items():
            row(name, "gray" if kind == "gray" else "colour", entry, "classical")
    for name, entry in zoo_manifest()["models"].items():
        row(f"``zoo:{name}``", "gray", entry["builtin_test"], "shipped (MIT)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D and CBM3D")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    record = {
        "protocol": {"sigma": SIGMA, "noise_seed": SEED,
                     "noise": "denoise_adv.analysis.noisy_image (stream 'noise', image name)",
                     "metrics": "PSNR (peak 1) and SSIM (Gaussian 11x11, sigma 1.5) of the "
                                "output clamped to [0, 1]"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "device": "cpu"},
        "models": {name: measure(name) for name in PUBLISHED},
        "references": references(args.no_bm3d)}
    with atomic_open(RECORD, "w") as f:
        json.dump(record, f, indent=2)
    text = table(record)
    atomic_write(DOCS_TABLE, lambda f: f.write(text.encode()))
    print(text)


if __name__ == "__main__":
    main()
