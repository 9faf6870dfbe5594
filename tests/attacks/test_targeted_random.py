"""``set_mode_targeted_random()`` for denoisers (issue 33, item 3): each image's target is the
clean image of another image of the batch, under a seeded random derangement."""

import itertools

import pytest
import torch

from denoise_adv import (
    DenoiseAPGD,
    DenoiseBIM,
    DenoiseFGSM,
    DenoisePGD,
    DenoisePGDL2,
    DenoiseSquare,
    ObsAtk,
    WorstCase,
)
from denoise_adv.models import DnCNN

EPS = 8 / 255
#: The seven attacks, each strong enough to move a small DnCNN's outputs in a few steps.
MAKERS = {
    "DenoisePGD": lambda m, g: DenoisePGD(m, eps=EPS, alpha=EPS / 4, steps=5, generator=g),
    "DenoisePGDL2": lambda m, g: DenoisePGDL2(m, eps=EPS, alpha=EPS / 4, steps=5,
                                              per_pixel=True, generator=g),
    "DenoiseFGSM": lambda m, g: DenoiseFGSM(m, eps=EPS),
    "DenoiseBIM": lambda m, g: DenoiseBIM(m, eps=EPS, alpha=EPS / 4, steps=5),
    "ObsAtk": lambda m, g: ObsAtk(m, eps=EPS, alpha=EPS / 4, steps=5, per_pixel=True,
                                  generator=g),
    "DenoiseAPGD": lambda m, g: DenoiseAPGD(m, eps=EPS, steps=5, generator=g),
    "DenoiseSquare": lambda m, g: DenoiseSquare(m, eps=EPS, n_queries=30, generator=g),
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnCNN(depth=3, features=8).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(4, 1, 12, 12, generator=g)
    return clean + 25 / 255 * torch.randn(clean.shape, generator=g), clean


def _recording(atk):
    """Keep the targets the attack draws (installed before the mode is set)."""
    drawn, draw = [], atk.get_random_target_label

    def spy(inputs, labels=None):
        targets = draw(inputs, labels)
        drawn.append(targets)
        return targets

    atk.get_random_target_label = spy
    return drawn


def _mse(a, b):
    return (a - b).pow(2).flatten(1).mean(dim=1)


@pytest.mark.parametrize("name", MAKERS)
def test_each_output_moves_towards_another_images_clean_image(model, batch, name):
    noisy, clean = batch
    atk = MAKERS[name](model, torch.Generator().manual_seed(1))
    drawn = _recording(atk)
    atk.set_mode_targeted_random(quiet=True)
    assert atk.targeted and atk.attack_mode == "targeted(random)"
    assert atk.params["mode"] == "targeted(random)"
    adv = atk(noisy, clean)
    (targets,) = drawn
    order = [next(j for j in range(4) if torch.equal(targets[i], clean[j])) for i in range(4)]
    assert sorted(order) == [0, 1, 2, 3] and all(order[i] != i for i in range(4))
    with torch.no_grad():
        before, after = _mse(model(noisy), targets), _mse(model(adv), targets)
    assert (after < before).all(), (before, after)


def test_derangements_are_uniform_and_never_fix_a_point(model):
    """4 images have 9 derangements; 1800 draws give each about 200 (chi-square, 8 degrees
    of freedom: 26.1 is its 0.999 quantile)."""
    atk = DenoisePGD(model, generator=torch.Generator().manual_seed(0))
    counts = dict.fromkeys(
        (p for p in itertools.permutations(range(4)) if all(p[i] != i for i in range(4))), 0)
    for _ in range(1800):
        counts[tuple(atk._derangement(4).tolist())] += 1  # a fixed point raises KeyError
    assert len(counts) == 9
    chi2 = sum((c - 200) ** 2 / 200 for c in counts.values())
    assert chi2 < 26.1, counts
    two = {tuple(atk._derangement(2).tolist()) for _ in range(20)}
    assert two == {(1, 0)}


def test_same_seed_same_targets(model, batch):
    noisy, clean = batch
    results = []
    for seed in (3, 3, 4):
        atk = DenoisePGD(model, eps=EPS, alpha=EPS / 4, steps=3,
                         generator=torch.Generator().manual_seed(seed))
        atk.set_mode_targeted_random(quiet=True)
        results.append(atk(noisy, clean))
    assert torch.equal(results[0], results[1]) and not torch.equal(results[0], results[2])
    square = DenoiseSquare(model, eps=EPS, n_queries=10, seed=7)  # a seeded attack repeats
    drawn = _recording(square)
    square.set_mode_targeted_random(quiet=True)
    assert torch.equal(square(noisy, clean), square(noisy, clean))
    assert torch.equal(drawn[0], drawn[1])


def test_targets_change_from_call_to_call_without_a_seed(model, batch):
    noisy, clean = batch
    atk = DenoisePGD(model, steps=1, generator=torch.Generator().manual_seed(0))
    drawn = _recording(atk)
    atk.set_mode_targeted_random(quiet=True)
    for _ in range(10):
        atk(noisy, clean)
    assert len({tuple(t[:, 0, 0, 0].tolist()) for t in drawn}) > 1


def test_a_batch_of_one_has_no_derangement(model, batch):
    noisy, clean = batch
    atk = DenoisePGD(model)
    atk.set_mode_targeted_random(quiet=True)
    with pytest.raises(ValueError, match=r"targeted\(random\) .* holds 1 image: pass at least 2"):
        atk(noisy[:1], clean[:1])


def test_without_clean_images_the_models_outputs_are_deranged(model, batch):
    noisy, _ = batch
    atk = DenoisePGD(model, eps=EPS, alpha=EPS / 4, steps=5,
                     generator=torch.Generator().manual_seed(0))
    drawn = _recording(atk)
    atk.set_mode_targeted_random(quiet=True)
    adv = atk(noisy)
    with torch.no_grad():
        outputs = model(noisy)
        (targets,) = drawn
        assert all(any(torch.equal(targets[i], outputs[j]) for j in range(4) if j != i)
                   for i in range(4))
        assert (_mse(model(adv), targets) < _mse(outputs, targets)).all()


def test_the_clean_argument_is_named_clean_in_random_mode(model, batch):
    noisy, clean = batch
    atk = DenoisePGD(model)
    atk.set_mode_targeted_random(quiet=True)
    with pytest.raises(TypeError, match="clean has dtype torch.float64"):
        atk(noisy, clean.double())
    atk.set_mode_targeted_by_label(quiet=True)
    with pytest.raises(TypeError, match="target has dtype torch.float64"):
        atk(noisy, clean.double())


def test_worst_case_in_random_mode_and_least_likely_still_refused(model, batch):
    noisy, clean = batch
    members = [MAKERS["DenoisePGD"](model, None), MAKERS["DenoiseFGSM"](model, None)]
    ensemble = WorstCase(members)
    drawn = _recording(ensemble)
    ensemble.set_mode_targeted_random(quiet=True)
    result = ensemble.detailed(noisy, clean)
    (targets,) = drawn
    with torch.no_grad():
        assert torch.allclose(result.mse, _mse(model(result.adv).clamp(0, 1), targets),
                              rtol=1e-5)
        assert (result.mse < _mse(model(noisy).clamp(0, 1), targets)).all()
    with pytest.raises(ValueError, match="classification-only"):
        DenoisePGD(model).set_mode_targeted_least_likely()
