"""Does dead-leaves data help the zoo's denoiser? A measurement (the data is kept only if it does).

Dead leaves (Achddou, Gousseau, Ladjal, "Synthetic images as a regularity prior for image
restoration neural networks", 2021): occluding disks with power-law radii (density r^-3 between
``R_MIN`` and ``R_MAX`` pixels) and uniform grey levels, stacked until the image is covered;
seeded, so the set is the same on every machine.

The comparison fine-tunes the zoo's stage-1 model (``runs/zoo/base``) exactly as the zoo's
``normal`` branch was (1000 steps, lr 1e-4, batch 64, seed 1, bf16 + channels_last), once on
``builtin:train`` plus ``COUNT`` dead-leaves images and compares the Gaussian PSNR on
``builtin:test`` with the shipped ``dncnn-s25-normal`` (the same branch on ``builtin:train``
alone). Resumable.

    python experiments/deadleaves.py [--out runs/deadleaves]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from denoise_adv.files import write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from _common import cli  # noqa: E402  (tools/_common.py: the shared helpers)

SIZE, COUNT, R_MIN, R_MAX, SEED = 256, 40, 2.0, 100.0, 7
ZOO = Path("runs/zoo")


def dead_leaves(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One dead-leaves image (size x size, [0, 1]): disks drawn front to back, each painting
    only the pixels no earlier (nearer) disk covers, until every pixel is covered."""
    image = np.full((size, size), np.nan)
    yy, xx = np.mgrid[:size, :size]
    while np.isnan(image).any():
        # radius with density r^-3 on [R_MIN, R_MAX], by inverting its distribution function
        u = rng.random()
        radius = (R_MIN**-2 - u * (R_MIN**-2 - R_MAX**-2)) ** -0.5
        cy, cx = rng.uniform(-radius, size + radius, 2)
        lo_y, hi_y = max(int(cy - radius), 0), min(int(cy + radius) + 1, size)
        lo_x, hi_x = max(int(cx - radius), 0), min(int(cx + radius) + 1, size)
        if lo_y >= hi_y or lo_x >= hi_x:
            continue
        window = (slice(lo_y, hi_y), slice(lo_x, hi_x))
        inside = (yy[window] - cy) ** 2 + (xx[window] - cx) ** 2 <= radius**2
        free = inside & np.isnan(image[window])
        image[window][free] = rng.random()
    return image


def write_data(folder: Path) -> Path:
    """builtin:train's photographs and COUNT dead-leaves images as PNGs in one folder."""
    from denoise_adv.data import iter_images, save_png

    if (folder / "done").is_file():
        return folder
    for name, image in iter_images("builtin:train", 1):
        save_png(image, folder / f"{name}.png")
    rng = np.random.default_rng(SEED)
    for i in range(COUNT):
        image = torch.from_numpy(dead_leaves(rng)).float()[None]
        save_png(image, folder / f"deadleaves{i:02d}.png")
    (folder / "done").write_text("")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/deadleaves"))
    args = parser.parse_args()
    data = write_data(args.out / "data")
    run = args.out / "train"
    if not (run / "model.pt").is_file():
        resume = ["--resume"] if (run / "checkpoint.pt").is_file() else []
        cli("train", "--out", run, "--model", "dncnn", "--depth", 10, "--features", 32,
            "--sigma", 25, "--data", data, "--batch-size", 64, "--amp", "auto",
            "--channels-last", "--checkpoint-every", 250, "--quiet", "--strategy", "normal",
            "--init", ZOO / "base" / "model.pt", "--steps", 1000, "--lr", "1e-4",
            "--milestones", 1000, "--seed", 1, *resume)
    from denoise_adv.analysis import evaluate_robustness, summarize
    from denoise_adv.models import load_checkpoint, pretrained

    scores = {}
    for label, model in (("builtin:train only (zoo normal)", pretrained("dncnn-s25-normal")),
                         (f"builtin:train + {COUNT} dead leaves", load_checkpoint(
                             run / "model.pt")[0].eval())):
        mean = summarize(evaluate_robustness(model, "builtin:test", 25 / 255, {}, 0,
                                             progress=False))[0]
        scores[label] = {"psnr": mean["psnr"], "ssim": mean["ssim"]}
        print(f"{label}: PSNR {mean['psnr']:.3f} dB, SSIM {mean['ssim']:.4f} on builtin:test")
    write_json(args.out / "result.json", scores, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
