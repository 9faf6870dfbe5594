"""PSNR / SSIM of the classical baselines (BM3D, NL-means) on ``builtin:test`` at sigma 25.

Uses the package's evaluation noise (``denoise_adv.analysis.noisy_image``, seed 0, keyed by the
image name), so the numbers compare directly with ``denoise-adv evaluate`` on the same images.
Outputs are clamped to [0, 1] before scoring. About 30 s on 2 CPU cores (BM3D ~3.5 s an image).

Usage: python experiments/baselines_builtin_test.py [--sigma 25] [--data builtin:test]
"""

from __future__ import annotations

import argparse
import time

from denoise_adv.analysis import load_dataset, noisy_image
from denoise_adv.metrics import psnr, ssim
from denoise_adv.models import BM3D, NLMeans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=25.0, help="noise level in 8-bit levels")
    parser.add_argument("--data", default="builtin:test", help="images (folder or builtin:...)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    args = parser.parse_args()
    sigma = args.sigma / 255
    images = load_dataset(args.data)
    models = {"bm3d": BM3D(sigma), "nlmeans": NLMeans(sigma)}
    totals = {name: [0.0, 0.0, 0.0] for name in ["noisy", *models]}
    print(f"{'image':<12} " + " ".join(f"{m + ' PSNR/SSIM':>22}" for m in totals))
    for image, clean in images:
        clean = clean[None]
        noisy = noisy_image(clean, sigma, args.seed, image)
        cells = []
        for name in totals:
            start = time.perf_counter()
            out = noisy if name == "noisy" else models[name](noisy)
            seconds = time.perf_counter() - start
            out = out.clamp(0, 1)
            p, s = psnr(out, clean).item(), ssim(out, clean).item()
            for i, value in enumerate((p, s, seconds)):
                totals[name][i] += value
            cells.append(f"{p:8.2f} / {s:.4f}")
        print(f"{image:<12} " + " ".join(f"{c:>22}" for c in cells))
    n = len(images)
    print(f"{'mean':<12} " + " ".join(f"{t[0] / n:8.2f} / {t[1] / n:.4f}".rjust(22)
                                      for t in totals.values()))
    print("seconds per image: " + ", ".join(f"{k} {t[2] / n:.2f}" for k, t in totals.items()
                                            if k != "noisy"))
    print(f"({n} images of {args.data}, sigma {args.sigma:g}/255, noise seed {args.seed}; "
          "noisy column: the input clamped to [0, 1])")


if __name__ == "__main__":
    main()
