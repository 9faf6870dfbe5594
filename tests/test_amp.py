"""The amp option, written once: its check and its autocast context."""

import argparse

import pytest
import torch

from denoise_adv import _amp as amp_module
from denoise_adv._amp import AMP_CHOICES, autocast, check_amp, native_bf16
from denoise_adv.cli.common import amp_of


@pytest.fixture(autouse=True)
def _no_isa_cap(monkeypatch):
    """The tests give the CPU's flags themselves; a oneDNN cap in the caller's shell would
    override them."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)


def test_check_amp_accepts_none_fp32_and_bf16_and_names_the_argument():
    assert check_amp(None) is None and check_amp("bf16") == "bf16" == AMP_CHOICES[0]
    assert check_amp("fp32") is None  # the command line's spelling of float32
    with pytest.raises(ValueError, match=r"amp must be None or 'fp32' \(float32\) or one of "
                                         r".*'fp16'"):
        check_amp("fp16")
    with pytest.raises(TypeError, match="precision must be None or a string"):
        check_amp(True, "precision")


def test_autocast_runs_matmuls_in_bf16_and_none_is_a_no_op():
    layer = torch.nn.Linear(3, 3)
    x = torch.randn(2, 3)
    with autocast("bf16", "cpu"):
        half = layer(x)
    with autocast(None, "cpu"):
        full = layer(x)
    assert half.dtype == torch.bfloat16 and full.dtype == torch.float32
    torch.testing.assert_close(full, layer(x))
    # bf16 keeps 8 bits of mantissa: close to float32, but not equal
    assert 0 < (half.float() - full).abs().max() < 0.05 * full.abs().max()


@pytest.mark.parametrize(("flags", "native"), [("fpu avx512f avx512_bf16 sse", True),
                                               ("fpu amx_bf16 amx_tile", True),
                                               ("fpu avx2 avx512f", False)])
def test_native_bf16_reads_the_cpu_flags(flags, native, tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(amp_module, "CPUINFO", cpuinfo)
    assert native_bf16("cpu") is native
    monkeypatch.setattr(amp_module, "CPUINFO", tmp_path / "missing")
    assert native_bf16("cpu") is False  # no /proc (macOS, Windows): assume emulated


@pytest.mark.parametrize(("variable", "cap", "native"),
                         [("ONEDNN_MAX_CPU_ISA", "AVX2", False),
                          ("DNNL_MAX_CPU_ISA", "avx512_core", False),
                          ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", True),
                          ("ONEDNN_MAX_CPU_ISA", "ALL", True)])
def test_native_bf16_follows_onednn_isa_cap(variable, cap, native, tmp_path, monkeypatch):
    # oneDNN emulates bf16 under a cap below its bf16 kernels, even on a CPU that has them
    (tmp_path / "cpuinfo").write_text("flags\t\t: fpu avx512f avx512_bf16\n")
    monkeypatch.setattr(amp_module, "CPUINFO", tmp_path / "cpuinfo")
    monkeypatch.setenv(variable, cap)
    assert native_bf16("cpu") is native
    assert amp_of(argparse.Namespace(amp="auto", device="cpu")) == ("bf16" if native else None)


@pytest.mark.parametrize(("value", "expected"), [("fp32", None), ("bf16", "bf16")])
def test_cli_amp_values(value, expected):
    assert amp_of(argparse.Namespace(amp=value, device="cpu")) == expected


def test_cli_auto_amp_is_bf16_exactly_where_native(monkeypatch, tmp_path):
    args = argparse.Namespace(amp="auto", device="cpu")
    for flags, expected in (("avx512_bf16", "bf16"), ("avx2", None)):
        (tmp_path / "cpuinfo").write_text(f"flags : {flags}\n")
        monkeypatch.setattr(amp_module, "CPUINFO", tmp_path / "cpuinfo")
        assert amp_of(args) == expected


@pytest.mark.parametrize(("value", "expected"), [("fp32", None), ("bf16", "bf16")])
def test_train_command_spells_amp_as_the_attack_commands_do(value, expected, tmp_path):
    """``denoise-adv train --amp`` takes bf16 and fp32 like the attack commands; fp32 is
    stored as None (float32), so a run started either way resumes the same."""
    from denoise_adv.cli import build_parser
    from denoise_adv.cli.train import build_config
    from denoise_adv.training import TrainConfig

    args = build_parser().parse_args(["train", "--out", str(tmp_path), "--amp", value])
    assert build_config(args).amp == expected == TrainConfig(amp=value).validate().amp


@pytest.mark.parametrize("flags, warns", [("avx2 fma", True), ("avx512_bf16", False)])
def test_bf16_where_it_is_emulated_warns_once(flags, warns, tmp_path, monkeypatch):
    """Issue 34: on an AVX2-only CPU bf16 is emulated (~25x slower than fp32): say so once."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"flags\t: sse {flags}\n")
    monkeypatch.setattr(amp_module, "CPUINFO", cpuinfo)
    monkeypatch.setattr(amp_module, "_WARNED", set())
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with autocast("bf16", "cpu"):
                pass
        with autocast(None, "cpu"):
            pass
    emulated = [w for w in caught if "emulated" in str(w.message)]
    assert len(emulated) == (1 if warns else 0)
    if warns:
        assert emulated[0].category is RuntimeWarning and "--amp fp32" in str(emulated[0].message)


@pytest.mark.parametrize(("flags", "expected"), [("avx512_bf16", "bf16"), ("avx2", None)])
def test_train_amp_auto_records_what_it_chose(flags, expected, tmp_path, monkeypatch):
    from denoise_adv.training import TrainConfig

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"flags\t: {flags}\n")
    monkeypatch.setattr(amp_module, "CPUINFO", cpuinfo)
    assert TrainConfig(amp="auto", device="cpu").amp == expected
