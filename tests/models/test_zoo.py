"""The shipped model zoo: every model re-evaluated against its manifest, and model specs."""

import pytest
import torch

from denoise_adv._io import file_sha256
from denoise_adv.analysis import evaluate_robustness, summarize
from denoise_adv.models import (
    DnCNN,
    NLMeans,
    load,
    load_model_spec,
    pretrained,
    save_checkpoint,
    zoo_manifest,
)
from denoise_adv.models.zoo import ZOO_DIR

MANIFEST = zoo_manifest()
NAMES = sorted(MANIFEST["models"])


def test_the_zoo_ships_the_normal_model():
    assert "dncnn-s25-normal" in NAMES


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_shipped_model_matches_its_manifest(name):
    """Fails if the weights, the test data or the noise seeding change."""
    entry, protocol = MANIFEST["models"][name], MANIFEST["protocol"]
    assert file_sha256(ZOO_DIR / entry["file"]) == entry["sha256"]
    model = pretrained(name)
    assert not model.training and isinstance(model, DnCNN)
    rows = evaluate_robustness(model, protocol["data"], protocol["sigma"], {},
                               protocol["noise_seed"], progress=False)
    mean = summarize(rows)[0]
    assert mean["psnr"] == pytest.approx(entry["builtin_test"]["psnr"], abs=0.01)
    assert mean["ssim"] == pytest.approx(entry["builtin_test"]["ssim"], abs=1e-4)
    for row in rows:
        assert row["psnr"] == pytest.approx(entry["builtin_test"]["per_image_psnr"][row["image"]],
                                            abs=0.01)


def test_normal_model_beats_nl_means_on_the_same_noise():
    normal = MANIFEST["models"]["dncnn-s25-normal"]["builtin_test"]["psnr"]
    assert normal > MANIFEST["references"]["nlmeans"]["psnr"]


def test_pretrained_and_specs(tmp_path):
    a = pretrained("dncnn-s25-normal")
    b = pretrained("zoo:dncnn-s25-normal")
    x = torch.rand(1, 1, 24, 24)
    assert torch.equal(a(x), b(x)) and torch.equal(a(x), load("zoo:dncnn-s25-normal")(x))
    model, meta = load_model_spec("zoo:dncnn-s25-normal", 25 / 255)
    assert meta["sha256"] == MANIFEST["models"]["dncnn-s25-normal"]["sha256"]
    assert torch.equal(model(x), a(x))
    baseline, meta = load_model_spec("nlmeans", 20 / 255)
    assert isinstance(baseline, NLMeans) and baseline.sigma == pytest.approx(20 / 255)
    path = save_checkpoint(DnCNN(depth=3, features=4), tmp_path / "m.pt", {"note": "x"})
    model, meta = load_model_spec(path, 25 / 255)
    assert meta["arch"] == "denoise-adv" and meta["note"] == "x"


def test_bad_specs_are_clear():
    with pytest.raises(ValueError, match="unknown zoo model 'nope'; shipped: dncnn-s25"):
        pretrained("nope")
    with pytest.raises(FileNotFoundError, match="zoo:NAME"):
        load_model_spec("missing.pt", 25 / 255)


def test_a_tampered_file_is_refused(tmp_path, monkeypatch):
    import shutil

    from denoise_adv.models import zoo

    fake = tmp_path / "zoo"
    shutil.copytree(ZOO_DIR, fake)
    entry = MANIFEST["models"]["dncnn-s25-normal"]
    with open(fake / entry["file"], "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(zoo, "ZOO_DIR", fake)
    with pytest.raises(ValueError, match="does not match its manifest"):
        pretrained("dncnn-s25-normal")
