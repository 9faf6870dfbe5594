"""
TS noise in a torchvision data pipeline
=======================================

TS sampling (section 3.5) keeps, per training sample, the least likely of ``T + 1`` Gaussian
draws, which moves the noise off the Gaussian typical set, towards where adversarial
perturbations push it. This example builds a DataLoader of (noisy, clean) 40x40 patches with
:class:`~denoise_adv.transforms.TSNoise` (half TS, half Gaussian: TS-Def.), measures the AEP
deviation e(n) of the noise it draws against the theory, and compares it with the shift of an
L-inf attack of 2/255 (which :meth:`TSNoise.for_attack` covers). No model.
"""

# %%
import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from denoise_adv.data import NoisyPairs, builtin_image
from denoise_adv.transforms import GaussianNoise, TSNoise
from denoise_adv.typical import aep_deviation, attack_shift, ts_expected_shift

SIGMA, PATCH = 25 / 255, 40
d = PATCH * PATCH


def deviations(noise_transform, seed: int = 0) -> torch.Tensor:
    """e(n) of the noise of 512 (noisy, clean) patches drawn through a DataLoader."""
    torch.manual_seed(seed)
    crops = v2.RandomCrop(PATCH)
    images = [builtin_image(n) for n in ("coffee", "grass", "brick", "clock")]
    patches = [crops(images[i % len(images)]) for i in range(512)]
    pairs = NoisyPairs(patches, noise_transform)
    loader = DataLoader(pairs, batch_size=64, num_workers=2)
    return torch.cat([aep_deviation(noisy - clean, SIGMA) for noisy, clean in loader])


# %%
# Measured against the theory
# ---------------------------
linf = attack_shift(SIGMA, 2 / 255, "linf", d)
noises = {
    "Gaussian": (GaussianNoise(SIGMA, seed=0), 0.0),
    "TS-Def. (p=1/2, T=10)": (TSNoise.ts_def(SIGMA, seed=0),
                              ts_expected_shift(d, 10) / 2),
    "TS (p=1, T=10)": (TSNoise(SIGMA, seed=0), ts_expected_shift(d, 10)),
    "TS for L-inf 2/255": (TSNoise.for_attack(SIGMA, 2 / 255, "linf", d, seed=0), linf),
}
samples = {name: deviations(transform) for name, (transform, _) in noises.items()}
print(f"mean AEP deviation e(n), sigma 25/255, {PATCH}x{PATCH} patches")
print(f"{'noise':<24}{'measured':>10}{'theory':>10}")
for name, (_, theory) in noises.items():
    print(f"{name:<24}{samples[name].mean().item():>10.4f}{theory:>10.4f}")
print(f"worst-case L-inf 2/255 perturbation shifts e by {linf:.4f}")

# %%
# The distributions
# -----------------
# Gaussian noise concentrates around e = 0 (the typical set); the attack's shift (dashed) lies
# far outside it, and only TS with a large T (``for_attack``) reaches it.
fig, ax = plt.subplots(figsize=(7, 3.2))
for name, values in samples.items():
    ax.hist(values.numpy(), bins=40, histtype="step", lw=1.5, label=name)
ax.axvline(linf, color="black", ls="--", lw=1, label="L-inf 2/255 shift")
ax.set_xlabel("AEP deviation e(n) = (||n||^2 / (d sigma^2) - 1) / 2")
ax.set_ylabel("patches")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
