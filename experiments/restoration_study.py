"""Attacks through restoration pipelines (issue 32): a measurement on the public API.

For each task of :mod:`denoise_adv.restoration` (deblurring with a Gaussian and a motion kernel,
2x and 4x super-resolution, inpainting; Gaussian noise 0.01), on centre crops of
``builtin:test``, the pipelines are deepinv's DPIR (``--iterations`` HQS steps) around a
denoiser prior, and the task's classical baseline. Every attack is L-inf PGD on the
measurement y (``--eps``, ``--steps``, step eps/4, random start, seeded), against the clean
image x:

- the FFDNet pipeline (prior: the published ``zoo:ffdnet-ipol-gray``): PSNR of x-hat, the
  white-box drop and the drop of a random-sign perturbation of the same size;
- (a) does the pipeline inherit its prior's fragility: the prior's own white-box drop as a
  denoiser (sigma 25/255 on the same crops, same budget), and pipeline minus prior;
- (b) transfer: perturbations crafted on the DnCNN-normal pipeline, on the FFDNet prior alone
  (denoising the measurement at its noise level, against the noiseless measurement A(x)),
  each scored on the FFDNet pipeline; the FFDNet pipeline's perturbation scored on the
  baseline, beside the baseline's own white-box drop;
- (c) TS for plug-and-play: DPIR around ``zoo:dncnn-s25-ts-def`` and
  ``zoo:dncnn-s25-adversarial`` against ``zoo:dncnn-s25-normal`` (fixed-level sigma-25 priors:
  they ignore DPIR's annealed levels).

Intervals: 95% paired t over the images (:func:`denoise_adv.stats.paired_interval`). Writes
``OUT/restoration.rst`` (tables), ``OUT/restoration.json`` (every per-image number) and
``OUT/restoration_TASK.png`` (y, x-hat, adversarial x-hat, perturbation of the first image);
OUT is ``docs/_generated`` by default. Run:

    python experiments/restoration_study.py [--images 6] [--size 64] [--iterations 8]
        [--steps 5] [--tasks deblur sr2 ...] [--out docs/_generated]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

from denoise_adv import DenoisePGD
from denoise_adv.evaluation import load_dataset
from denoise_adv.files import atomic_write, write_json
from denoise_adv.metrics import psnr
from denoise_adv.models import as_denoiser, pretrained
from denoise_adv.report import new_figure, rst_list_table, save_figure
from denoise_adv.restoration import DEFAULT_NOISE, TASKS, baseline_restorer, dpir_restorer
from denoise_adv.seeding import generator
from denoise_adv.stats import paired_interval

PRIORS = ("ffdnet-ipol-gray", "dncnn-s25-normal", "dncnn-s25-ts-def", "dncnn-s25-adversarial")
SIGMA = 25 / 255


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6, help="crops of builtin:test")
    parser.add_argument("--size", type=int, default=64, help="crop side (pixels)")
    parser.add_argument("--iterations", type=int, default=8, help="DPIR iterations")
    parser.add_argument("--steps", type=int, default=5, help="PGD steps")
    parser.add_argument("--eps", type=float, default=2.0, help="L-inf budget, 8-bit levels")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--out", type=Path, default=Path("docs/_generated"))
    return parser.parse_args(argv)


def crops(count: int, size: int) -> tuple[list[str], torch.Tensor]:
    """Names and the centre ``size`` x ``size`` crops (N, 1, size, size) of builtin:test."""
    images = load_dataset("builtin:test")[:count]
    top = [(image.shape[-2] - size) // 2 for _, image in images]
    left = [(image.shape[-1] - size) // 2 for _, image in images]
    batch = torch.stack([image[:, t:t + size, s:s + size]
                         for (_, image), t, s in zip(images, top, left)])
    return [name for name, _ in images], batch


def scores(model: torch.nn.Module, inputs: torch.Tensor, clean: torch.Tensor) -> list[float]:
    """Per-image PSNR of ``model(inputs)`` clamped to [0, 1]."""
    with torch.no_grad():
        return psnr(model(inputs).clamp(0, 1), clean).tolist()


def pgd(model: torch.nn.Module, eps: float, steps: int, seed: int = 0) -> DenoisePGD:
    return DenoisePGD(model, eps=eps, alpha=eps / 4, steps=steps,
                      generator=torch.Generator().manual_seed(seed))


def random_sign(y: torch.Tensor, eps: float) -> torch.Tensor:
    signs = torch.randint(0, 2, y.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return y + eps * signs.to(y.dtype)


def drop(before: list[float], after: list[float]) -> dict:
    """Mean drop (dB) over images and its 95% paired t-interval."""
    low, high = paired_interval(before, after)
    return {"mean": sum(b - a for b, a in zip(before, after)) / len(before),
            "low": low, "high": high, "per_image": [b - a for b, a in zip(before, after)]}


def difference(first: dict, second: dict) -> dict:
    """Mean of ``first - second`` over images (per-image drops) and its paired interval."""
    a, b = first["per_image"], second["per_image"]
    low, high = paired_interval(a, b)
    return {"mean": sum(x - y for x, y in zip(a, b)) / len(a), "low": low, "high": high}


def prior_alone(prior: torch.nn.Module, names: list[str], clean: torch.Tensor, eps: float,
                steps: int) -> dict:
    """(a)'s reference: the prior's white-box drop as a denoiser at sigma 25/255."""
    noise = torch.stack([torch.randn(clean.shape[1:], generator=generator(0, "noise", name))
                         for name in names])
    noisy = clean + SIGMA * noise
    denoiser = as_denoiser(prior, sigma=SIGMA)
    adv = pgd(denoiser, eps, steps)(noisy, clean)
    return drop(scores(denoiser, noisy, clean), scores(denoiser, adv, clean))


def study_task(task: str, priors: dict, clean: torch.Tensor, args: argparse.Namespace,
               eps: float) -> dict:
    """Every measured number of one task (see the module docstring)."""
    size = clean.shape[-1]
    pipes = {name: dpir_restorer(task, prior, size, iterations=args.iterations)
             for name, prior in priors.items()}
    baseline = baseline_restorer(task, size)
    main = pipes["ffdnet-ipol-gray"]
    y = main.measure(clean, seed=0)
    result: dict = {"task": task, "psnr": {}, "drops": {}, "transfer": {}}
    advs = {}
    for name, pipe in pipes.items():
        advs[name] = pgd(pipe, eps, args.steps)(y, clean)
        result["psnr"][name] = scores(pipe, y, clean)
        result["drops"][name] = drop(result["psnr"][name], scores(pipe, advs[name], clean))
    result["psnr"]["baseline"] = scores(baseline, y, clean)
    base_adv = pgd(baseline, eps, args.steps)(y, clean)
    result["drops"]["baseline"] = drop(result["psnr"]["baseline"], scores(baseline, base_adv,
                                                                          clean))
    ffdnet = result["psnr"]["ffdnet-ipol-gray"]
    result["drops"]["random"] = drop(ffdnet, scores(main, random_sign(y, eps), clean))
    prior_adv = pgd(as_denoiser(priors["ffdnet-ipol-gray"], sigma=DEFAULT_NOISE), eps,
                    args.steps)(y, main.physics.A(clean))
    transfer = result["transfer"]
    transfer["dncnn->ffdnet"] = drop(ffdnet, scores(main, advs["dncnn-s25-normal"], clean))
    transfer["prior->pipeline"] = drop(ffdnet, scores(main, prior_adv, clean))
    transfer["pipeline->baseline"] = drop(result["psnr"]["baseline"],
                                          scores(baseline, advs["ffdnet-ipol-gray"], clean))
    figure(task, y, main, advs["ffdnet-ipol-gray"], args.out)
    return result


def figure(task: str, y: torch.Tensor, restorer: torch.nn.Module, adv: torch.Tensor,
           out: Path) -> Path:
    """y, x-hat, adversarial x-hat and the perturbation (x25 around grey) of image 0."""
    with torch.no_grad():
        panels = [y[0], restorer(y[:1])[0], restorer(adv[:1])[0], 0.5 + 25 * (adv - y)[0]]
    titles = ["measurement y", "x-hat", "x-hat of y + delta", "delta (x25)"]
    fig, axes = new_figure(1, 4, figsize=(10, 2.8))
    for ax, panel, title in zip(axes, panels, titles):
        ax.imshow(panel[0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{task}: DPIR with the published FFDNet prior", fontsize=10)
    return save_figure(fig, out / f"restoration_{task}.png")


def cell(value: dict) -> str:
    return f"{value['mean']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"


def mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.2f}"


def tables(results: list[dict], alone: dict, args: argparse.Namespace, count: int) -> list[str]:
    """The three tables of ``restoration.rst``."""
    setting = (f"{count} centre crops {args.size}x{args.size} of builtin:test, noise "
               f"{DEFAULT_NOISE}, DPIR {args.iterations} iterations, L-inf PGD-{args.steps} "
               f"eps {args.eps:g}/255 on y; dB, mean [95% paired t-interval]")
    main = [[r["task"], mean(r["psnr"]["ffdnet-ipol-gray"]), mean(r["psnr"]["baseline"]),
             cell(r["drops"]["ffdnet-ipol-gray"]), cell(r["drops"]["random"]),
             cell(difference(r["drops"]["ffdnet-ipol-gray"], alone["ffdnet-ipol-gray"])),
             cell(difference(r["drops"]["dncnn-s25-normal"], alone["dncnn-s25-normal"]))]
            for r in results]
    lines = rst_list_table(
        f"Pipelines and question (a): {setting}. The priors alone (denoising at sigma 25/255, "
        f"same budget) drop FFDNet {cell(alone['ffdnet-ipol-gray'])}, DnCNN normal "
        f"{cell(alone['dncnn-s25-normal'])}",
        ["task", "PSNR x-hat (DPIR-FFDNet)", "PSNR baseline", "white-box drop",
         "random-sign drop", "(a) pipeline - prior alone, FFDNet",
         "(a) pipeline - prior alone, DnCNN normal"], main)
    transfer = [[r["task"], cell(r["drops"]["ffdnet-ipol-gray"]),
                 cell(r["transfer"]["dncnn->ffdnet"]), cell(r["transfer"]["prior->pipeline"]),
                 cell(r["drops"]["baseline"]), cell(r["transfer"]["pipeline->baseline"])]
                for r in results]
    lines += rst_list_table(
        f"Question (b), transfer: {setting}",
        ["task", "DPIR-FFDNet white-box", "from DPIR-DnCNN-normal", "from the FFDNet prior "
         "alone", "baseline white-box", "baseline, from DPIR-FFDNet"], transfer)
    ts = [[r["task"]] + [f"{mean(r['psnr'][p])} / {r['drops'][p]['mean']:.2f}"
                         for p in PRIORS[1:]]
          + [cell(difference(r["drops"][p], r["drops"]["dncnn-s25-normal"]))
             for p in PRIORS[2:]] for r in results]
    lines += rst_list_table(
        f"Question (c), the prior's training (PSNR / white-box drop): {setting}",
        ["task", "DnCNN normal", "DnCNN ts-def", "DnCNN adversarial",
         "drop: ts-def - normal", "drop: adversarial - normal"], ts)
    return lines


def verdict(value: dict, above: str, below: str) -> str:
    """The interval and how it falls: above 0, below 0, or containing 0."""
    words = {True: above, False: below if value["high"] < 0 else "no difference resolved"}
    return f"{cell(value)} dB, {words[value['low'] > 0]}"


def readings(results: list[dict], alone: dict) -> list[str]:
    """One generated line per task, each question read from its paired interval."""
    lines = ["Readings (generated from the intervals above):", ""]
    for r in results:
        drops = r["drops"]
        a = difference(drops["ffdnet-ipol-gray"], alone["ffdnet-ipol-gray"])
        b = difference(r["transfer"]["pipeline->baseline"], drops["baseline"])
        c = [difference(drops[p], drops["dncnn-s25-normal"]) for p in PRIORS[2:]]
        lines.append(
            f"- ``{r['task']}``: (a) FFDNet pipeline minus the prior alone "
            f"{verdict(a, 'the pipeline loses more', 'the pipeline loses less')}; "
            f"(b) on the baseline, transferred minus its own white-box drop "
            f"{verdict(b, 'the transfer hurts more', 'the transfer hurts less')}; "
            f"(c) ts-def minus normal {verdict(c[0], 'ts-def more fragile', 'ts-def more robust')}"
            f", adversarial minus normal "
            f"{verdict(c[1], 'adversarial more fragile', 'adversarial more robust')}.")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    warnings.filterwarnings("ignore", category=UserWarning)  # fixed-level priors in DPIR
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    eps = args.eps / 255
    names, clean = crops(args.images, args.size)
    priors = {name: pretrained(name) for name in PRIORS}
    start = time.perf_counter()
    alone = {name: prior_alone(priors[name], names, clean, eps, args.steps)
             for name in PRIORS[:2]}
    results = []
    for task in args.tasks:
        results.append(study_task(task, priors, clean, args, eps))
        print(f"{task}: done at {time.perf_counter() - start:.0f} s", flush=True)
    lines = [".. generated by experiments/restoration_study.py; do not edit", ""]
    lines += tables(results, alone, args, len(names)) + readings(results, alone)
    text = "\n".join(lines)
    atomic_write(args.out / "restoration.rst", lambda f: f.write(text.encode()))
    write_json(args.out / "restoration.json", {
        "images": names, "settings": {k: str(v) for k, v in vars(args).items()},
        "prior_alone": alone, "tasks": results})
    print(text)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
