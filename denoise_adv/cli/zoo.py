"""``denoise-adv zoo``: the models ``zoo:NAME`` accepts, one line each, or one model's entry."""

from __future__ import annotations

import argparse
import json


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "zoo",
        help="list the zoo's models (zoo:NAME) with their robust PSNR, or show one entry",
        description="List every model zoo:NAME accepts (the shipped DnCNNs and the published "
        "FFDNets) with its architecture, parameters, noise level (8-bit levels: 25 = 25/255), "
        "our Gaussian and robust PSNR under the benchmark's protocol v1 (95% intervals) and "
        "its paper; or print one model's whole entry (denoise_adv.models.model_info) as JSON.",
    )
    p.add_argument("name", nargs="?", help="one model (zoo:NAME or NAME): print its entry")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models import model_info
    from ..models.info import zoo_listing

    if args.name is None:
        print(zoo_listing())
    else:
        print(json.dumps(model_info(args.name), indent=2))
    return 0
