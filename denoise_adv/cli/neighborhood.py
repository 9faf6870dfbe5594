"""``denoise-adv neighborhood`` (2-D / 3-D sweeps, Fig. 4-6) and ``denoise-adv patch-attack``
(Fig. 8)."""

from __future__ import annotations

import argparse

import torch

from .._io import write_json
from ..models import load_denoiser
from .common import (
    NETWORK_HELP,
    add_noise_and_attack_options,
    add_options,
    attack_spec,
    device,
    finite_float,
    images,
    levels,
    nonnegative_levels,
    output_folder,
    separate_output,
)

#: Model evaluations of the sweeps besides the circles: the sphere (24 x 11) and the
#: connected-set check (9 rotations, 9 combinations).
_OTHER_EVALUATIONS = 24 * 11 + 18


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "neighborhood",
        help="2-D and 3-D neighbourhood sweeps around a noisy image (polar plot, sphere)",
        description="Attack one noisy image, then denoise samples on circles in the plane of "
        "the Gaussian noise (0 degrees) and the attack (eq. 10), and on a sphere in the space of "
        "two noises and the attack (eq. 11). Prints the angle of maximum degradation, the "
        "fraction of each circle that is adversarial and the connected-set check (rotated "
        "noises harmless, combined attacks adversarial); writes neighborhood_2d.png, "
        "neighborhood_3d.png and neighborhood.json. Levels are 8-bit.",
    )
    p.add_argument("--model", required=True, help=NETWORK_HELP)
    p.add_argument("--input", default="builtin:camera", help="one image (default: camera)")
    p.add_argument("--crop", type=int, default=64,
                   help="centre crop side, 0 for the whole image (default: 64)")
    p.add_argument("--radii", type=nonnegative_levels, default=(0.25, 0.5, 1.0, 1.5, 2.0),
                   help="circle radii in multiples of the attack's L2 norm, each >= 0 "
                   "(default: 0.25,0.5,1,1.5,2)")
    p.add_argument("--angles", type=int, default=72, help="samples per circle (default: 72)")
    p.add_argument("--threshold", type=finite_float, default=0.1,
                   help="PSNR drop (dB) that makes a sample adversarial (default: 0.1)")
    add_noise_and_attack_options(p)
    add_options(p, "--out")
    p.set_defaults(func=run_neighborhood)

    q = sub.add_parser(
        "patch-attack",
        help="adversarial noise confined to a patch, both methods of Fig. 8",
        description="Method 1 attacks the patch alone and pastes it in; method 2 attacks the "
        "whole image and keeps the perturbation inside the patch. Prints the local PSNR drop "
        "inside and outside the patch; writes patch_attack.png and patch_attack.json. Levels "
        "are 8-bit.",
    )
    q.add_argument("--model", required=True, help=NETWORK_HELP)
    q.add_argument("--input", default="builtin:camera", help="one image (default: camera)")
    q.add_argument("--crop", type=int, default=128,
                   help="centre crop side, 0 for the whole image (default: 128)")
    q.add_argument("--box", type=levels, default=None,
                   help="patch as top,left,height,width (default: the central quarter)")
    add_noise_and_attack_options(q)
    add_options(q, "--out")
    q.set_defaults(func=run_patch)


def _one_image(args: argparse.Namespace, channels: int):
    from ..data import center_crop

    dataset = images(args, args.input, channels)
    if len(dataset) != 1:
        raise ValueError(f"--input must be one image, got {len(dataset)}")
    name, image = dataset[0]
    if args.crop:
        c = args.crop
        if min(image.shape[1:]) < c:
            raise ValueError(f"--crop {c} is larger than the image {tuple(image.shape)}")
        image = center_crop(image, c)
    return name, image[None]


def _check_sweep_budget(args: argparse.Namespace, model, clean) -> None:
    """Refuse sweeps that would not finish (``--angles 100000000``) before the attack: the
    number of model evaluations times the time of one, measured here (the faster of two)."""
    import time

    from .._checks import check_budget
    from ..analysis import score

    seconds = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        score(model, clean, clean)
        seconds = min(seconds, time.perf_counter() - start)
    circles = len(args.radii) * args.angles
    check_budget("--angles", f"{len(args.radii)} circles x {args.angles} angles "
                 f"({circles + _OTHER_EVALUATIONS:,} evaluations of the model, "
                 f"{seconds * 1e3:.2g} ms each)", nbytes=64 * circles,
                 seconds=(circles + _OTHER_EVALUATIONS) * seconds)


def run_neighborhood(args: argparse.Namespace) -> int:
    from ..analysis import (
        attack_generator,
        connected_set_check,
        neighborhood_2d,
        noisy_image,
        plot_polar,
        plot_sphere,
        sphere_sweep,
    )
    from ..seeding import generator

    spec = attack_spec(args)
    where, sigma = device(args.device), args.sigma
    if args.angles < 4 or not args.radii:
        raise ValueError("--angles must be >= 4 and --radii non-empty")
    if args.sigma <= 0:
        raise ValueError("--sigma must be > 0: the sweeps run in the plane of the noise")
    output_folder(args.out, create=False)
    separate_output(args.out, args.input, "--input")
    model, channels, _ = load_denoiser(args.model, sigma, where)
    name, clean = _one_image(args, channels)
    clean = clean.to(where)
    _check_sweep_budget(args, model, clean)
    n1 = noisy_image(clean, sigma, args.seed, name) - clean
    n2 = noisy_image(clean, sigma, args.seed, name, draw=1) - clean
    adv = spec.build(model, attack_generator(args.seed, name, spec.norm))(clean + n1, clean)
    delta = adv - (clean + n1)
    norm = delta.norm().item()
    radii = [r * norm for r in args.radii]
    flat = neighborhood_2d(model, clean, n1, delta, radii, args.angles, args.threshold)
    sphere = sphere_sweep(model, clean, n1, n2, delta, norm, azimuths=24, elevations=11)
    connected = connected_set_check(model, clean, n1, n2, spec,
                                    generator=generator(args.seed, "attack", name, "connected-set"))
    out = output_folder(args.out)
    plot_polar(flat, out / "neighborhood_2d.png", f"{name}: PSNR around the noisy image",
               radius_unit=norm)
    plot_sphere(sphere, out / "neighborhood_3d.png", f"{name}: sphere of radius ||delta||")
    write_json(out / "neighborhood.json", {
        "image": name, "sigma": sigma, "seed": args.seed, "attack": spec.as_dict(),
        "delta_l2": norm, "two_d": flat, "three_d": sphere, "connected_set": connected})
    print(f"{name}: unperturbed PSNR {flat['base_psnr']:.2f} dB; attack at "
          f"{flat['delta_angle_deg']:.1f} deg from the noise direction, ||delta|| = {norm:.4f}")
    print(f"{'radius/||delta||':>17}{'worst angle':>13}{'min PSNR':>10}{'adversarial':>13}")
    for r, angle, row, frac in zip(args.radii, flat["worst_angle_deg"], flat["psnr"],
                                   flat["adversarial_fraction"]):
        print(f"{r:>17g}{angle:>13.1f}{min(row):>10.2f}{frac:>12.0%}")
    print(f"connected set (threshold {connected['threshold']:.2f} dB, half the attack's drop): "
          f"rotated noises harmless {connected['rotated_non_adversarial']:.0%}, combined "
          f"attacks adversarial {connected['combined_adversarial']:.0%}")
    print(f"wrote neighborhood_2d.png, neighborhood_3d.png and neighborhood.json to {out}")
    return 0


def run_patch(args: argparse.Namespace) -> int:
    from ..analysis import attack_generator, noisy_image, patch_attack, plot_patch_attack

    spec = attack_spec(args)
    where, sigma = device(args.device), args.sigma
    output_folder(args.out, create=False)
    separate_output(args.out, args.input, "--input")
    model, channels, _ = load_denoiser(args.model, sigma, where)
    name, clean = _one_image(args, channels)
    clean = clean.to(where)
    h, w = clean.shape[-2:]
    box = tuple(int(v) for v in args.box) if args.box else (h // 4, w // 4, h // 2, w // 2)
    if len(box) != 4:
        raise ValueError("--box takes top,left,height,width")
    noisy = noisy_image(clean, sigma, args.seed, name)
    result = patch_attack(model, clean, noisy, box, spec,
                          attack_generator(args.seed, name, f"patch-{spec.norm}"))
    out = output_folder(args.out)
    with torch.no_grad():
        denoised = {"gaussian": model(noisy), **{m: model(result[f"{m}_input"])
                                                 for m in ("method1", "method2")}}
    plot_patch_attack(result, noisy, denoised, out / "patch_attack.png",
                      f"{name}: patch {box} (top, left, height, width) outlined")
    numbers = {k: v for k, v in result.items() if not k.endswith("_input")}
    write_json(out / "patch_attack.json", {"image": name, "sigma": sigma,
                                           "attack": spec.as_dict(), **numbers})
    print(f"{name}: patch {box} (top, left, height, width); local PSNR in dB")
    print(f"{'input':<10}{'inside':>9}{'outside':>9}{'drop in':>9}{'drop out':>10}")
    print(f"{'gaussian':<10}{result['gaussian']['inside']:>9.2f}"
          f"{result['gaussian']['outside']:>9.2f}")
    for method in ("method1", "method2"):
        r = result[method]
        print(f"{method:<10}{r['inside']:>9.2f}{r['outside']:>9.2f}{r['drop_inside']:>9.2f}"
              f"{r['drop_outside']:>10.2f}")
    print(f"wrote patch_attack.png and patch_attack.json to {out}")
    return 0
