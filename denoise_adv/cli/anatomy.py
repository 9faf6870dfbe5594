"""``denoise-adv anatomy``: which part of an attack's damage lies along the noise, and what
noise off the typical-set shell costs a model (the two things a norm-based TS can act on)."""

from __future__ import annotations

import argparse
from typing import Any

from .._io import atomic_open, write_json
from ..models import load_denoiser, model_label
from .common import (
    LEVEL,
    NETWORK_HELP,
    add_noise_and_attack_options,
    add_options,
    device,
    images,
    levels,
    output_folder,
    separate_output,
    white_box_attacks,
)

ANATOMY_COLUMNS = ("psnr", "drop_full", "drop_radial", "drop_orthogonal", "interaction",
                   "energy_radial", "angle_deg", "radial_coefficient")


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "anatomy",
        help="split attacks into their part along the noise and the rest; off-shell penalty",
        description="For each image: attack the seeded Gaussian noisy image white-box (the "
        "evaluation protocol), split the perturbation into its radial part (along the noise "
        "n: (<delta, n>/||n||^2) n) and its orthogonal part, and score the model on each part "
        "alone and on both. Then sweep the noise level around --sigma with the same noise draw "
        "scaled, and measure the off-shell penalty: the symmetric part of the PSNR loss at "
        "noise scaled by 1+s and 1-s, minus the same for a reference told the true level "
        "(NL-means or BM3D), so that image content cancels. Prints the tables; writes "
        "report.json, report.md, anatomy.png and noise_level.png. Levels are 8-bit.",
    )
    p.add_argument("--model", required=True,
                   help=NETWORK_HELP)
    add_options(p, "--data")
    p.add_argument("--attacks", default="linf,l2",
                   help="white-box attacks: comma-separated linf,l2 (default: linf,l2)")
    p.add_argument("--sigmas", type=levels, default=None,
                   help="noise levels of the sweep, comma-separated 8-bit levels "
                   "(default: sigma-3 ... sigma+3 in steps of 1)")
    p.add_argument("--scales", type=levels, default=(0.02, 0.04, 0.08),
                   help="relative changes s of the noise norm for the off-shell penalty, each "
                   "in (0, 1) (default: 0.02,0.04,0.08)")
    p.add_argument("--reference", choices=("nlmeans", "bm3d", "none"), default="nlmeans",
                   help="denoiser told the true level, the reference of the penalty "
                   "(bm3d needs the bm3d package; default: nlmeans)")
    add_noise_and_attack_options(p, with_attack=False)
    add_options(p, "--eps", "--alpha", "--steps", "--amp")
    add_options(p, "--out")
    p.set_defaults(func=run)


def anatomy_rows(model, images, sigma: float, attacks: dict[str, Any], seed: int,
                 progress: bool) -> list[dict[str, Any]]:
    """:func:`~denoise_adv.analysis.decompose_perturbation` of each attack on each image, the
    attack crafted as in the evaluation protocol (same noise, same random start)."""
    from tqdm.auto import tqdm

    from ..analysis import attack_generator, decompose_perturbation, noisy_image

    rows = []
    for name, clean in tqdm(images, desc="anatomy", disable=not progress):
        clean = clean[None]
        noisy = noisy_image(clean, sigma, seed, name)
        for attack_name, spec in attacks.items():
            adv = spec.build(model, attack_generator(seed, name, attack_name))(noisy, clean)
            row = decompose_perturbation(model, noisy, clean, adv.detach().cpu() - noisy,
                                         [name])[0]
            rows.append({"attack": attack_name, **row})
    return rows


def summarize_anatomy(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of :data:`ANATOMY_COLUMNS` per attack, with the radial part's share of the whole
    drop (``radial_share`` = mean drop_radial / mean drop_full)."""
    out = []
    for attack in dict.fromkeys(r["attack"] for r in rows):
        group = [r for r in rows if r["attack"] == attack]
        row = {"attack": attack, **{c: sum(r[c] for r in group) / len(group)
                                    for c in ANATOMY_COLUMNS}}
        row["radial_share"] = (row["drop_radial"] / row["drop_full"]
                               if row["drop_full"] else float("nan"))
        out.append(row)
    return out


def _tables(summary, sensitivity) -> list[tuple[str, list[dict[str, Any]]]]:
    """(title, rows) of the three printed tables (levels in 8-bit units)."""
    sweep = [{**r, "sigma": r["sigma"] * LEVEL} for r in sensitivity["sweep_mean"]]
    shell = [{k: v for k, v in r.items() if k not in ("psnr_plus", "psnr_minus")}
             for r in sensitivity["off_shell_mean"]]
    tables = [("Perturbation anatomy (means over images; drops in dB)", summary),
              ("Gaussian PSNR against the noise level (8-bit levels)", sweep),
              ("Off-shell penalty (symmetric part of the loss at noise x (1 +- s), dB)", shell)]
    return [(title, rows) for title, rows in tables if rows]


def run(args: argparse.Namespace) -> int:
    from ..analysis import noise_level_sensitivity, plot_anatomy, plot_noise_levels
    from ..report import format_table, markdown_table

    attacks = white_box_attacks(args)
    where, sigma = device(args.device), args.sigma
    sigmas = args.sigmas if args.sigmas is not None else tuple(  # 8-bit levels, as --sigmas
        sigma * LEVEL + k for k in range(-3, 4) if sigma * LEVEL + k > 0)
    if any(not 0 < s < 1 for s in args.scales) or any(s <= 0 for s in sigmas):
        raise ValueError(f"--scales must lie in (0, 1) and --sigmas above 0, got "
                         f"{list(args.scales)} and {list(sigmas)}")
    if args.sigma <= 0:
        raise ValueError("--sigma must be > 0: the attacks are split along the noise")
    output_folder(args.out, create=False)  # before the work, not after it
    separate_output(args.out, args.data, "--data")  # it writes anatomy.png, noise_level.png
    model, channels, meta = load_denoiser(args.model, sigma, where)
    dataset = images(args, args.data, channels)
    rows = anatomy_rows(model, dataset, sigma, attacks, args.seed, not args.quiet)
    sensitivity = noise_level_sensitivity(
        model, dataset, [s / LEVEL for s in sigmas], args.reference, args.scales, args.seed,
        sigma=sigma, channels=channels, progress=not args.quiet)
    summary = summarize_anatomy(rows)
    out = output_folder(args.out)
    label = model_label(args.model)
    plot_anatomy(summary, out / "anatomy.png", f"{label}: radial vs orthogonal damage")
    plot_noise_levels(sensitivity, out / "noise_level.png", f"{label}: noise-level sensitivity")
    protocol = {"model": str(args.model), "model_meta": meta, "data": str(args.data),
                "images": [n for n, _ in dataset], "sigma": sigma, "noise_seed": args.seed,
                "white_box_attacks": {k: v.as_dict() for k, v in attacks.items()},
                "sweep_sigmas": [s / LEVEL for s in sigmas], "scales": list(args.scales),
                "reference": sensitivity["reference"],
                "metrics": "PSNR peak 1 of the output clamped to [0, 1]"}
    tables = _tables(summary, sensitivity)
    write_json(out / "report.json", {"protocol": protocol, "anatomy": {
        "summary": summary, "per_image": rows}, "noise_level": sensitivity}, default=str)
    with atomic_open(out / "report.md", "w") as f:
        f.write(f"# Anatomy of {label} at sigma {sigma * LEVEL:g}/255\n\n"
                + "\n".join(markdown_table(t_rows, title=title, level=2) + "\n"
                            for title, t_rows in tables))
    for title, t_rows in tables:
        print(title)
        print(format_table(t_rows))
        print()
    print(f"wrote report.json, report.md, anatomy.png and noise_level.png to {out}")
    return 0
