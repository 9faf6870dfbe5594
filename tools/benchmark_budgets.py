"""The measurements behind protocol v1's budgets (docs/benchmark.rst, "Why these numbers").

Reads the v1 results of the zoo's leaderboard run (``tools/benchmark_zoo.py --out DIR``
writes ``DIR/results.json``) for the mean PSNR drop of every attack on the zoo's normal model
and of the transfer and random inputs on BM3D and NL-means; then measures, on the normal
model, what a second random start adds to v1's L-inf and L2 PGD at 2/255 (the same attacks
with ``restarts=2``: the first start is v1's own; about 5 minutes on 2 CPU cores). Writes
``docs/_generated/budgets.rst`` (included by ``docs/benchmark.rst``): the page's numbers are
never typed by hand.

    python tools/benchmark_budgets.py [--results runs/timing/v1-fp32/results.json]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from pathlib import Path

from denoise_adv.benchmark import PROTOCOL_V1, evaluate_image, load_images
from denoise_adv.files import atomic_open, read_json
from denoise_adv.models import load_denoiser

DOCS = Path(__file__).parents[1] / "docs" / "_generated" / "budgets.rst"
MODEL, BASELINES = "dncnn-s25-normal", ("nlmeans", "bm3d")
#: The attacks measured again from two random starts.
RESTARTED = ("pgd-linf-2", "pgd-l2-2")
BUDGETS = ("1", "2", "4")


def table_rows(summary: dict) -> list[tuple[str, list[str]]]:
    """(label, drop per budget) rows of the mean drops (dB); "--" where v1 has no attack."""
    def row(label: str, model: str, prefix: str) -> tuple[str, list[str]]:
        drops = summary[model]["attack_drop"]
        return label, [f"{drops[f'{prefix}-{b}']:.3f}" if f"{prefix}-{b}" in drops
                       else "--" for b in BUDGETS]

    rows = [row("PGD L-inf (alpha eps/4, 10 steps)", MODEL, "pgd-linf"),
            row("PGD L2 per pixel", MODEL, "pgd-l2"),
            row("random L-inf (signs x eps)", MODEL, "random-linf"),
            row("random L2 (radius eps sqrt(d))", MODEL, "random-l2")]
    for baseline, label in zip(BASELINES, ("NL-means", "BM3D")):
        for kind, norm in (("transfer", "linf"), ("transfer", "l2"), ("random", "linf"),
                           ("random", "l2")):
            name = {"linf": "L-inf", "l2": "L2"}[norm]
            rows.append(row(f"{label}: {kind} {name}", baseline, f"{kind}-{norm}"))
    return rows


def second_start(results: dict) -> dict[str, tuple[float, float, float]]:
    """Per restarted attack: v1's mean drop (one start), the best-of-two mean drop, and the
    largest gain on one image (dB)."""
    model = load_denoiser(f"zoo:{MODEL}", PROTOCOL_V1.sigma).model.eval()
    twice = PROTOCOL_V1.derive("v1-two-starts", attacks=tuple(
        replace(a, restarts=2) for a in PROTOCOL_V1.attacks if a.name in RESTARTED))
    once = {r["image"]: r for r in results["per_image"] if r["model"] == MODEL}
    gains: dict[str, list[tuple[float, float]]] = {a: [] for a in RESTARTED}
    for name, clean in load_images(PROTOCOL_V1):
        row, _ = evaluate_image(model, clean[None], name, PROTOCOL_V1.noise_seeds[0], twice, {})
        print(name, {a: round(once[name]["psnr"][a] - row["psnr"][a], 4) for a in RESTARTED},
              flush=True)
        for a in RESTARTED:
            gauss = once[name]["gaussian_psnr"]
            gains[a].append((gauss - once[name]["psnr"][a], gauss - row["psnr"][a]))
    return {a: (statistics.mean(o for o, _ in g), statistics.mean(t for _, t in g),
                max(t - o for o, t in g)) for a, g in gains.items()}


def render(results: dict, starts: dict[str, tuple[float, float, float]]) -> str:
    """The reStructuredText of the table and of the 2/255 extras."""
    summary = results["summary"]
    rows, width = table_rows(summary), 35  # the longest label, and two spaces
    rule = "=" * (width - 2) + "  " + "  ".join(["======="] * len(BUDGETS))
    lines = [f"Mean PSNR drops (dB) over v1's {len(results['images'])} images; the normal "
             f"model's Gaussian PSNR is {summary[MODEL]['gaussian_psnr']['mean']:.2f} dB.", "",
             rule, f"{'input':{width}}" + "  ".join(f"{b + '/255':7}" for b in BUDGETS).rstrip(),
             rule]
    lines += [f"{label:{width}}" + "  ".join(f"{c:7}" for c in cells).rstrip()
              for label, cells in rows]
    drops = summary[MODEL]["attack_drop"]
    extra = ", ".join(f"{label} {drops[name]:.3f}" for label, name in (
        ("L-inf PGD with 20 steps", "pgd-linf-2-s20"), ("ObsAtk", "obsatk-2"),
        ("FGSM", "fgsm-2")))
    two = "; ".join(f"{a}: {one:.3f} from one start, {best:.3f} from the better of two (at most "
                    f"{gain:.4f} dB more on one image)" for a, (one, best, gain) in starts.items())
    return "\n".join(lines + [rule, "", f"At 2/255: {extra}. Second random start ({two}).", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="runs/timing/v1-fp32/results.json",
                        help="results.json of the zoo's v1 leaderboard run")
    args = parser.parse_args()
    results = read_json(args.results)
    if results["protocol"]["version"] != PROTOCOL_V1.version:
        raise SystemExit(f"{args.results} holds protocol {results['protocol']['version']}, "
                         f"not {PROTOCOL_V1.version}")
    text = render(results, second_start(results))
    with atomic_open(DOCS, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
