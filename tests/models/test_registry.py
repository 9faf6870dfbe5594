import pytest
import torch

from denoise_adv.models import DnCNN, load, load_checkpoint, save_checkpoint


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = DnCNN(channels=3, depth=4, features=8)
    model.net[3].running_mean.fill_(0.5)  # buffers travel too
    path = save_checkpoint(model, tmp_path / "sub" / "m.pt", {"sigma": 25 / 255, "note": "x"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]  # atomic: no temp left
    loaded, meta = load_checkpoint(path)
    assert meta == {"sigma": 25 / 255, "note": "x"} and not loaded.training
    assert loaded.config == model.config
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["model"] == "dncnn" and raw["kwargs"] == model.config
    assert isinstance(load(path), DnCNN)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(ValueError, match="cannot read model checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a denoise_adv checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="architecture name, not weights"):
        load("dncnn")
    with pytest.raises(TypeError, match="registered denoise_adv model"):
        save_checkpoint(torch.nn.Identity(), tmp_path / "x.pt")
