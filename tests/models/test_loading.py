"""Loading a model is one module's story; the old paths still lead to it."""

import torch

import denoise_adv.models as models
from denoise_adv.models import loading, published, registry, zoo


def test_every_public_path_is_the_loading_module():
    assert models.pretrained is loading.pretrained is zoo.pretrained
    assert models.load_model_spec is loading.load_model_spec is zoo.load_model_spec
    assert models.load is loading.load is registry.load
    assert models.zoo_names is zoo.zoo_names and models.zoo_manifest is zoo.zoo_manifest
    assert published.load_published is loading.load_published
    for name in ("load_pretrained", "load_model_spec", "load", "pretrained", "zoo_manifest",
                 "zoo_names"):
        assert name in models.__all__


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
