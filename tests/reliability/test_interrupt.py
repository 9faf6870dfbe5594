"""Ctrl-C (issue 25): one line ``denoise-adv CMD: interrupted``, exit 130, and how to resume
where a command can (train, benchmark); no KeyboardInterrupt traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from reliability_helpers import train_args

import denoise_adv.cli.benchmark as benchmark_cli
import denoise_adv.cli.typical as typical_cli
import denoise_adv.training as training
from denoise_adv.cli import INTERRUPTED, main


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _interactive_sigint() -> None:
    """In the child, before exec: SIGINT's default action, as an interactive shell gives it.
    A shell script run in the background (``nohup``, ``&``) starts its children with SIGINT
    ignored, and that is inherited through exec: Python then installs no KeyboardInterrupt
    handler, the signal is dropped, and the probe would report a hang (exit 0, not 130)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_is_one_line_and_exit_130():
    """A real SIGINT, delivered while the command runs (from any shell: see
    :func:`_interactive_sigint`)."""
    script = textwrap.dedent("""
        import os, signal, sys, time
        import denoise_adv.cli.typical as typical
        from denoise_adv.cli import main

        def run(args):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)  # interrupted long before
            return 0

        typical.run = run
        sys.exit(main(["typical"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, preexec_fn=_interactive_sigint)
    assert result.returncode == INTERRUPTED == 130
    assert result.stderr.strip().splitlines() == ["denoise-adv typical: interrupted"]


def test_interrupted_training_says_how_to_resume(tmp_path, folder, capsys, monkeypatch):
    monkeypatch.setattr(training, "train", _interrupt)
    out = tmp_path / "run"
    argv = [str(a) for a in train_args(out, folder)]
    assert main(argv) == 130
    assert _one_line(capsys) == (f"denoise-adv train: interrupted; no checkpoint was written "
                                 f"yet ({out / 'checkpoint.pt'}): nothing to resume")
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"a checkpoint")
    assert main(argv) == 130
    assert _one_line(capsys) == (f"denoise-adv train: interrupted; rerun it with --resume to "
                                 f"continue from {out / 'checkpoint.pt'}")


def test_interrupted_benchmark_says_a_rerun_continues(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(benchmark_cli, "run", _interrupt)
    assert main(["benchmark", "--model", "m.pt", "--out", str(tmp_path / "b")]) == 130
    assert _one_line(capsys) == ("denoise-adv benchmark: interrupted; rerun the same command "
                                 f"to continue (finished rows are kept in {tmp_path / 'b'})")


def test_debug_shows_the_interrupts_traceback(monkeypatch):
    monkeypatch.setattr(typical_cli, "run", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", "typical"])

