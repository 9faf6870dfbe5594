"""Write the trained zoo (``tools/train_zoo.sh``) into the package with its manifest.

For each strategy run in ``runs/zoo/NAME/model.pt``: the weights (fp32) go to
``denoise_adv/models/zoo/dncnn-s25-NAME.pt``; ``manifest.json`` records the training
configuration, data, steps, seed, machine, time, the file's sha256 and the Gaussian PSNR/SSIM
on ``builtin:test`` at sigma 25 (noise seed 0), per image and mean, next to BM3D and NL-means on
the same noisy images. The tests re-evaluate every shipped model against these figures.

    python tools/export_zoo.py [--runs runs/zoo] [--no-bm3d]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from denoise_adv.analysis import evaluate_robustness, summarize
from denoise_adv.files import atomic_open, atomic_write, file_sha256
from denoise_adv.models import build, load_checkpoint, save_checkpoint
from denoise_adv.models.zoo import ZOO_DIR

STRATEGIES = ("normal", "ts-def", "ts-pres", "mixed-26", "adversarial")
SIGMA, SEED, DATA = 25 / 255, 0, "builtin:test"
DOCS_TABLE = Path(__file__).parents[1] / "docs" / "_generated" / "zoo_table.rst"


def scores(model) -> dict:
    rows = evaluate_robustness(model, DATA, SIGMA, {}, SEED, progress=False)
    mean = summarize(rows)[0]
    return {"psnr": mean["psnr"], "ssim": mean["ssim"],
            "per_image_psnr": {r["image"]: r["psnr"] for r in rows}}


def export(runs: Path, name: str) -> dict:
    model, meta = load_checkpoint(runs / name / "model.pt")
    base = load_checkpoint(runs / "base" / "model.pt")[1]
    file = f"dncnn-s25-{name}.pt"
    meta = {**meta, "zoo_name": file[:-3], "stage1": {k: base.get(k) for k in (
        "steps", "seed", "train_seconds", "device", "config")}}
    save_checkpoint(model, ZOO_DIR / file, meta)
    config = json.loads(meta["config"])
    return {"file": file, "sha256": file_sha256(ZOO_DIR / file), "strategy": meta["strategy"],
            "architecture": {"model": "dncnn", **model.config},
            "parameters": sum(p.numel() for p in model.parameters()),
            "data": config["data"], "steps": base["steps"] + meta["steps"],
            "stage1_steps": base["steps"], "stage2_steps": meta["steps"],
            "seed": {"stage1": base["seed"], "stage2": meta["seed"]},
            "train_seconds": {"stage1": base.get("train_seconds"),
                              "stage2": meta.get("train_seconds")},
            "config": config, "builtin_test": scores(model)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/zoo"))
    parser.add_argument("--no-bm3d", action="store_true", help="skip the BM3D reference")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    models = {f"dncnn-s25-{n}": export(args.runs, n) for n in STRATEGIES
              if (args.runs / n / "model.pt").is_file()}
    references = {"nlmeans": scores(build("nlmeans", sigma=SIGMA))}
    if not args.no_bm3d:
        references["bm3d"] = scores(build("bm3d", sigma=SIGMA))
    manifest = {
        "protocol": {"data": DATA, "sigma": SIGMA, "noise_seed": SEED,
                     "noise": "denoise_adv.analysis.noisy_image (stream 'noise', image name)",
                     "metrics": "PSNR (peak 1) and SSIM (Gaussian 11x11, sigma 1.5) of the "
                                "output clamped to [0, 1]"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "device": "cpu"},
        "models": models, "references": references}
    with atomic_open(ZOO_DIR / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=2)
    table = zoo_table(manifest)
    atomic_write(DOCS_TABLE, lambda f: f.write(table.encode()))
    print(table)


def zoo_table(manifest: dict) -> str:
    """The docs' table (reStructuredText), from the manifest alone."""
    lines = [".. list-table:: builtin:test (six 256x256 crops), sigma 25, noise seed 0",
             "   :header-rows: 1", "", "   * - model", "     - strategy", "     - PSNR (dB)",
             "     - SSIM", "     - steps",
             "     - training time (s, stage 1 + stage 2, "
             f"{manifest['machine']['cpu_count']}-core CPU)"]
    for name, entry in manifest["models"].items():
        seconds = " + ".join("not recorded" if t is None else f"{t:.0f}"
                             for t in entry["train_seconds"].values())
        lines += [f"   * - ``zoo:{name}``", f"     - {entry['strategy']}",
                  f"     - {entry['builtin_test']['psnr']:.3f}",
                  f"     - {entry['builtin_test']['ssim']:.4f}", f"     - {entry['steps']}",
                  f"     - {seconds}"]
    for name, entry in manifest["references"].items():
        lines += [f"   * - {name} (reference)", "     - classical", f"     - {entry['psnr']:.3f}",
                  f"     - {entry['ssim']:.4f}", "     - --", "     - --"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
