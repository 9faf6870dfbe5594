import pytest
import torch

from denoise_adv.analysis import evaluate_robustness, random_perturbation_like, transfer_matrix
from denoise_adv.attacks import AttackSpec


@pytest.fixture(scope="module")
def second_model(train_dncnn):
    # an independently initialised and trained control
    return train_dncnn(("gravel", "rocket"), depth=4, features=12, steps=100, seed=1)


@pytest.mark.slow
def test_transfer_matrix(trained_dncnn, second_model, sample_images):
    images = [(f"i{k}", img) for k, img in enumerate(sample_images[:2])]
    models = {"a": trained_dncnn, "b": second_model}
    result = transfer_matrix(models, images, AttackSpec("linf"), threshold=0.1, seed=2,
                             progress=False)
    # the diagonal is the white-box drop of the same protocol
    for name, model in models.items():
        rows = evaluate_robustness(model, images, attacks={"linf": AttackSpec("linf")}, seed=2,
                                   progress=False)
        gauss = [r["psnr"] for r in rows if r["set"] == "gaussian"]
        adv = [r["psnr"] for r in rows if r["set"] == "linf"]
        white_box = sum(g - a for g, a in zip(gauss, adv)) / len(gauss)
        assert result["drop"][name][name] == pytest.approx(white_box, abs=1e-9)
    for t in models:
        assert result["drop"]["a"][t] > result["baseline"][t]
        assert result["drop"]["b"][t] > result["baseline"][t]
        assert abs(result["baseline"][t]) < 0.5 * result["drop"][t][t]
    assert result["success"]["a"]["a"] and result["success"]["b"]["b"]
    assert result["success"]["a"]["b"] == (result["drop"]["a"]["b"] > 0.1)


def test_random_like_sizes():
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(1, 1, 8, 8, generator=g) * 0.01
    linf = random_perturbation_like(delta, "linf", g)
    assert torch.allclose(linf.abs(), delta.abs().amax().expand_as(linf))
    l2 = random_perturbation_like(delta, "l2", g)
    assert l2.norm().item() == pytest.approx(delta.norm().item(), rel=1e-5)
