"""
Attack a denoiser the torchattacks way
======================================

Every attack of the package is a :class:`torchattacks.Attack`: build it on a model, call it on
a batch. Where torchattacks takes class labels, these take the clean images. This example
attacks the shipped normal DnCNN (``zoo:dncnn-s25-normal``) on a 128x128 crop of ``camera``
with L-inf and L2 Denoising-PGD, FGSM, BIM and ObsAtk, compares each with random noise of the
same L2 size, and shows why ``torchattacks.PGD`` itself does not attack a denoiser.
"""

# %%
# The model and a noisy image
# ---------------------------
# Noisy images are not clipped to [0, 1] (the DnCNN convention).
from pathlib import Path

import torch
import torchattacks

from denoise_adv import DenoiseBIM, DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk
from denoise_adv.analysis import plot_comparison_strip
from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.models import pretrained

OUT = Path("examples_out") / "attack_with_torchattacks"
model = pretrained("dncnn-s25-normal")  # shipped with the package, in eval mode
clean = builtin_image("camera")[None, :, 64:192, 192:320]
noise_rng = torch.Generator().manual_seed(1)
noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=noise_rng)


def denoised_psnr(x: torch.Tensor) -> float:
    """PSNR (dB) of the model's output on ``x``, clamped to [0, 1] to score it."""
    with torch.no_grad():
        return psnr(model(x).clamp(0, 1), clean).item()


base = denoised_psnr(noisy)
print(f"denoised PSNR without attack: {base:.2f} dB")

# %%
# Five attacks, one budget
# ------------------------
# ``eps = 2/255`` per pixel; the L2 attacks read it as RMS per pixel (``per_pixel=True``).
eps = 2 / 255
attacks = {
    "DenoisePGD (L-inf)": DenoisePGD(model, eps=eps, alpha=eps / 4, steps=10),
    "DenoisePGDL2 (per pixel)": DenoisePGDL2(model, eps=eps, alpha=eps / 4, steps=10,
                                             per_pixel=True),
    "DenoiseFGSM": DenoiseFGSM(model, eps=eps),
    "DenoiseBIM": DenoiseBIM(model, eps=eps, alpha=eps / 4, steps=10),
    "ObsAtk (per pixel)": ObsAtk(model, eps=eps, alpha=eps / 4, steps=10,
                                 per_pixel=True),
}
print(f"{'attack':<26}{'PSNR':>8}{'drop':>8}{'random drop':>13}")
generator = torch.Generator().manual_seed(0)
adversarial = {}
for name, atk in attacks.items():
    adv = atk(noisy, clean)  # torchattacks' call: (inputs, "labels" = the clean images)
    delta = adv - noisy
    rand = torch.randn(delta.shape, generator=generator)
    rand = rand / rand.norm() * delta.norm()  # random noise of the same L2 size
    adversarial[name] = adv
    p_adv, p_rand = denoised_psnr(adv), denoised_psnr(noisy + rand)
    print(f"{name:<26}{p_adv:>8.2f}{base - p_adv:>8.2f}{base - p_rand:>13.2f}")

# %%
# What the attack does to the output
# ----------------------------------
# The perturbation (scaled to the full gray range) is tiny next to the noise, yet the denoised
# output changes far more than under random noise of the same size.
adv = adversarial["DenoisePGD (L-inf)"]
with torch.no_grad():
    panels = [("noisy", noisy), ("denoised", model(noisy)), ("adversarial (PGD)", adv),
              ("denoised adversarial", model(adv)),
              ("perturbation x 255/4", 0.5 + (adv - noisy) * 255 / 8)]
plot_comparison_strip([("camera", panels)], OUT / "pgd.png")

# %%
# Why not ``torchattacks.PGD(model)``?
# ------------------------------------
# torchattacks' own attacks are for classifiers: their loss is a cross-entropy over the output
# channels (one channel here: its gradient is exactly zero), and they clamp every step to
# [0, 1]. On a denoiser they return the noisy image clipped, which is not an attack.
plain = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=False)
out = plain(noisy, clean)
print("torchattacks.PGD returned noisy.clamp(0, 1):",
      torch.equal(out, noisy.clamp(0, 1)))
print(f"its PSNR {denoised_psnr(out):.2f} dB (the clamped input alone: "
      f"{denoised_psnr(noisy.clamp(0, 1)):.2f} dB); DenoisePGD: "
      f"{denoised_psnr(adversarial['DenoisePGD (L-inf)']):.2f} dB")
