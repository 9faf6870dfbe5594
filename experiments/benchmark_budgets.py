"""The measurements behind protocol v1's budgets (docs/benchmark.rst, "Why these numbers").

On ``builtin:test`` at sigma 25 (noise seed 0), for the zoo's normal model: the PSNR drop of
L-inf and per-pixel L2 Denoising-PGD at 1, 2 and 4/255 (alpha eps/4, 10 steps), of L-inf
2/255 with 20 steps, of both norms at 2/255 from a second random start, of ObsAtk and FGSM at
2/255, of random noise of each budget's full size; and the drops of BM3D and NL-means on the
inputs crafted on the model (transfer) and on the random ones. Prints one line per image and
the means. About 15 minutes on 2 shared CPU cores (~1.5 s a forward+backward at 256x256).

    python experiments/benchmark_budgets.py [--model zoo:dncnn-s25-normal] [--images N]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from denoise_adv import DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk, seeding
from denoise_adv.analysis import attack_generator, load_dataset, noisy_image
from denoise_adv.analysis.transfer import random_perturbation_like
from denoise_adv.metrics import psnr
from denoise_adv.models import as_denoiser, build, load_model_spec

SIGMA = 25 / 255


@torch.no_grad()
def _psnr(model, x, clean) -> float:
    return psnr(model(x).clamp(0, 1), clean).item()


def _pgd(model, norm, budget, steps, key):
    cls, extra = (DenoisePGD, {}) if norm == "linf" else (DenoisePGDL2, {"per_pixel": True})
    return cls(model, eps=budget / 255, alpha=budget / 1020, steps=steps,
               generator=attack_generator(0, key[0], key[1]), **extra)


def measure(model, baselines, name, clean) -> dict[str, float]:
    """The drops (dB) of one image (see the module docstring)."""
    noisy = noisy_image(clean, SIGMA, 0, name)
    gauss, drops, inputs = _psnr(model, noisy, clean), {}, {}
    for budget in (1, 2, 4):
        for norm in ("linf", "l2"):
            adv = _pgd(model, norm, budget, 10, (name, f"{norm}{budget}"))(noisy, clean)
            inputs[f"{norm}{budget}"] = adv
            template = torch.full_like(noisy, budget / 255)  # its L-inf/L2 size is the budget's
            inputs[f"random-{norm}{budget}"] = noisy + random_perturbation_like(
                template, norm, seeding.generator(0, "baseline", name, f"{norm}{budget}"))
    extra = {"linf2-20steps": _pgd(model, "linf", 2, 20, (name, "linf2")),
             "linf2-restart2": _pgd(model, "linf", 2, 10, (name, "linf2b")),
             "l22-restart2": _pgd(model, "l2", 2, 10, (name, "l22b")),
             "obsatk2": ObsAtk(model, eps=2 / 255, alpha=0.5 / 255, steps=10, per_pixel=True,
                               generator=attack_generator(0, name, "obs")),
             "fgsm2": DenoiseFGSM(model, eps=2 / 255)}
    inputs.update({k: atk(noisy, clean) for k, atk in extra.items()})
    drops = {k: gauss - _psnr(model, x, clean) for k, x in inputs.items()}
    for label, baseline in baselines.items():
        base = _psnr(baseline, noisy, clean)
        for k in ("linf2", "l22", "linf4", "random-linf2", "random-l22", "random-linf4"):
            drops[f"{label} {k}"] = base - _psnr(baseline, inputs[k], clean)
    return drops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo:dncnn-s25-normal", help="model spec")
    parser.add_argument("--images", type=int, default=None, help="first N images only")
    args = parser.parse_args()
    model = as_denoiser(load_model_spec(args.model, SIGMA)[0], SIGMA)
    baselines = {"nlmeans": build("nlmeans", sigma=SIGMA).eval(),
                 "bm3d": build("bm3d", sigma=SIGMA).eval()}
    rows = {}
    for name, clean in load_dataset("builtin:test")[:args.images]:
        rows[name] = measure(model, baselines, name, clean[None])
        print(name, json.dumps({k: round(v, 3) for k, v in rows[name].items()}), flush=True)
    print("mean drops (dB):")
    for key in next(iter(rows.values())):
        print(f"  {key:24s} {statistics.mean(r[key] for r in rows.values()):.3f}")


if __name__ == "__main__":
    main()
