"""Neighbourhoods of a noisy sample (sections 3.1-3.2, Fig. 4-6) on the shipped DnCNN.

Uses the zoo's normal DnCNN (shipped with the package), then sweeps circles in
the plane of the Gaussian noise and the attack (polar heat map), a sphere in the space of two
noises and the attack, and prints the numbers behind them.

Run: ``python examples/neighborhood.py``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from denoise_adv.analysis import (
    connected_set_check,
    neighborhood_2d,
    noisy_image,
    plot_polar,
    plot_sphere,
    sphere_sweep,
)
from denoise_adv.attacks import AttackSpec
from denoise_adv.data import builtin_image
from denoise_adv.models import pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_out/neighborhood")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    sigma = 25 / 255
    model = pretrained("dncnn-s25-normal")  # the shipped zoo model (no training)
    clean = builtin_image("camera")[None, :, 200:264, 220:284]
    n1 = noisy_image(clean, sigma, 0, "camera") - clean
    n2 = noisy_image(clean, sigma, 0, "camera", draw=1) - clean
    attack = AttackSpec("linf")
    delta = attack.build(model)(clean + n1, clean) - (clean + n1)
    norm = delta.norm().item()
    flat = neighborhood_2d(model, clean, n1, delta, [norm * r for r in (0.5, 1, 1.5, 2, 3)])
    print(f"attack direction: {flat['delta_angle_deg']:.1f} deg from the noise direction")
    for r, worst, frac in zip((0.5, 1, 1.5, 2, 3), flat["worst_angle_deg"],
                              flat["adversarial_fraction"]):
        print(f"radius {r:>3} x ||delta||: worst direction {worst:5.1f} deg, "
              f"adversarial fraction {frac:.0%}")
    check = connected_set_check(model, clean, n1, n2, attack)
    print(f"rotated noises harmless: {check['rotated_non_adversarial']:.0%}; combined attacks "
          f"adversarial: {check['combined_adversarial']:.0%}")
    polar = plot_polar(flat, out / "neighborhood_2d.png")
    sphere = plot_sphere(sphere_sweep(model, clean, n1, n2, delta, norm),
                         out / "neighborhood_3d.png")
    print(f"wrote {polar.resolve()} and {sphere.resolve()}")


if __name__ == "__main__":
    main()
