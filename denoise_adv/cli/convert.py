"""``denoise-adv convert``: published weights (KAIR, SwinIR, deepinv) -> our checkpoint format."""

from __future__ import annotations

import argparse

from ..models.pretrained import ARCHS
from .common import declare_output


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert published weights (KAIR, SwinIR, deepinv) into a denoise_adv checkpoint",
        description="Read a model zoo's weights with torch.load(weights_only=True): KAIR's "
        "DnCNN/FFDNet/DRUNet (dncnn_25.pth, ffdnet_gray.pth, drunet_color.pth ...), SwinIR's "
        "denoisers (004_grayDN_DFWB_s128w8_SwinIR-M_noise25.pth ...), deepinv's DnCNN/DRUNet "
        "state dicts; detect the architecture from the keys and shapes (or take --arch), and "
        "write a denoise_adv checkpoint whose meta records the source file name, its sha256 "
        "and the architecture. The checkpoint then works wherever --model takes one; FFDNet "
        "and DRUNet take their noise level there (--sigma, in 8-bit levels: 25 = 25/255).",
    )
    p.add_argument("input", metavar="IN", help="published weights (.pth/.pt)")
    p.add_argument("output", metavar="OUT", help="denoise_adv checkpoint to write (.pt)")
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="force the format instead of detecting it")
    declare_output(p, "output", "file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._io import writable_file
    from ..models import read_pretrained, save_checkpoint, takes_sigma

    writable_file(args.output, "OUT")
    model, info = read_pretrained(args.input, args.arch)
    path = save_checkpoint(model, args.output, info)
    params = sum(p.numel() for p in model.parameters())
    print(f"{info['source']} ({info['arch']}, sha256 {info['sha256'][:12]}...) -> "
          f"{type(model).registry_name} {model.config}, {params:,} parameters")
    if takes_sigma(model):
        print("this model takes a noise level: as_denoiser(model, sigma), or --sigma on the CLI")
    print(f"wrote {path}")
    return 0
