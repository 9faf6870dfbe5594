"""
Neighbourhoods of a noisy sample (Fig. 4-6)
===========================================

Sections 3.1-3.2 of the paper: how the denoised PSNR changes around a noisy image, on circles
in the plane of its Gaussian noise and of an adversarial perturbation (polar heat map, eq. 10),
and on a sphere in the space of two noises and the attack (eq. 11). Uses the shipped normal
DnCNN on a 48x48 crop of ``camera``.
"""

# %%
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

OUT = Path("examples_out") / "neighborhood"
sigma = 25 / 255
model = pretrained("dncnn-s25-normal")  # the shipped zoo model (no training)
clean = builtin_image("camera")[None, :, 200:248, 220:268]
n1 = noisy_image(clean, sigma, 0, "camera") - clean
n2 = noisy_image(clean, sigma, 0, "camera", draw=1) - clean
attack = AttackSpec("linf")  # L-inf 2/255, 10 steps
delta = attack.build(model)(clean + n1, clean) - (clean + n1)
norm = delta.norm().item()

# %%
# Circles in the plane of the noise and the attack
# ------------------------------------------------
# Radii in multiples of the attack's L2 length; 0 degrees is the noise direction.
multiples = (0.5, 1, 1.5, 2, 3)
flat = neighborhood_2d(model, clean, n1, delta, [norm * r for r in multiples],
                      angles=48)
print(f"attack direction: {flat['delta_angle_deg']:.1f} deg from the noise direction")
rows = zip(multiples, flat["worst_angle_deg"], flat["adversarial_fraction"])
for r, worst, frac in rows:
    print(f"radius {r:>3} x ||delta||: worst direction {worst:5.1f} deg, "
          f"adversarial fraction {frac:.0%}")
plot_polar(flat, OUT / "neighborhood_2d.png",
           "camera 48x48: PSNR around the noisy image", radius_unit=norm)

# %%
# A sphere around the noisy image
# -------------------------------
# Azimuth in the plane of two independent noises, elevation towards the attack.
plot_sphere(sphere_sweep(model, clean, n1, n2, delta, norm, azimuths=16, elevations=7),
            OUT / "neighborhood_3d.png", "camera 48x48: sphere of radius ||delta||")

# %%
# The connected-set check of section 3.2
# --------------------------------------
check = connected_set_check(model, clean, n1, n2, attack)
print(f"rotated noises harmless: {check['rotated_non_adversarial']:.0%}; "
      f"combined attacks adversarial: {check['combined_adversarial']:.0%}")
