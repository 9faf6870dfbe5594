"""DDP teardown (issue 25): a rank once aborted at exit ("terminate called without an active
exception", SIGABRT) after training had finished. The trainer never destroyed the gloo process
group it created, so its C++ worker threads were torn down during interpreter finalization,
racing the other rank's exit. The trainer now leaves the group it joined once every rank has
passed the final barrier. (That a group the caller created is left alone is the trainer's
rule too, but no test here starts a group before train().)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from denoise_adv.data import save_png

pytestmark = pytest.mark.slow  # two torchrun ranks

SCRIPT = textwrap.dedent("""
    import os
    import sys
    import torch.distributed as dist
    from denoise_adv.training import TrainConfig, train

    config = TrainConfig(out=sys.argv[1], data=sys.argv[2], val_data=None, model="unfolding",
                         model_kwargs={"stages": 2, "features": 4, "depth": 3}, patch_size=16,
                         stride=16, scales=(1.0,), batch_size=4, max_steps=2, epochs=1,
                         device="cpu", progress=False)
    result = train(config)
    assert result["world_size"] == 2
    # one file per rank: two ranks printing to one pipe can interleave mid-line
    with open(f"{sys.argv[1]}/left-{os.environ['RANK']}.txt", "w") as f:
        f.write(str(not dist.is_initialized()))
""")


def test_trainer_leaves_the_process_group_it_joined(tmp_path):
    g = torch.Generator().manual_seed(0)
    for name in ("a", "b"):
        save_png(torch.rand(1, 32, 32, generator=g), tmp_path / "images" / f"{name}.png")
    (tmp_path / "run.py").write_text(SCRIPT)
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2", str(tmp_path / "run.py"), str(tmp_path / "out"), str(tmp_path / "images")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    left = [(tmp_path / "out" / f"left-{rank}.txt").read_text() for rank in (0, 1)]
    assert left == ["True", "True"], result.stdout + result.stderr
    assert "terminate called" not in result.stderr
    assert (tmp_path / "out" / "model.pt").is_file()
