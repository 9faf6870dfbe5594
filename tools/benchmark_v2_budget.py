"""The measurements behind protocol v2's numbers (docs/benchmark.rst, "Protocol v2").

Three parts, each writing a page of ``docs/_generated`` (included by ``docs/benchmark.rst``;
its numbers are never typed by hand):

``--part budgets`` (``v2_budgets.rst``): on the zoo's normal model, how much Auto-PGD
(:class:`~denoise_adv.attacks.DenoiseAPGD`) moves the worst case over v1's PGD (10 steps of
eps/4) as its iterations and restarts grow, and what the Square Attack
(:class:`~denoise_adv.attacks.DenoiseSquare`) reaches as its queries grow, on the normal model
and on NL-means (the fast black-box model), beside the transfer and random inputs v1 gives
NL-means. Mean drops (dB) over the images, with each setting's wall time.

``--part flag`` (``v2_adversarial_flag.rst``): v1 flags ``zoo:dncnn-s25-adversarial`` because
its white-box L2 4/255 drop (PGD-10) is below the transfer drop. This part scores that model
on ``builtin:test`` (whole images, noise seed 0, v1's seeds) under v1's PGD-10, under APGD
with v2's iterations and restarts, and under v1's transfer input, so the page says whether
APGD lifts the flag.

Reduced forms (the defaults) fit in a few minutes on a 2-core CPU shared with other jobs::

    python tools/benchmark_v2_budget.py --part budgets   # 2 images, 96x96, 2/255
    python tools/benchmark_v2_budget.py --part flag      # 6 images, 256x256

``--part additions`` (``--page``, default ``v2_additions.rst``): from a finished protocol v2
run's ``results.json`` (``--results``; default: the whole-image board's run,
``runs/bench-v2``), each model's mean worst case at each budget over v1's inputs alone, after
adding Auto-PGD, and after adding Square, with the attack family that was strongest on each
image. No attack runs. The 64x64 crops board's page::

    python tools/benchmark_v2_budget.py --part additions \
        --results runs/bench-v2-crop64/results.json --page v2_additions_crop64.rst

``--images``, ``--crop``, ``--steps``, ``--restarts``, ``--queries`` widen the budgets part.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from denoise_adv.analysis import attack_generator, noisy_image
from denoise_adv.attacks import DenoiseAPGD, DenoisePGD, DenoisePGDL2, DenoiseSquare
from denoise_adv.benchmark import PROTOCOL_V1, load_images
from denoise_adv.data import center_crop
from denoise_adv.files import atomic_open, read_json
from denoise_adv.metrics import psnr
from denoise_adv.models import NLMeans, load_denoiser
from denoise_adv.report import rst_list_table

DOCS = Path(__file__).parents[1] / "docs" / "_generated"
SIGMA, SEED = PROTOCOL_V1.sigma, PROTOCOL_V1.noise_seeds[0]


def _psnr(model, x: torch.Tensor, clean: torch.Tensor) -> float:
    with torch.no_grad():
        return psnr(model(x).float().clamp(0, 1), clean).item()


def _zoo(name: str):
    return load_denoiser(f"zoo:{name}", SIGMA).model.eval()


def _pgd(model, norm: str, eps: float, generator: torch.Generator):
    """v1's PGD: 10 steps of eps/4 (per-pixel L2)."""
    if norm == "linf":
        return DenoisePGD(model, eps=eps, alpha=eps / 4, steps=10, generator=generator)
    return DenoisePGDL2(model, eps=eps, alpha=eps / 4, steps=10, per_pixel=True,
                        generator=generator)


def _apgd(model, norm: str, eps: float, steps: int, generator: torch.Generator):
    return DenoiseAPGD(model, norm=norm, eps=eps, steps=steps, per_pixel=norm == "l2",
                       generator=generator)


def _square(model, norm: str, eps: float, queries: int, generator: torch.Generator):
    return DenoiseSquare(model, norm=norm, eps=eps, n_queries=queries, per_pixel=norm == "l2",
                         generator=generator)


class Tally:
    """Per setting: the PSNR of each restart on each image, and the seconds spent."""

    def __init__(self) -> None:
        self.psnr: dict[str, dict[str, list[float]]] = {}
        self.seconds: dict[str, float] = {}

    def run(self, key: str, image: str, make: Callable[[torch.Generator], object], model,
            noisy: torch.Tensor, clean: torch.Tensor, restart: int) -> None:
        start = time.perf_counter()
        atk = make(attack_generator(SEED, image, f"{key}-r{restart}"))
        adv = atk(noisy, clean)
        self.psnr.setdefault(key, {}).setdefault(image, []).append(_psnr(model, adv, clean))
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

    def drop(self, key: str, gauss: dict[str, float], restarts: int | None = None) -> float:
        """Mean over images of the Gaussian PSNR minus the best of the first restarts."""
        runs = self.psnr[key]
        return statistics.mean(gauss[i] - min(p[:restarts]) for i, p in runs.items())


def measure_budgets(args) -> str:
    images = [(n, center_crop(img, args.crop)[None]) for n, img in
              load_images(PROTOCOL_V1)[:args.images]]
    normal, nlmeans = _zoo("dncnn-s25-normal"), NLMeans(sigma=SIGMA)
    sections = []
    for eps_level in args.budgets:
        eps = eps_level / 255
        for norm in ("linf", "l2"):
            print(f"budget {eps_level}/255 {norm}", flush=True)
            sections.append(_measure_ball(args, images, normal, nlmeans, norm, eps, eps_level))
            print(sections[-1], flush=True)
    head = (f"Reduced run: ``python tools/benchmark_v2_budget.py --part budgets "
            f"--images {args.images} --crop {args.crop} --budgets "
            f"{' '.join(map(str, args.budgets))} --steps {' '.join(map(str, args.steps))} "
            f"--restarts {args.restarts} --queries {' '.join(map(str, args.queries))}`` "
            f"({args.images} images of builtin:test, {args.crop}x{args.crop} centre crops, "
            f"sigma 25, noise seed 0, {torch.get_num_threads()} torch threads on a CPU shared "
            "with other jobs). Mean PSNR drops (dB) over the images; *best of r* is the "
            "worst case over the first r random starts; seconds are the setting's total wall "
            "time over the images and restarts.")
    return "\n\n".join([".. Generated by tools/benchmark_v2_budget.py; do not edit.",
                        head, *sections]) + "\n"


def _measure_ball(args, images, normal, nlmeans, norm: str, eps: float, level: int) -> str:
    tally, gauss, gauss_nl = Tally(), {}, {}
    for name, clean in images:
        noisy = noisy_image(clean, SIGMA, SEED, name)
        gauss[name], gauss_nl[name] = _psnr(normal, noisy, clean), _psnr(nlmeans, noisy, clean)
        for r in range(args.restarts):
            tally.run("pgd10", name, lambda g: _pgd(normal, norm, eps, g), normal, noisy, clean,
                      r)
            for steps in args.steps:
                tally.run(f"apgd{steps}", name, lambda g, s=steps: _apgd(normal, norm, eps, s, g),
                          normal, noisy, clean, r)
        for queries in args.queries:
            tally.run(f"sq{queries}", name, lambda g, q=queries: _square(normal, norm, eps, q, g),
                      normal, noisy, clean, 0)
            tally.run(f"nl-sq{queries}", name,
                      lambda g, q=queries: _square(nlmeans, norm, eps, q, g), nlmeans, noisy,
                      clean, 0)
        transfer = _pgd(normal, norm, eps, attack_generator(SEED, name, "pgd-transfer"))(
            noisy, clean)
        tally.psnr.setdefault("nl-transfer", {})[name] = [_psnr(nlmeans, transfer, clean)]
    rows = [("PGD-10 eps/4 (v1)", tally, "pgd10", gauss)]
    rows += [(f"APGD {s} steps", tally, f"apgd{s}", gauss) for s in args.steps]
    rows += [(f"Square {q} queries (normal)", tally, f"sq{q}", gauss) for q in args.queries]
    rows += [(f"NL-means: Square {q} queries", tally, f"nl-sq{q}", gauss_nl)
             for q in args.queries]
    rows += [("NL-means: transfer PGD-10", tally, "nl-transfer", gauss_nl)]
    return _table(f"{'L-inf' if norm == 'linf' else 'L2 per pixel'} {level}/255", rows,
                  args.restarts)


def _table(title: str, rows, restarts: int) -> str:
    width = 30
    cols = [f"best of {r}" for r in range(1, restarts + 1)] + ["seconds"]
    rule = "=" * width + "  " + "  ".join("=" * 9 for _ in cols)
    lines = [f"**{title}**", "", rule, f"{'setting':{width}}  " +
             "  ".join(f"{c:9}" for c in cols).rstrip(), rule]
    for label, tally, key, gauss in rows:
        done = len(next(iter(tally.psnr[key].values())))
        cells = [f"{tally.drop(key, gauss, r):.3f}" if r <= done else "--"
                 for r in range(1, restarts + 1)]
        cells.append(f"{tally.seconds[key]:.1f}" if key in tally.seconds else "--")
        lines.append(f"{label:{width}}  " + "  ".join(f"{c:9}" for c in cells).rstrip())
    return "\n".join(lines + [rule])


# ------------------------------------------------------------------------- the v1 flag
def measure_flag(args) -> str:
    """v1's PGD-10, v2's APGD and v1's transfer input at L2 4/255 on the adversarial model."""
    from denoise_adv.benchmark import PROTOCOL_V2

    apgd = next(a for a in PROTOCOL_V2.attacks if a.name == "apgd-l2-4")
    model, reference = _zoo("dncnn-s25-adversarial"), _zoo("dncnn-s25-normal")
    eps, drops = 4 / 255, {"pgd": [], "apgd": [], "transfer": []}
    start = time.perf_counter()
    for name, clean in load_images(PROTOCOL_V1)[:args.images]:
        clean = clean[None]
        noisy = noisy_image(clean, SIGMA, SEED, name)
        gauss = _psnr(model, noisy, clean)
        # v1's seeds: the white-box start and the transfer start share the key pgd-l2-4
        pgd = _pgd(model, "l2", eps, attack_generator(SEED, name, "pgd-l2-4"))(noisy, clean)
        sent = _pgd(reference, "l2", eps, attack_generator(SEED, name, "pgd-l2-4"))(noisy, clean)
        best = min(_psnr(model, _apgd(model, "l2", eps, apgd.steps, attack_generator(
            SEED, name, f"apgd-l2-4-r{r}"))(noisy, clean), clean)
            for r in range(apgd.restarts))
        for key, value in (("pgd", _psnr(model, pgd, clean)), ("apgd", best),
                           ("transfer", _psnr(model, sent, clean))):
            drops[key].append(gauss - value)
        print(name, {k: round(v[-1], 4) for k, v in drops.items()}, flush=True)
    mean = {k: statistics.mean(v) for k, v in drops.items()}
    verdict = ("APGD lifts the flag: its white-box drop exceeds the transfer drop, so v1's "
               "flag came from PGD-10's fixed step, not from masked gradients"
               if mean["apgd"] >= mean["transfer"] else
               "APGD does not lift the flag: even the stronger white-box attack drops less "
               "than the transfer input, which points to gradient masking")
    return "\n".join([
        ".. Generated by tools/benchmark_v2_budget.py --part flag; do not edit.", "",
        f"``zoo:dncnn-s25-adversarial`` on builtin:test ({args.images} images, whole, sigma 25, "
        f"noise seed 0), per-pixel L2 4/255, mean drops: v1's PGD-10 (alpha eps/4) "
        f"**{mean['pgd']:.3f} dB**; v2's APGD ({apgd.steps} steps, best of {apgd.restarts} "
        f"restarts) **{mean['apgd']:.3f} dB**; v1's transfer input from the normal model "
        f"**{mean['transfer']:.3f} dB**. Images where APGD's drop is below the transfer drop: "
        f"{sum(a < t for a, t in zip(drops['apgd'], drops['transfer']))} of "
        f"{len(drops['apgd'])}. {verdict}. ({time.perf_counter() - start:.0f} s on "
        f"{torch.get_num_threads()} torch threads.)", ""])


# --------------------------------------------------------------------- what v2 added
#: The attack families of v2's inputs (by kind; v1's transfer and random inputs are PGD and
#: random kinds), in the order they are added to the worst case.
FAMILIES = {"pgd": "v1", "obsatk": "v1", "fgsm": "v1", "random": "v1", "apgd": "apgd",
            "square": "square"}


def additions(results: dict) -> dict[str, dict[int, dict[str, Any]]]:
    """``{model: {budget: {"v1", "apgd", "square": mean worst case over the inputs of that
    family and the ones before it, "strongest": {family: rows}}}}`` of a v2 results dict. As
    the benchmark's own worst case, an input counts at every budget at least its own."""
    attacks = results["protocol"]["attacks"]
    unknown = sorted({a["kind"] for a in attacks} - set(FAMILIES))
    if unknown:
        raise SystemExit(f"benchmark_v2_budget: error: attack kinds {unknown} have no family")
    family = {a["name"]: FAMILIES[a["kind"]] for a in attacks}
    budget = {a["name"]: round(a["eps"] * 255) for a in attacks}
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for row in results["per_image"]:
        for b in sorted(set(budget.values())):
            psnr = {k: v for k, v in row["psnr"].items() if budget[k] <= b}
            cell = out.setdefault(row["model"], {}).setdefault(
                b, {"v1": [], "apgd": [], "square": [], "strongest": {}})
            for i, fam in enumerate(("v1", "apgd", "square")):
                included = ("v1", "apgd", "square")[:i + 1]
                cell[fam].append(min(v for k, v in psnr.items() if family[k] in included))
            worst = family[min(psnr, key=psnr.get)]
            cell["strongest"][worst] = cell["strongest"].get(worst, 0) + 1
    for per_budget in out.values():
        for cell in per_budget.values():
            for fam in ("v1", "apgd", "square"):
                cell[fam] = statistics.mean(cell[fam])
    return out


def additions_page(path: Path, page: str = "v2_additions.rst") -> str:
    """The additions page ``page``: :func:`additions` of the results at ``path`` as one table,
    its header naming the command that writes it."""
    try:
        results = read_json(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"benchmark_v2_budget: error: cannot read {path}: {exc}") from None
    rows = []
    for model, per_budget in additions(results).items():
        for b, c in per_budget.items():
            strongest = ", ".join(f"{k} {n}" for k, n in sorted(c["strongest"].items()))
            rows.append([model, f"{b}/255", f"{c['v1']:.3f}",
                         f"{c['apgd']:.3f} ({c['apgd'] - c['v1']:+.3f})",
                         f"{c['square']:.3f} ({c['square'] - c['apgd']:+.3f})", strongest])
    header = ["model", "budget", "v1 inputs", "+ Auto-PGD (move)", "+ Square (move)",
              "strongest family (rows)"]
    lines = [f".. Generated by tools/benchmark_v2_budget.py --part additions --results {path} "
             f"--page {page}; do not edit.",
             "", f"From ``{path}`` (protocol {results['protocol']['version']}, "
             f"{len({r['image'] for r in results['per_image']})} images, attacks in "
             f"{results.get('amp') or 'fp32'}): mean worst-case PSNR (dB) over v1's inputs "
             "(PGD, ObsAtk, FGSM, transfer, random), then with Auto-PGD added, then with "
             "Square added (inputs of every budget up to the row's, as the benchmark's worst "
             "case); a negative move is a stronger worst case.", "",
             *rst_list_table("What each attack of protocol v2 adds", header, rows)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("budgets", "flag", "additions"), required=True)
    parser.add_argument("--results", type=Path,
                        default=Path("runs/bench-v2/results.json"),
                        help="a protocol v2 run's results.json (additions part)")
    parser.add_argument("--page", default="v2_additions.rst",
                        help="the page written under docs/_generated (additions part)")
    parser.add_argument("--images", type=int, default=None,
                        help="images (budgets: 2 by default; flag: 6, all of builtin:test)")
    parser.add_argument("--crop", type=int, default=96, help="centre crop (budgets part)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[2], help="8-bit levels")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50],
                        help="APGD iterations")
    parser.add_argument("--restarts", type=int, default=2, help="random starts per setting")
    parser.add_argument("--queries", type=int, nargs="+", default=[100, 300, 1000],
                        help="Square queries")
    args = parser.parse_args()
    if args.part == "additions":
        page = DOCS / Path(args.page).name
        text = additions_page(args.results, page.name)
    elif args.part == "budgets":
        args.images = args.images or 2
        text, page = measure_budgets(args), DOCS / "v2_budgets.rst"
    else:
        args.images = args.images or 6
        text, page = measure_flag(args), DOCS / "v2_adversarial_flag.rst"
    with atomic_open(page, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
