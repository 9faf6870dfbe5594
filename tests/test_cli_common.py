"""The command line's units: 8-bit levels in, [0, 1] units out, converted once by one type."""

import argparse

import pytest

from denoise_adv.cli import build_parser
from denoise_adv.cli.common import LEVEL, attack_spec, level


def test_the_level_type_converts_8_bit_levels_once():
    assert level("25") == 25 / 255 and level("0.5") == 0.5 / 255 and level("0") == 0.0
    for bad in ("-1", "inf", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match="finite number >= 0"):
            level(bad)
    from denoise_adv import noise
    from denoise_adv.training import config

    assert LEVEL is noise.LEVEL and config.LEVEL is noise.LEVEL and LEVEL == 255.0


def test_levels_arrive_in_api_units_and_help_keeps_8_bit_levels():
    parser = build_parser()
    args = parser.parse_args(["attack", "--model", "m.pt", "--input", "x", "--out", "o"])
    assert (args.sigma, args.eps, args.alpha) == (25 / 255, 2 / 255, None)  # the defaults too
    spec = attack_spec(args)
    assert (spec.eps, spec.alpha) == (2 / 255, 0.5 / 255)  # bit for bit the former eps/4 / 255
    args = parser.parse_args(["attack", "--model", "m.pt", "--input", "x", "--out", "o",
                              "--sigma", "15", "--eps", "4", "--alpha", "1"])
    assert (args.sigma, attack_spec(args).eps, attack_spec(args).alpha) == (
        15 / 255, 4 / 255, 1 / 255)
    typical = parser.parse_args(["typical", "--eps-linf", "3", "--eps-l2", "1"])
    assert (typical.sigma, typical.eps_linf, typical.eps_l2) == (25 / 255, 3 / 255, 1 / 255)
    attack_help = parser._subparsers._group_actions[0].choices["attack"].format_help()
    assert "8-bit levels" in attack_help and "(default: 25)" in attack_help


def test_a_budget_error_speaks_in_8_bit_levels():
    args = build_parser().parse_args(["attack", "--model", "m.pt", "--input", "x", "--out", "o",
                                      "--eps", "3e8"])
    with pytest.raises(ValueError, match=r"--eps must be at most 2.55e\+08 \(8-bit levels\), "
                                         r"got 3e\+08"):
        attack_spec(args)


def test_the_commands_load_models_through_the_library_loader():
    """The command line is no model loader: its commands call denoise_adv.models' (issue 30)."""
    import ast
    import pathlib

    from denoise_adv import cli

    for path in pathlib.Path(cli.__file__).parent.glob("*.py"):
        names = {n.name for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.FunctionDef)}
        assert not names & {"load_model", "model_label"}, path.name
