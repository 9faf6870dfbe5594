"""
ART's own attacks on a denoiser
===============================

:class:`denoise_adv.integrations.art.PyTorchDenoiser` makes any PyTorch denoiser an estimator of the
Adversarial Robustness Toolbox (ART), so ART's FGM, BIM and PGD run on it with ``x`` = the noisy
images and ``y`` = the clean ones. This example wraps the shipped normal DnCNN, attacks two
64x64 noisy crops of ``camera`` with each (L-inf and L2, 2/255 per pixel) and plots the PSNR
drops. Needs ``pip install "denoise-adv[art]"``.
"""

# %%
# The three lines ART users write
# -------------------------------
# ``clip_values=None`` (the default): noisy images are not clipped, so ART must not clip them.
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from art.attacks.evasion import (
    BasicIterativeMethod,
    FastGradientMethod,
    ProjectedGradientDescent,
)

from denoise_adv.data import builtin_image
from denoise_adv.integrations.art import PyTorchDenoiser
from denoise_adv.metrics import psnr
from denoise_adv.models import pretrained

OUT = Path("examples_out") / "art_attack"
model = pretrained("dncnn-s25-normal")
camera = builtin_image("camera")
clean = torch.stack([camera[:, 64:128, 192:256], camera[:, 300:364, 100:164]])
noise_rng = torch.Generator().manual_seed(1)
noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=noise_rng)
x, y = noisy.numpy(), clean.numpy()

estimator = PyTorchDenoiser(model, input_shape=(1, 64, 64), device_type="cpu")
attack = ProjectedGradientDescent(estimator, norm=np.inf, eps=2 / 255,
                                  eps_step=0.5 / 255, max_iter=10, verbose=False)
adv = attack.generate(x=x, y=y)  # y: the clean images (required)

# %%
# FGM, BIM and PGD, L-inf and L2
# ------------------------------
# For L2 the budget is the same 2/255 read as RMS per pixel: radius 2/255 * sqrt(64 * 64).
eps, radius = 2 / 255, 2 / 255 * 64
attacks = {
    "PGD L-inf": adv,
    "FGM L-inf": FastGradientMethod(estimator, norm=np.inf, eps=eps).generate(x=x, y=y),
    "FGM L2": FastGradientMethod(estimator, norm=2, eps=radius).generate(x=x, y=y),
    "BIM": BasicIterativeMethod(estimator, eps=eps, eps_step=eps / 4, max_iter=10,
                                verbose=False).generate(x=x, y=y),
    "PGD L2": ProjectedGradientDescent(estimator, norm=2, eps=radius,
                                       eps_step=radius / 4, max_iter=10,
                                       verbose=False).generate(x=x, y=y),
}


def score(inputs: np.ndarray) -> float:
    """Mean PSNR (dB) of the estimator's clamped output."""
    out = torch.from_numpy(estimator.predict(inputs)).clamp(0, 1)
    return psnr(out, clean).mean().item()


base = score(x)
drops = {name: base - score(adv_x) for name, adv_x in attacks.items()}
print(f"denoised PSNR without attack: {base:.2f} dB")
for name, drop in drops.items():
    print(f"{name:<10} drop {drop:.2f} dB")

# %%
# The drops side by side
# ----------------------
OUT.mkdir(parents=True, exist_ok=True)
fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(drops), list(drops.values()), color="tab:red")
ax.set_xlabel("PSNR drop of the denoised output (dB)")
ax.set_title("ART attacks on the zoo DnCNN (2/255 per pixel)", fontsize=10)
fig.tight_layout()
plt.show()
