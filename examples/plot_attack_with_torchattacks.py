"""Attack a denoiser with every attack of the package, the torchattacks way.

Trains a small DnCNN on built-in images for about half a minute (CPU), then attacks a noisy crop
of ``camera`` with L-inf / L2 Denoising-PGD, FGSM, BIM and ObsAtk, and compares each with random
noise of the same size. Prints a table; writes nothing.

Run: ``python examples/attack_with_torchattacks.py [--steps 300]``
"""

from __future__ import annotations

import argparse

import torch

from denoise_adv import DenoiseBIM, DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk
from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()

    # A small DnCNN trained in memory by the package's trainer (a zoo model works too:
    # denoise_adv.models.pretrained("dncnn-s25-normal")).
    config = TrainConfig(model_kwargs={"depth": 6, "features": 24}, max_steps=args.steps,
                         batch_size=32, lr=2e-3, progress=not args.quiet)
    trainer = Trainer(config, train_images=[builtin_image(n) for n in
                                            ("coffee", "grass", "gravel", "rocket")],
                      val_images=[])
    trainer.run()
    model = trainer.model

    clean = builtin_image("camera")[None, :, 64:192, 192:320]
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    eps = 2 / 255
    attacks = {
        "DenoisePGD (L-inf)": DenoisePGD(model, eps=eps, alpha=eps / 4, steps=10),
        "DenoisePGDL2 (per pixel)": DenoisePGDL2(model, eps=eps, alpha=eps / 4, steps=10,
                                                 per_pixel=True),
        "DenoiseFGSM": DenoiseFGSM(model, eps=eps),
        "DenoiseBIM": DenoiseBIM(model, eps=eps, alpha=eps / 4, steps=10),
        "ObsAtk (per pixel)": ObsAtk(model, eps=eps, alpha=eps / 4, steps=10, per_pixel=True),
    }
    with torch.no_grad():
        base = psnr(model(noisy).clamp(0, 1), clean).item()
    print(f"denoised PSNR without attack: {base:.2f} dB")
    print(f"{'attack':<26}{'PSNR':>8}{'drop':>8}{'random drop':>13}")
    for name, atk in attacks.items():
        adv = atk(noisy, clean)
        delta = adv - noisy
        # Random noise with the same L2 norm as the attack's perturbation.
        rand = torch.randn_like(delta)
        rand = rand / rand.norm() * delta.norm()
        with torch.no_grad():
            p_adv = psnr(model(adv).clamp(0, 1), clean).item()
            p_rand = psnr(model(noisy + rand).clamp(0, 1), clean).item()
        print(f"{name:<26}{p_adv:>8.2f}{base - p_adv:>8.2f}{base - p_rand:>13.2f}")


if __name__ == "__main__":
    main()
