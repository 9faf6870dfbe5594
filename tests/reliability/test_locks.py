"""One writer per output (issue 25, "Lost work"): a live run's folder is locked for its whole
life; a second writer is refused with one line (exit 2) and never deletes the live run's
temporary files; a dead run's lock is gone with its process, and its temporaries are cleaned.

The live runs are real second processes (``subprocess``), as in the probes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from reliability_helpers import train_args

from denoise_adv._lock import LOCK_NAME, OutputInUseError, OutputLock
from denoise_adv.benchmark import PROTOCOL_V1_QUICK
from denoise_adv.data import save_png
from denoise_adv.training import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

#: ``denoise-adv train`` that pauses inside its first checkpoint write (its temporary file
#: ``.checkpoint.pt.XXXX.tmp`` exists) until the file GO appears; READY says it is there.
PAUSED_TRAIN = """
import pathlib, sys, time
import torch
import denoise_adv.training.trainer as trainer
from denoise_adv._io import atomic_open
from denoise_adv.cli import main

ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
real = trainer.atomic_torch_save

def paused(obj, path):
    if ready.exists():
        return real(obj, path)
    with atomic_open(path, "wb") as f:
        ready.touch()
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        torch.save(obj, f)
    return pathlib.Path(path)

trainer.atomic_torch_save = paused
sys.exit(main(sys.argv[3:]))
"""

#: A live run of another command: holds the lock of PATH (a folder, or a file with "file"),
#: owns the temporary TMP (a write in progress), says READY, and ends when GO appears.
HOLDER = """
import pathlib, sys, time
from denoise_adv._lock import OutputLock

path, kind, tmp, ready, go = sys.argv[1:6]
lock = OutputLock(path, file=kind == "file").acquire()
pathlib.Path(tmp).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(tmp).write_text("a write in progress")
pathlib.Path(ready).touch()
deadline = time.monotonic() + 120
while not pathlib.Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.02)
pathlib.Path(tmp).unlink()
"""


def _start(script: str, tmp_path: Path, *argv: object) -> tuple[subprocess.Popen, Path, Path]:
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", script, str(ready), str(go),
                             *map(str, argv)], env=ENV, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the live run did not start: {proc.communicate()}")
        time.sleep(0.02)
    return proc, ready, go


def _hold(tmp_path: Path, path: Path, tmp: Path, kind: str = "folder"
          ) -> tuple[subprocess.Popen, Path]:
    """A live holder of ``path``'s lock owning ``tmp``; returns (process, go file)."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), kind, str(tmp),
                             str(ready), str(go)], env=ENV, cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the holder did not start: {proc.communicate()}")
        time.sleep(0.02)
    return proc, go


def _finish(proc: subprocess.Popen, go: Path) -> tuple[int, str, str]:
    go.touch()
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out or "", err or ""


def _refused(code: int, err: str, command: str) -> None:
    assert code == 2, err
    assert err.startswith(f"denoise-adv {command}: error: ") and err.count("\n") == 1, err
    assert "in use by another run" in err


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "train_images"
    g = torch.Generator().manual_seed(3)
    for name in ("p", "q"):
        save_png(torch.rand(1, 16, 16, generator=g), folder / f"{name}.png")
    return folder


@pytest.mark.slow
def test_second_train_is_refused_and_keeps_the_live_runs_temporary(tmp_path, data, cli):
    """The probe: a refused run deleted the live run's .checkpoint.pt.XXXX.tmp, which then
    died at os.replace; and --overwrite 'wrote' a model that was the first run's."""
    run = tmp_path / "r"
    live, _, go = _start(PAUSED_TRAIN, tmp_path,
                         *train_args(run, data, "--steps", 2, "--checkpoint-every", 1))
    temporaries = list(run.glob(".checkpoint.pt.*.tmp"))
    assert len(temporaries) == 1  # the live run is mid-write
    for extra in ((), ("--overwrite",), ("--resume",)):
        code, out, err = cli(*train_args(run, data, "--steps", 5, *extra))
        _refused(code, err, "train")
        assert "wrote" not in out
    assert temporaries[0].exists()  # nobody deleted what a live process owns
    code, out, err = _finish(live, go)
    assert code == 0, err
    assert "trained dncnn (normal) for 2 steps" in out
    model = torch.load(run / "model.pt", weights_only=True)
    assert model["meta"]["steps"] == 2  # the live run's model, untouched by the refused ones
    assert not list(run.glob(".*.tmp"))
    # once it has ended, the folder is free again (and --overwrite does start over)
    assert cli(*train_args(run, data, "--steps", 1, "--overwrite"))[0] == 0
    assert torch.load(run / "model.pt", weights_only=True)["meta"]["steps"] == 1


@pytest.mark.slow
def test_a_killed_runs_lock_dies_with_it_and_its_temporaries_are_cleaned(tmp_path, data, cli):
    run = tmp_path / "r"
    stale = run / ".checkpoint.pt.k1ll3d.tmp"
    holder, _ = _hold(tmp_path, run, stale)
    _refused(*cli(*train_args(run, data, "--steps", 1))[::2], "train")
    assert stale.exists()
    holder.send_signal(signal.SIGKILL)  # no cleanup runs: the OS drops the lock
    holder.wait(timeout=60)
    assert stale.exists() and (run / LOCK_NAME).exists()
    assert cli(*train_args(run, data, "--steps", 1))[0] == 0
    assert not stale.exists()  # its owner is dead: a stale temporary, deleted under the lock


def test_the_lock_is_released_when_a_run_fails_and_refuses_in_process(tmp_path, data):
    run = tmp_path / "r"
    config = TrainConfig(out=str(run), data=str(data), val_data=None, patch_size=16, stride=16,
                         scales=(1.0,), batch_size=2, max_steps=1, progress=False,
                         device="cpu", model_kwargs={"depth": 3, "features": 4})
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        Trainer(config, resume=True).run()  # fails after taking the lock
    # so it was released; now held by "another run" in this process
    with OutputLock(run), pytest.raises(OutputInUseError, match="in use by another run"):
        Trainer(config).run()
    assert not (run / "model.pt").exists()
    assert Trainer(config).run()["steps"] == 1


@pytest.fixture
def bench_setup(tmp_path):
    from denoise_adv.models import DnCNN, save_checkpoint

    g = torch.Generator().manual_seed(0)
    save_png(torch.rand(1, 16, 16, generator=g), tmp_path / "images" / "a.png")
    torch.manual_seed(0)
    save_checkpoint(DnCNN(depth=3, features=4), tmp_path / "tiny.pt")
    protocol = PROTOCOL_V1_QUICK.derive("lock-tiny", data=str(tmp_path / "images"), images=None,
                                        crop=None, reference=str(tmp_path / "tiny.pt"),
                                        bootstrap=20)
    (tmp_path / "protocol.json").write_text(json.dumps(protocol.as_dict()))
    return tmp_path


@pytest.mark.slow
def test_second_benchmark_is_refused_while_one_runs(bench_setup, tmp_path, cli, one_thread):
    out = tmp_path / "bench"
    argv = ("benchmark", "--model", tmp_path / "tiny.pt", "--protocol",
            tmp_path / "protocol.json", "--out", out, "--quiet", "--no-figures")
    live_tmp = out / ".results.json.l1ve.tmp"
    holder, go = _hold(tmp_path, out, live_tmp)
    code, _, err = cli(*argv)
    _refused(code, err, "benchmark")
    assert live_tmp.exists() and not (out / "results.json").exists()
    assert _finish(holder, go)[0] == 0
    stale = out / ".results.json.k1ll3d.tmp"
    stale.write_text("left by a killed run")
    assert cli(*argv)[0] == 0
    assert (out / "results.json").is_file() and not stale.exists()
    # and the run let go of its folder when it returned
    assert OutputLock(out).acquire().held


@pytest.mark.slow
def test_second_reproduce_is_refused_before_any_work(tmp_path, cli):
    out = tmp_path / "repro"
    live_tmp = out / ".report.json.l1ve.tmp"
    holder, go = _hold(tmp_path, out, live_tmp)
    code, _, err = cli("reproduce", "table2", "--train-data", "builtin:train", "--test-data",
                       "builtin:test", "--out", out, "--smoke", "--quiet", "--device", "cpu")
    _refused(code, err, "reproduce")
    assert live_tmp.exists() and not (out / "models").exists()  # no training started
    assert _finish(holder, go)[0] == 0


@pytest.mark.slow
def test_second_make_adv_into_the_same_file_is_refused(tmp_path, checkpoint, folder, cli):
    target = tmp_path / "sets" / "adv.pt"
    live_tmp = target.parent / ".adv.pt.l1ve.tmp"
    target.parent.mkdir()
    holder, go = _hold(tmp_path, target, live_tmp, kind="file")
    argv = ("make-adv", "--model", checkpoint, "--data", folder, "--out", target, "--steps", 1,
            "--quiet")
    _refused(*cli(*argv)[::2], "make-adv")
    assert live_tmp.exists() and not target.exists()
    # another file of the same folder is another output: not locked
    assert cli(*argv[:-4], target.with_name("other.pt"), "--steps", 1, "--quiet")[0] == 0
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    assert cli(*argv)[0] == 0 and target.is_file()
    assert not live_tmp.exists()  # stale once its owner died: cleaned under the lock


@pytest.mark.slow
def test_torchrun_workers_all_stop_when_the_folder_is_in_use(tmp_path, data):
    """Only process 0 takes the lock; the others learn its outcome instead of waiting in a
    collective for a process 0 that has gone."""
    run = tmp_path / "r"
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2", "-m", "denoise_adv", *map(str, train_args(run, data, "--steps", 1))]
    with OutputLock(run):  # a live run (this process)
        done = subprocess.run(argv, env=ENV, cwd=ROOT, capture_output=True, text=True,
                              timeout=240)
    assert done.returncode != 0
    assert done.stderr.count("denoise-adv train: error: the output folder") == 2, done.stderr
    assert not (run / "checkpoint.pt").exists()
