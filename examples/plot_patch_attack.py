"""
Patch attacks (Fig. 8)
======================

Adversarial noise confined to a square patch hurts the denoised output there and almost
nowhere else, whether it was crafted for the patch alone (method 1) or cut out of a whole-image
attack (method 2). Uses the shipped normal DnCNN on a 128x128 crop of ``camera``; the figure
outlines the patch and shows the perturbation and the change of the denoised output.
"""

# %%
from pathlib import Path

import torch

from denoise_adv.analysis import noisy_image, patch_attack, plot_patch_attack
from denoise_adv.attacks import AttackSpec
from denoise_adv.data import builtin_image
from denoise_adv.models import pretrained

OUT = Path("examples_out") / "patch_attack"
model = pretrained("dncnn-s25-normal")  # the shipped zoo model (no training)
clean = builtin_image("camera")[None, :, 160:288, 192:320]
noisy = noisy_image(clean, 25 / 255, 0, "camera")
box = (40, 40, 48, 48)  # top, left, height, width
result = patch_attack(model, clean, noisy, box, AttackSpec("linf", eps=4 / 255))
for method in ("method1", "method2"):
    r = result[method]
    print(f"{method}: local PSNR drop inside the patch {r['drop_inside']:.2f} dB, "
          f"outside {r['drop_outside']:.3f} dB")

# %%
# The figure
# ----------
# Left to right: the adversarial input, its denoised output, the perturbation and the change
# of the denoised output (both in 8-bit levels, white = 0). The damage stays in the patch and
# its immediate border (the receptive field of the network).
with torch.no_grad():
    denoised = {"gaussian": model(noisy), **{m: model(result[f"{m}_input"])
                                             for m in ("method1", "method2")}}
plot_patch_attack(result, noisy, denoised, OUT / "patch_attack.png",
                  "camera, 128x128 crop: L-inf 4/255 inside the outlined 48x48 patch")
