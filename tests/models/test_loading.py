"""Loading a model is one module's story, told once: the old alias paths are gone."""

import pytest
import torch

import denoise_adv.models as models
from denoise_adv.models import loading, published, registry, zoo


def test_every_public_path_is_the_loading_module():
    assert models.pretrained is loading.pretrained
    assert models.load_model_spec is loading.load_model_spec
    assert models.load is loading.load
    assert models.load_denoiser is loading.load_denoiser
    assert models.model_label is loading.model_label
    assert models.zoo_names is zoo.zoo_names and models.zoo_manifest is zoo.zoo_manifest
    assert published.load_published is loading.load_published
    for name in ("load_pretrained", "load_model_spec", "load", "load_denoiser", "model_label",
                 "pretrained", "zoo_manifest", "zoo_names"):
        assert name in models.__all__


@pytest.mark.parametrize(("module", "name"), [(registry, "load"), (zoo, "pretrained"),
                                              (zoo, "load_model_spec")])
def test_the_former_alias_paths_are_gone(module, name):
    with pytest.raises(AttributeError):
        getattr(module, name)


def test_load_denoiser_adapts_a_spec():
    model, channels, meta = models.load_denoiser("zoo:dncnn-s25-normal", 25 / 255)
    assert (channels, meta["strategy"], model.training) == (1, "normal", False)
    raw, _ = models.load_model_spec("zoo:dncnn-s25-normal", 25 / 255)
    y = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(y), raw(y))
    baseline = models.load_denoiser("nlmeans", 0.1, channels=3)
    assert baseline.channels == 3 and baseline.meta == {"spec": "nlmeans", "baseline": True}


def test_load_denoiser_fixes_a_noise_level_model_at_sigma(tmp_path):
    from denoise_adv.models import FFDNet, save_checkpoint

    net = FFDNet(channels=1, depth=3, features=8).eval()
    save_checkpoint(net, tmp_path / "ffdnet.pt")
    loaded = models.load_denoiser(tmp_path / "ffdnet.pt", 0.1)
    y = torch.rand(1, 1, 8, 8)
    assert not models.takes_sigma(loaded.model)
    with torch.no_grad():
        assert torch.equal(loaded.model(y), net(y, 0.1))


def test_model_label_names_specs(tmp_path):
    assert models.model_label("zoo:dncnn-s25-normal") == "dncnn-s25-normal"
    assert models.model_label(tmp_path / "run" / "model.pt") == "run"
    assert models.model_label("nlmeans") == "nlmeans"
    fake = tmp_path / "dncnn-s25-normal.pt"
    fake.write_bytes(b"not the zoo's file")
    assert models.model_label(fake).startswith("dncnn-s25-normal-file-")


def test_a_shipped_model_records_its_level_and_loads_through_every_path():
    model = models.pretrained("zoo:dncnn-s25-normal")
    assert model.sigma == zoo.zoo_manifest()["protocol"]["sigma"] == 25 / 255
    via_load = models.load("zoo:dncnn-s25-normal")
    spec, meta = models.load_model_spec("zoo:dncnn-s25-normal", 25 / 255)
    assert meta["strategy"] == "normal" and not spec.training
    y = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(y), via_load(y)) and torch.equal(model(y), spec(y))


def test_the_transformer_helpers_the_importer_reads_are_public():
    import importlib

    from denoise_adv.models import transformer

    formats = importlib.import_module("denoise_adv.models.pretrained")  # the attribute is the
    # function pretrained(): the module of the formats is reached by its import path
    assert formats.relative_position_index is transformer.relative_position_index
    assert formats.shifted_window_mask is transformer.shifted_window_mask
