"""TS noise in a torchvision data pipeline, and how far it moves the noise off the typical set.

Builds a DataLoader of (noisy, clean) 40x40 patches of built-in images with
``TSNoise.ts_def`` (half TS, half Gaussian), then compares the mean AEP deviation e(n) of the
noise it draws with Gaussian noise, with the theory, and with the shift of an L-inf attack of
2/255 (``TSNoise.for_attack`` covers that budget). Prints a table; writes nothing.

Run: ``python examples/ts_noise_pipeline.py``
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from denoise_adv.data import NoisyPairs, builtin_image
from denoise_adv.transforms import GaussianNoise, TSNoise
from denoise_adv.typical import aep_deviation, attack_shift, ts_expected_shift

SIGMA, PATCH = 25 / 255, 40


def mean_aep(noise_transform, seed: int = 0) -> float:
    torch.manual_seed(seed)
    crops = v2.RandomCrop(PATCH)
    images = [builtin_image(n) for n in ("coffee", "grass", "brick", "clock")]
    patches = [crops(images[i % len(images)]) for i in range(512)]
    loader = DataLoader(NoisyPairs(patches, noise_transform), batch_size=64, num_workers=2)
    return torch.cat([aep_deviation(noisy - clean, SIGMA) for noisy, clean in loader]).mean().item()


def main() -> None:
    d = PATCH * PATCH
    linf = attack_shift(SIGMA, 2 / 255, "linf", d)
    rows = [
        ("Gaussian", mean_aep(GaussianNoise(SIGMA, seed=0)), 0.0),
        ("TS-Def. (p=1/2, T=10)", mean_aep(TSNoise.ts_def(SIGMA, seed=0)),
         ts_expected_shift(d, 10) / 2),
        ("TS (p=1, T=10)", mean_aep(TSNoise(SIGMA, seed=0)), ts_expected_shift(d, 10)),
        ("TS for L-inf 2/255", mean_aep(TSNoise.for_attack(SIGMA, 2 / 255, "linf", d, seed=0)),
         linf),
    ]
    print(f"mean AEP deviation e(n) of the training noise, sigma 25/255, {PATCH}x{PATCH} patches")
    print(f"{'noise':<24}{'measured':>10}{'theory':>10}")
    for name, measured, theory in rows:
        print(f"{name:<24}{measured:>10.4f}{theory:>10.4f}")
    print(f"worst-case L-inf 2/255 perturbation shifts e by {linf:.4f}")


if __name__ == "__main__":
    main()
