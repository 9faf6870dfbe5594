"""Patch attacks (section 3.3.3, Fig. 8): adversarial noise confined to a square patch hurts
the denoised output there and nowhere else, whether it was crafted for the patch alone
(method 1) or cut out of a whole-image attack (method 2). Uses the cached demo DnCNN.

Run: ``python examples/patch_attack.py``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from denoise_adv.analysis import noisy_image, patch_attack, plot_comparison_strip
from denoise_adv.attacks import AttackSpec
from denoise_adv.data import builtin_image
from denoise_adv.models import pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_out/patch_attack")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    sigma = 25 / 255
    model = pretrained("dncnn-s25-normal")  # the shipped zoo model (no training)
    clean = builtin_image("camera")[None, :, 128:384, 128:384]
    noisy = noisy_image(clean, sigma, 0, "camera")
    result = patch_attack(model, clean, noisy, (96, 96, 64, 64), AttackSpec("linf", eps=4 / 255))
    for method in ("method1", "method2"):
        r = result[method]
        print(f"{method}: local PSNR drop inside the patch {r['drop_inside']:.2f} dB, "
              f"outside {r['drop_outside']:.3f} dB")
    with torch.no_grad():
        panels = [("noisy", noisy), ("denoised", model(noisy))]
        for method in ("method1", "method2"):
            panels.append((f"{method} denoised", model(result[f"{method}_input"])))
    figure = plot_comparison_strip([("camera", panels)], Path(args.out) / "patch_attack.png")
    print(f"wrote {figure.resolve()}")


if __name__ == "__main__":
    main()
