"""The leaderboard of the docs: the shipped zoo and the classical baselines under protocol v1.

Runs ``denoise-adv benchmark`` on every model of the zoo's manifest, BM3D and NL-means, and
writes ``docs/_generated/leaderboard.rst`` (included by ``docs/benchmark.rst``) from the run's
own results: the page's numbers are never typed by hand. Resumable (rerun the same command
after an interruption); under ``torchrun --nproc_per_node N`` the images are shared among N
processes.

    python experiments/benchmark_zoo.py [--out runs/bench-v1] [--quick] [--no-bm3d]

``--quick`` runs the smoke variant (protocol v1-quick) instead; the table then says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from denoise_adv.cli import main as cli
from denoise_adv.models import zoo_manifest

DOCS_TABLE = Path(__file__).parents[1] / "docs" / "_generated" / "leaderboard.rst"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench-v1", help="results folder")
    parser.add_argument("--quick", action="store_true", help="protocol v1-quick (smoke run)")
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D (~3.5 s an image)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    args = parser.parse_args()
    models = [f"zoo:{name}" for name in sorted(zoo_manifest()["models"])]
    models += ([] if args.no_bm3d else ["bm3d"]) + ["nlmeans"]
    argv = ["benchmark", "--model", *models, "--out", args.out, "--docs", str(DOCS_TABLE),
            "--device", args.device]
    return cli(argv + (["--quick"] if args.quick else []))


if __name__ == "__main__":
    sys.exit(main())
