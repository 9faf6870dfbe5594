"""Fine-tuning from any model (checkpoints, zoo names, published and converted weights), the
noise map of non-blind models in every strategy, and frozen BatchNorm."""

import json

import pytest
import torch

from denoise_adv._io import file_sha256
from denoise_adv.cli import main
from denoise_adv.data import PatchDataset
from denoise_adv.models import build, load_checkpoint, save_checkpoint
from denoise_adv.models.zoo import zoo_manifest
from denoise_adv.training import TrainConfig, Trainer, strategy_noise, train
from denoise_adv.training.finetune import read_init, resolve_init
from denoise_adv.transforms import GaussianNoise

SIGMA = 25 / 255
TINY = {"depth": 3, "features": 8}



def _config(**kw) -> TrainConfig:
    base = dict(patch_size=32, stride=32, scales=(1.0,), batch_size=4, epochs=1, max_steps=2,
                val_data=None, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _source(tmp_path, name="ffdnet", **kwargs):
    torch.manual_seed(5)
    model = build(name, **{**TINY, **kwargs})
    return save_checkpoint(model, tmp_path / f"{name}.pt", {"note": "source"}), model


# ------------------------------------------------------------------------- fine-tuning
def test_init_takes_architecture_weights_and_sha256_from_a_checkpoint(tmp_path, sample_images):
    path, source = _source(tmp_path, channels=1, residual=True, noise_map="first")
    config = _config(out=str(tmp_path / "run"), init=str(path), lr=1e-9)
    trainer = Trainer(config, train_images=sample_images, val_images=[])
    assert trainer.config.model == "ffdnet" and trainer.config.channels == 1
    assert trainer.config.model_kwargs == {**TINY, "noise_map": "first", "residual": True}
    assert trainer.config.init_sha256 == file_sha256(path)
    trainer.setup()
    trainer.release()
    start = trainer.model.state_dict()
    assert all(torch.equal(v, start[k]) for k, v in source.state_dict().items())
    train(config)
    saved = json.loads((tmp_path / "run" / "log.json").read_text())["config"]
    assert saved["init"] == str(path) and saved["init_sha256"] == file_sha256(path)
    _, meta = load_checkpoint(tmp_path / "run" / "model.pt")
    assert meta["init"] == str(path) and meta["init_sha256"] == file_sha256(path)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["config"]["init_sha256"] == file_sha256(path)


def test_init_from_converted_weights_and_the_zoo(tmp_path):
    kair = {f"model.{i}.{p}": torch.randn(4 if i < 4 else 1, 1 if i == 0 else 4, 3, 3)
            if p == "weight" else torch.zeros(4 if i < 4 else 1)
            for i in (0, 2, 4) for p in ("weight", "bias")}
    torch.save(kair, tmp_path / "kair.pth")
    _, source = read_init(str(tmp_path / "kair.pth"))
    assert (source.model, source.kwargs) == ("dncnn", {"depth": 3, "features": 4,
                                                       "batchnorm": False})
    assert source.sha256 == file_sha256(tmp_path / "kair.pth")
    _, zoo = read_init("zoo:dncnn-s25-normal")
    assert zoo.sha256 == zoo_manifest()["models"]["dncnn-s25-normal"]["sha256"]
    assert (zoo.model, zoo.kwargs) == ("dncnn", {"depth": 10, "features": 32})
    with pytest.raises(ValueError, match="trainable weights"):
        read_init("nlmeans")


@pytest.mark.slow
def test_init_from_the_published_ffdnet_one_step():
    from denoise_adv.models.published import published_info

    config, _ = resolve_init(_config(init="zoo:ffdnet-ipol-gray"))
    assert config.init_sha256 == published_info("ffdnet-ipol-gray")["sha256"]
    assert config.model_kwargs == {"depth": 15, "features": 64, "bias": False,
                                   "noise_map": "first", "residual": True, "padding": "reflect"}
    result = Trainer(_config(init="zoo:ffdnet-ipol-gray", max_steps=1, batch_size=2,
                             patch_size=16, stride=48, strategy="adversarial", adv_steps=1,
                             freeze_batchnorm=True, lr=1e-6),
                     train_images=[torch.rand(1, 48, 48)], val_images=[]).run()
    assert result["steps"] == 1 and 0 < result["final_loss"] < 0.05


def test_options_that_contradict_the_source_are_refused(tmp_path):
    path, _ = _source(tmp_path)
    for kw, message in ((dict(model="dncnn"), "model 'dncnn' contradicts"),  # the default
                        (dict(model="unfolding"), "model 'unfolding' contradicts"),
                        (dict(channels=3), "channels 3 contradicts"),
                        (dict(model_kwargs={"depth": 4}), r"depth=4 \(source: 3\)"),
                        (dict(model_kwargs={"residual": True}), "residual=True"),
                        (dict(model_kwargs={"nope": 1}), "do not fit")):
        explicit = set(kw)
        with pytest.raises(ValueError, match=message):
            resolve_init(_config(init=str(path), **kw), explicit=explicit)
    # a default left alone takes the source's value; repeating the source's values is fine
    config, _ = resolve_init(_config(init=str(path), model="dncnn"))
    assert config.model == "ffdnet"
    config, _ = resolve_init(_config(init=str(path), model_kwargs={"depth": 3, "bias": True}))
    assert config.model_kwargs == TINY
    with pytest.raises(ValueError, match="the source changed"):
        resolve_init(_config(init=str(path), init_sha256="0" * 64))


def _cli_error(capsys, *args):
    assert main(["train", "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("denoise-adv train: error:")
    return err


def test_command_line_contradictions_are_one_line_errors(tmp_path, capsys):
    path, _ = _source(tmp_path)
    out = ["--out", str(tmp_path / "run")]
    assert "depth=4 (source: 3)" in _cli_error(capsys, *out, "--init", str(path), "--depth", "4")
    assert "model 'dncnn'" in _cli_error(capsys, *out, "--init", str(path), "--model", "dncnn")
    color = save_checkpoint(build("dncnn", channels=3, depth=3, features=4), tmp_path / "c3.pt")
    # --channels 1 is the default, but given: it contradicts a colour source
    assert "channels 1" in _cli_error(capsys, *out, "--init", str(color), "--channels", "1")
    err = _cli_error(capsys, *out, "--depth", "3", "--model-kwargs", '{"depth": 8}')
    assert "--depth 3 contradicts --model-kwargs depth=8" in err
    assert not (tmp_path / "run").exists()


def test_depth_agrees_with_model_kwargs_and_the_command_line_beats_the_file(tmp_path):
    import argparse

    from denoise_adv.cli.train import build_config

    def config(**given):
        return build_config(argparse.Namespace(out=str(tmp_path), **given))

    assert config(depth=3, model_kwargs='{"depth": 3, "features": 4}').model_kwargs == {
        "depth": 3, "features": 4}
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"model_kwargs": {"depth": 8, "features": 4}}))
    assert config(config=str(recipe), depth=5).model_kwargs == {"depth": 5, "features": 4}
    recipe.write_text(json.dumps({"model_kwargs": {"depth": 8}, "depth": 5}))
    with pytest.raises(ValueError, match="contradicts --model-kwargs depth=8"):
        config(config=str(recipe))


def test_resume_checks_the_source_is_the_same(tmp_path, sample_images):
    path, _ = _source(tmp_path)
    kw = dict(out=str(tmp_path / "run"), init=str(path), max_steps=4, epochs=2,
              checkpoint_every=1)
    full = Trainer(_config(**{**kw, "out": str(tmp_path / "full")}), sample_images, []).run()
    Trainer(_config(**{**kw, "max_steps": 2}), sample_images, []).run()
    resumed = Trainer(_config(**kw), sample_images, [], resume=True).run()
    assert resumed["steps"] == full["steps"] == 4
    a, b = (load_checkpoint(tmp_path / d / "model.pt")[0].state_dict() for d in ("full", "run"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(9)  # the source file is replaced by other weights of the same model
    save_checkpoint(build("ffdnet", **TINY), path)
    with pytest.raises(ValueError, match="no longer the model the run started from"):
        Trainer(_config(**{**kw, "max_steps": 5}), sample_images, [], resume=True).run()
    other = save_checkpoint(build("ffdnet", **TINY), tmp_path / "other.pt")
    with pytest.raises(ValueError, match=": init differ from the run"):
        Trainer(_config(**{**kw, "init": str(other), "max_steps": 5}), sample_images, [],
                resume=True).run()


# --------------------------------------------------------------------- the noise map
class _Recording(Trainer):
    """Records each batch (noisy, clean, sigma) and every sigma the model's forward gets."""

    def setup(self) -> None:
        super().setup()
        self.batches, self.seen = [], []
        self.model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        sigma = args[1] if len(args) > 1 else kwargs.get("sigma")
        self.seen.append(sigma.detach().clone() if torch.is_tensor(sigma) else sigma)

    def get_batch(self, *batch):
        begin = len(self.seen)  # the batch's calls: its attack's, then the training forward
        out = super().get_batch(*batch)
        self.batches.append((out, begin))
        return out

    def calls(self) -> list[list]:
        """The sigmas the model got, batch by batch."""
        starts = [begin for _, begin in self.batches] + [len(self.seen)]
        return [self.seen[a:b] for a, b in zip(starts, starts[1:])]


def _recorded(images, **kw) -> _Recording:
    trainer = _Recording(_config(model="ffdnet", model_kwargs=TINY, **kw), images, [])
    trainer.run()
    return trainer


@pytest.mark.parametrize("strategy", ["normal", "ts-def", "mixed-26", "adversarial"])
def test_fixed_levels_give_the_nominal_sigma(sample_images, strategy):
    trainer = _recorded(sample_images, strategy=strategy, sigma=20 / 255, adv_steps=2)
    calls = trainer.calls()
    assert [len(c) for c in calls] == [3 if strategy == "adversarial" else 1] * 2
    assert trainer.seen == [20 / 255] * len(trainer.seen)
    assert [b[0][2] for b in trainer.batches] == [20 / 255] * 2


def test_a_blind_range_gives_each_sample_the_level_it_was_drawn_at(sample_images):
    trainer = _recorded(sample_images * 3, blind=True, blind_range=(5 / 255, 55 / 255),
                        batch_size=8)
    for ((noisy, clean, sigma), _), calls in zip(trainer.batches, trainer.calls()):
        levels = sigma.flatten()
        assert len(calls) == 1 and torch.equal(calls[0].flatten(), levels)  # the model got them
        ratio = (noisy - clean).flatten(1).std(1) / levels  # the noise was drawn at them
        assert bool(((ratio > 0.92) & (ratio < 1.08)).all()), ratio
        assert float(levels.max() - levels.min()) > 10 / 255


@pytest.mark.parametrize("blind", [False, True])
def test_the_adversarial_strategy_attacks_through_the_map(sample_images, blind):
    trainer = _recorded(sample_images * 2, strategy="adversarial", adv_steps=2, blind=blind,
                        blind_range=(5 / 255, 55 / 255), batch_size=4)
    assert len(trainer.batches) == 2
    for ((_, _, sigma), _), calls in zip(trainer.batches, trainer.calls()):
        assert len(calls) == 3  # the attack's two steps, then the training forward
        for got in calls:
            if blind:
                assert torch.equal(torch.as_tensor(got).flatten(), sigma.flatten())
            else:
                assert got == SIGMA


def test_levels_leave_the_noise_unchanged_and_are_the_drawn_ones(sample_images):
    noise = strategy_noise("ts-def", (0.0, 55 / 255))
    plain = PatchDataset(sample_images, 32, 32, (1.0,), noise=noise, seed=3)
    marked = PatchDataset(sample_images, 32, 32, (1.0,), noise=noise, seed=3, levels=True)
    levels = []
    for i in range(len(plain)):
        (a, clean), (b, _, level) = plain[i], marked[i]
        assert torch.equal(a, b)
        ratio = float((b - clean).std() / level)
        assert 0.9 < ratio < 1.12, ratio  # TS stretches the norm a little (T=10, p=1/2)
        levels.append(float(level))
    assert max(levels) - min(levels) > 20 / 255
    fixed = PatchDataset(sample_images, 32, 32, (1.0,), noise=GaussianNoise(0.1), levels=True)
    assert float(fixed[0][2]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="levels needs a noise with one sigma"):
        PatchDataset(sample_images, 32, 32, noise=strategy_noise("mixed-26", SIGMA), levels=True)


def test_validation_of_a_non_blind_model_uses_sigma(sample_images):
    trainer = _Recording(_config(model="ffdnet", model_kwargs=TINY, sigma=30 / 255, blind=True,
                                 val_crop=32), sample_images, sample_images)
    trainer.setup()
    trainer.release()
    trainer.seen.clear()
    assert trainer.validate() > 5
    assert trainer.seen == [30 / 255] * len(sample_images)


# --------------------------------------------------------------------- frozen BatchNorm
@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_batchnorm_keeps_running_statistics(tmp_path, sample_images, freeze):
    path, source = _source(tmp_path)
    before = source.state_dict()
    trainer = Trainer(_config(init=str(path), freeze_batchnorm=freeze, strategy="adversarial",
                              adv_steps=1, epochs=2, max_steps=None, val_crop=32, batch_size=4),
                      sample_images[:2], sample_images[:1])
    result = trainer.run()
    assert result["steps"] == 4 and len(result["epochs"]) == 2  # validated between epochs
    after = trainer.model.state_dict()
    stats = [k for k in after if "running" in k or "num_batches" in k]
    assert stats and all(torch.equal(before[k], after[k]) == freeze for k in stats)
    assert not torch.equal(before["net.0.weight"], after["net.0.weight"])  # it did train
