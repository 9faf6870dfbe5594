"""Run ART's own attacks on a denoiser through ``denoise_adv.art.PyTorchDenoiser``.

Trains a small DnCNN for about twenty seconds on built-in images (CPU), wraps it as an ART
estimator, attacks noisy crops of ``camera`` with ART's FGM, BIM and PGD (L-inf and L2), and
prints the PSNR of the denoised output before and after each. Writes nothing.

Run: ``python examples/art_attack.py``  (needs ``pip install -e ".[art]"``)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from art.attacks.evasion import BasicIterativeMethod, FastGradientMethod, ProjectedGradientDescent

from denoise_adv.art import PyTorchDenoiser
from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()

    config = TrainConfig(model_kwargs={"depth": 5, "features": 16}, max_steps=args.steps,
                         batch_size=32, lr=3e-3, progress=not args.quiet)
    trainer = Trainer(config, train_images=[builtin_image(n) for n in
                                            ("coffee", "grass", "gravel", "rocket")],
                      val_images=[])
    trainer.run()
    model = trainer.model

    camera = builtin_image("camera")
    clean = torch.stack([camera[:, 64:128, 192:256], camera[:, 300:364, 100:164]])
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    x, y = noisy.numpy(), clean.numpy()

    # The three lines ART users write:
    estimator = PyTorchDenoiser(model, input_shape=(1, 64, 64), device_type="cpu")
    attack = ProjectedGradientDescent(estimator, norm=np.inf, eps=2 / 255, eps_step=0.5 / 255,
                                      max_iter=10, verbose=False)
    adv = attack.generate(x=x, y=y)

    eps, radius = 2 / 255, 2 / 255 * 64  # L2: the same budget as RMS per pixel
    attacks = {
        "PGD L-inf": adv,
        "FGM L-inf": FastGradientMethod(estimator, norm=np.inf, eps=eps).generate(x=x, y=y),
        "FGM L2": FastGradientMethod(estimator, norm=2, eps=radius).generate(x=x, y=y),
        "BIM": BasicIterativeMethod(estimator, eps=eps, eps_step=eps / 4, max_iter=10,
                                    verbose=False).generate(x=x, y=y),
        "PGD L2": ProjectedGradientDescent(estimator, norm=2, eps=radius, eps_step=radius / 4,
                                           max_iter=10, verbose=False).generate(x=x, y=y),
    }

    def score(inputs: np.ndarray) -> float:
        out = torch.from_numpy(estimator.predict(inputs)).clamp(0, 1)
        return psnr(out, clean).mean().item()

    base = score(x)
    print(f"denoised PSNR without attack: {base:.2f} dB")
    for name, adv_x in attacks.items():
        print(f"{name:<10} {score(adv_x):7.2f} dB  (drop {base - score(adv_x):.2f} dB)")


if __name__ == "__main__":
    main()
