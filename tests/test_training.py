"""The training recipe: strategies, logs, exact resume (also after SIGKILL), and DDP."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from denoise_adv.data import save_png
from denoise_adv.models import build, load_checkpoint
from denoise_adv.training import STRATEGIES, TrainConfig, strategy_noise, train
from denoise_adv.transforms import GaussianNoise, MixedNoise, TSNoise


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample_images):
    path = tmp_path_factory.mktemp("train-images")
    for i, img in enumerate(sample_images):
        save_png(img, path / f"{i}.png")
    return path


def _config(folder, out, **kw):
    base = dict(out=str(out), model_kwargs={"depth": 3, "features": 4}, data=str(folder),
                val_data=str(folder), val_crop=48, stride=24, scales=(1.0,), batch_size=4,
                epochs=2, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _weights(path):
    return load_checkpoint(path)[0].state_dict()


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_strategy_noise_mapping():
    sigma = 25 / 255
    assert isinstance(strategy_noise("normal", sigma), GaussianNoise)
    assert strategy_noise("ts-pres", sigma).p == pytest.approx(1 / 3)
    assert isinstance(strategy_noise("ts-def", sigma, ts_iterations=50), TSNoise)
    assert strategy_noise("mixed-25.5", sigma).sigmas == pytest.approx((sigma, 25.5 / 255))
    assert strategy_noise("mixed-26", sigma).sigmas == pytest.approx((sigma, 26 / 255))
    assert isinstance(strategy_noise("mixed-26", sigma), MixedNoise)
    assert strategy_noise("blind", sigma).sigma == (0.0, 55 / 255)
    with pytest.raises(ValueError, match="strategy must be one of"):
        strategy_noise("magic", sigma)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_trains_and_logs(folder, tmp_path, strategy):
    config = _config(folder, tmp_path, strategy=strategy, epochs=1, adv_steps=2)
    result = train(config)
    steps = result["steps"]
    assert steps == 3  # 3 images x 4 patches (64x64, stride 24) / batch 4
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0] == "step,epoch,loss,lr" and len(log) == 1 + steps
    summary = json.loads((tmp_path / "log.json").read_text())
    assert summary["epochs"][0]["val_psnr"] > 5 and summary["config"]["strategy"] == strategy
    _, meta = load_checkpoint(tmp_path / "model.pt")
    assert meta["strategy"] == strategy and meta["sigma"] == pytest.approx(25 / 255)


def test_other_models_and_mixed_precision_train(folder, tmp_path):
    for name, kwargs in (("unfolding", {"stages": 2, "features": 4, "depth": 3}),
                         ("ffdnet", {"depth": 3, "features": 4})):
        result = train(_config(folder, tmp_path / name, model=name, model_kwargs=kwargs,
                               epochs=1, amp="bf16", channels_last=True))
        assert result["steps"] == 3 and result["final_loss"] > 0


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(folder, tmp_path):
    full = train(_config(folder, tmp_path / "full", epochs=3, checkpoint_every=2))
    part = _config(folder, tmp_path / "part", epochs=3, max_steps=4)  # stops mid-epoch 1
    train(part)
    state = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["position"], state["global_step"]) == (1, 1, 4)
    resumed = train(_config(folder, tmp_path / "part", epochs=3), resume=True)
    assert resumed["steps"] == full["steps"] == 9
    assert _same(_weights(tmp_path / "full" / "model.pt"), _weights(tmp_path / "part" / "model.pt"))
    assert [e["val_psnr"] for e in resumed["epochs"]] == [e["val_psnr"] for e in full["epochs"]]


def test_resume_refuses_a_different_configuration(folder, tmp_path):
    train(_config(folder, tmp_path, epochs=1))
    with pytest.raises(ValueError, match="lr differ"):
        train(_config(folder, tmp_path, epochs=1, lr=0.5), resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_config(folder, tmp_path / "elsewhere"), resume=True)


def _cli(folder, out, *extra):
    return [sys.executable, "-m", "denoise_adv", "train", "--data", str(folder), "--out",
            str(out), "--depth", "3", "--features", "4", "--stride", "24", "--scales", "1",
            "--batch-size", "4", "--val-data", "none", "--quiet", *extra]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(folder, tmp_path):
    args = ["--epochs", "150", "--checkpoint-every", "1"]
    subprocess.run(_cli(folder, tmp_path / "full", *args), check=True, timeout=300)
    victim = subprocess.Popen(_cli(folder, tmp_path / "killed", *args))
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    step = 0
    while time.monotonic() < deadline and victim.poll() is None:
        if checkpoint.is_file():
            step = torch.load(checkpoint, weights_only=True)["global_step"]
            if step >= 20:
                break
        time.sleep(0.05)
    assert victim.poll() is None, "the run ended before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = torch.load(checkpoint, weights_only=True)["global_step"]
    assert 20 <= killed_at < 450 and not (tmp_path / "killed" / "model.pt").exists()
    subprocess.run(_cli(folder, tmp_path / "killed", *args, "--resume"), check=True, timeout=300)
    assert _same(_weights(tmp_path / "full" / "model.pt"),
                 _weights(tmp_path / "killed" / "model.pt"))


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(folder, tmp_path):
    # No BatchNorm (it keeps per-process statistics on the CPU): the unfolding model.
    args = ["--model", "unfolding", "--model-kwargs", '{"stages": 2, "features": 4, "depth": 3}',
            "--optimizer", "sgd", "--lr", "0.5", "--steps", "2", "--epochs", "1"]
    single = _cli(folder, tmp_path / "single", *args)
    subprocess.run(single, check=True, timeout=300)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "denoise_adv", *_cli(folder, tmp_path / "ddp", *args)[3:]]
    subprocess.run(ddp, check=True, timeout=300, env=env)
    assert json.loads((tmp_path / "ddp" / "log.json").read_text())["world_size"] == 2
    one, two = _weights(tmp_path / "single" / "model.pt"), _weights(tmp_path / "ddp" / "model.pt")
    for k in one:
        torch.testing.assert_close(one[k], two[k], atol=1e-6, rtol=1e-5)
    torch.manual_seed(0)  # train() seeds the initialisation with the run's seed
    initial = build("unfolding", stages=2, features=4, depth=3).state_dict()
    assert not _same(one, initial)  # the two steps did change the weights


def test_bad_configuration():
    with pytest.raises(ValueError, match="strategy must be one of"):
        TrainConfig(strategy="x").validate()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TrainConfig(batch_size=0).validate()
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"nope": 1})


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_config_file_sets_defaults_and_options_override(folder, tmp_path, suffix):
    from denoise_adv.cli import main

    values = {"steps": 2, "batch-size": 4, "stride": 24, "scales": [1.0], "val_data": "none",
              "strategy": "ts-def", "lr": 0.002, "model_kwargs": {"depth": 3, "features": 4},
              "data": str(folder)}
    config = tmp_path / f"recipe{suffix}"
    if suffix == ".json":
        config.write_text(json.dumps(values))
    else:
        lines = []
        for k, v in values.items():
            if isinstance(v, dict):
                lines.append(f"{k} = {{ " + ", ".join(f"{a} = {b}" for a, b in v.items()) + " }")
            elif isinstance(v, str):
                lines.append(f'{k} = "{v}"')
            else:
                lines.append(f"{k} = {json.dumps(v)}")
        config.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--lr", "0.004",
                 "--quiet"]) == 0
    saved = json.loads((out / "log.json").read_text())["config"]
    assert saved["strategy"] == "ts-def" and saved["model_kwargs"] == {"depth": 3, "features": 4}
    assert saved["lr"] == 0.004  # the command line wins over the file
    assert saved["max_steps"] == 2 and saved["val_data"] is None and saved["scales"] == [1.0]
    bad = tmp_path / "bad.json"
    bad.write_text('{"nope": 1}')
    assert main(["train", "--config", str(bad), "--out", str(out)]) == 2
