"""WorstCase: the per-image worst case of several denoising attacks."""

import json
import math

import pytest
import torch
import torchattacks

from denoise_adv import DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk, WorstCase
from denoise_adv.attacks import WorstCaseResult, load_adversarial_set
from denoise_adv.metrics import psnr
from denoise_adv.models import DnCNN


def _crops(noisy_pair):
    """The sample crops cut into 32x32 tiles: 12 images, so that winners vary."""
    noisy, clean = noisy_pair

    def tile(x):
        tiles = x.unfold(2, 32, 32).unfold(3, 32, 32)  # (B, 1, 2, 2, 32, 32)
        return tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, 32, 32)

    return tile(noisy), tile(clean)


def _small(noisy_pair):
    """Two 32x32 corners of the sample crops (for the cheap checks)."""
    return tuple(x[:2, :, :32, :32] for x in noisy_pair)


def _members(model, seeds=(1, 2, 3)):
    """L-inf PGD, per-pixel L2 PGD, ObsAtk (own generators, so they can be rebuilt) and FGSM."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    return [
        DenoisePGD(model, eps=2 / 255, alpha=0.5 / 255, steps=3, generator=gens[0]),
        DenoisePGDL2(model, eps=2 / 255, alpha=0.5 / 255, steps=3, per_pixel=True,
                     generator=gens[1]),
        ObsAtk(model, eps=2 / 255, alpha=0.5 / 255, steps=3, per_pixel=True, generator=gens[2]),
        DenoiseFGSM(model, eps=2 / 255),
    ]


def _output_psnr(model, adv, clean):
    with torch.no_grad():
        return psnr(model(adv).clamp(0, 1), clean)


def test_psnr_at_most_every_member_and_every_restart(trained_dncnn, noisy_pair):
    noisy, clean = _crops(noisy_pair)
    restarts = 2
    atk = WorstCase(_members(trained_dncnn), restarts=restarts)
    result = atk.detailed(noisy, clean)
    ours = _output_psnr(trained_dncnn, result.adv, clean)

    # rebuild the members with the same generators: restart r is the member's (r+1)-th call
    candidates, labels = [], []
    for index, member in enumerate(_members(trained_dncnn)):
        for run in range(restarts if member.random_start else 1):
            candidates.append(member(noisy, clean))
            labels.append((index, run))
    scores = torch.stack([_output_psnr(trained_dncnn, adv, clean) for adv in candidates])
    assert not torch.equal(candidates[0], candidates[1])  # restarts differ
    assert bool((ours[None] <= scores + 1e-6).all())  # batches differ: allow rounding
    best = scores.argmin(dim=0)  # first minimum, as the ensemble breaks ties
    for i, k in enumerate(best.tolist()):
        assert torch.equal(result.adv[i], candidates[k][i])
        assert (result.winner[i].item(), result.restart[i].item()) == labels[k]
    assert len(set(result.winner.tolist())) > 1  # the data make different members win
    assert bool((ours < scores.max(dim=0).values).any())  # so the ensemble beats some member
    # the recorded scores are the per-image MSE behind those PSNRs
    torch.testing.assert_close(-10 * torch.log10(result.mse), ours)
    for index in range(4):
        rows = [k for k, (m, _) in enumerate(labels) if m == index]
        worst = scores[rows].min(dim=0).values
        torch.testing.assert_close(-10 * torch.log10(result.member_mse[index]), worst)
    assert atk.last_result is result and atk.last_winner is result.winner


@pytest.mark.parametrize("make", [
    lambda m: DenoisePGD(m, steps=3, generator=torch.Generator().manual_seed(7)),
    lambda m: DenoisePGDL2(m, eps=0.2, alpha=0.05, steps=3,
                           generator=torch.Generator().manual_seed(7)),
    lambda m: DenoiseFGSM(m),
], ids=["pgd", "pgdl2", "fgsm"])
def test_one_member_is_that_member_bit_for_bit(trained_dncnn, noisy_pair, make):
    noisy, clean = _small(noisy_pair)
    assert torch.equal(WorstCase([make(trained_dncnn)])(noisy, clean),
                       make(trained_dncnn)(noisy, clean))


def test_one_member_bit_for_bit_on_global_rng_without_clean_and_targeted(trained_dncnn,
                                                                          noisy_pair):
    noisy, clean = _small(noisy_pair)
    member = DenoisePGD(trained_dncnn, steps=3)
    ensemble = WorstCase([member])
    torch.manual_seed(11)
    expected = member(noisy)
    torch.manual_seed(11)
    assert torch.equal(ensemble(noisy), expected)  # reference: model(noisy), computed once

    target = torch.zeros_like(clean)
    member.set_mode_targeted_by_label(quiet=True)
    ensemble.set_mode_targeted_by_label(quiet=True)
    torch.manual_seed(12)
    expected = member(noisy, target)
    torch.manual_seed(12)
    assert torch.equal(ensemble(noisy, target), expected)


def test_global_rng_restarts_follow_the_documented_order(trained_dncnn, noisy_pair):
    noisy, clean = _small(noisy_pair)
    a = DenoisePGD(trained_dncnn, steps=2)
    b = DenoisePGDL2(trained_dncnn, eps=0.3, alpha=0.1, steps=2)
    torch.manual_seed(3)
    result = WorstCase([a, b], restarts=2).detailed(noisy, clean)
    torch.manual_seed(3)
    candidates = [a(noisy, clean), a(noisy, clean), b(noisy, clean), b(noisy, clean)]
    for i in range(noisy.shape[0]):
        k = 2 * result.winner[i].item() + result.restart[i].item()
        assert torch.equal(result.adv[i], candidates[k][i])


def test_targeted_mode_keeps_the_closest_output(trained_dncnn, noisy_pair):
    noisy, clean = _crops(noisy_pair)
    target = torch.full_like(clean, 0.5)
    members = _members(trained_dncnn)[:2]
    atk = WorstCase(members, restarts=2)
    atk.set_mode_targeted_by_label(quiet=True)
    result = atk.detailed(noisy, target)
    distances = []
    for member in _members(trained_dncnn)[:2]:
        member.set_mode_targeted_by_label(quiet=True)
        for _ in range(2):
            adv = member(noisy, target)
            with torch.no_grad():
                out = trained_dncnn(adv).clamp(0, 1)
            distances.append((out - target).pow(2).flatten(1).mean(1))
    distances = torch.stack(distances)
    torch.testing.assert_close(result.mse, distances.min(dim=0).values, rtol=0, atol=0)
    with torch.no_grad():
        before = (trained_dncnn(noisy).clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    assert bool((result.mse < before).all())


@pytest.mark.parametrize("a", [0.95, 1.05])
def test_linear_denoiser_closed_form_through_the_ensemble(linear_denoiser, a):
    # f(y) = a*y: L-inf PGD and FGSM end on eps*sign(a*r), L2 PGD on eps2*sign(a)*r/||r||,
    # r = a*y - x. Image 0 has a dense residual (L-inf wins), image 1 one noisy pixel (L2 wins).
    g = torch.Generator().manual_seed(0)
    clean = torch.full((2, 1, 8, 8), 0.3, dtype=torch.float64)
    noisy = clean.clone()
    noisy[0] += 0.05 * torch.randn((1, 8, 8), generator=g, dtype=torch.float64)
    noisy[1, 0, 3, 4] += 0.5
    eps, eps2 = 2 / 255, 10 / 255
    model = linear_denoiser(a)
    members = [DenoisePGD(model, eps=eps, alpha=1 / 255, steps=4, random_start=False),
               DenoisePGDL2(model, eps=eps2, alpha=eps2 / 2, steps=5, random_start=False),
               DenoiseFGSM(model, eps=eps)]
    result = WorstCase(members, restarts=3).detailed(noisy, clean)

    r = a * noisy - clean
    linf = eps * torch.sign(a * r)
    l2 = eps2 * math.copysign(1, a) * r / r.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    outputs = [a * (noisy + d) for d in (linf, l2)]
    assert all(bool(((o >= 0) & (o <= 1)).all()) for o in outputs)  # the metric's clamp is idle
    mse = torch.stack([(o - clean).pow(2).flatten(1).mean(1) for o in outputs])
    assert mse.argmax(dim=0).tolist() == [0, 1]  # closed forms: L-inf wins image 0, L2 image 1
    assert result.winner.tolist() == [0, 1]  # FGSM ties with PGD on image 0: the earlier wins
    assert result.restart.tolist() == [0, 0]  # deterministic members run once
    torch.testing.assert_close(result.adv, noisy + torch.stack([linf[0], l2[1]]), atol=1e-12,
                               rtol=0)
    torch.testing.assert_close(result.mse, mse.max(dim=0).values, atol=1e-15, rtol=0)


def _counting(model):
    """Count the model's forward passes (a forward hook)."""
    calls = []
    model.register_forward_hook(lambda module, args, out: calls.append(module.training))
    return calls


def test_cost_one_forward_per_candidate_and_one_shared_reference():
    torch.manual_seed(0)
    model = DnCNN(depth=3, features=4)
    calls = _counting(model)
    noisy = torch.rand(2, 1, 8, 8)
    members = [DenoisePGD(model, steps=3), DenoisePGDL2(model, steps=2), DenoiseFGSM(model)]
    WorstCase(members, restarts=2)(noisy, noisy)
    # forward+backward: 3*2 + 2*2 + 1 (FGSM runs once); scoring: 2 + 2 + 1 candidates
    assert len(calls) == 11 + 5
    calls.clear()
    WorstCase(members[:2], restarts=2)(noisy)  # no clean image: + one reference forward
    assert len(calls) == 1 + 10 + 4
    assert not any(calls)  # all in eval mode


def test_torchattacks_multiattack_refuses_before_any_work(noisy_pair):
    noisy, clean = _small(noisy_pair)
    model = DnCNN(depth=3, features=4).train()
    calls = _counting(model)
    for members in ([DenoisePGD(model), DenoiseFGSM(model)],
                    [WorstCase([DenoisePGD(model)]), DenoisePGDL2(model)]):
        multi = torchattacks.MultiAttack(members)
        with pytest.raises(TypeError, match=r"MultiAttack .* use denoise_adv\.attacks\.WorstCase"
                           ) as info:
            multi(noisy, clean)
        assert "\n" not in str(info.value)
        assert calls == [] and all(m.training for m in model.modules())
    # the members still work on their own afterwards
    assert DenoisePGD(model, steps=1)(noisy, clean).shape == noisy.shape


def test_argument_checks(trained_dncnn):
    other = DnCNN(depth=3, features=4)
    pgd = DenoisePGD(trained_dncnn)
    with pytest.raises(ValueError, match="at least one denoising attack"):
        WorstCase([])
    with pytest.raises(TypeError, match="attacks must be a list"):
        WorstCase(pgd)
    with pytest.raises(TypeError, match=r"attacks\[1\] must be a denoise_adv DenoiseAttack.*PGD"):
        WorstCase([pgd, torchattacks.PGD(trained_dncnn)])
    with pytest.raises(ValueError, match=r"attacks\[1\] \(DenoiseFGSM\) attacks a different model"):
        WorstCase([pgd, DenoiseFGSM(other)])
    with pytest.raises(ValueError, match="restarts must be >= 1"):
        WorstCase([pgd], restarts=0)
    with pytest.raises(TypeError, match="restarts must be an integer"):
        WorstCase([pgd], restarts=1.5)


def test_call_time_checks():
    model = DnCNN(depth=3, features=4)
    noisy = torch.rand(1, 1, 8, 8)
    fgsm = DenoiseFGSM(model)
    atk = WorstCase([DenoisePGD(model, steps=1), fgsm])
    with pytest.raises(ValueError, match=r"attacks\[1\] \(DenoiseFGSM\) has no random start"):
        atk(noisy)
    fgsm.set_model(DnCNN(depth=3, features=4))  # a member moved to another model later
    with pytest.raises(ValueError, match="different model"):
        atk(noisy, noisy)
    with pytest.raises(ValueError, match="noisy contains NaN"):
        WorstCase([DenoisePGD(model)])(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="classification-only"):
        atk.set_mode_targeted_least_likely()


def test_model_mode_restored_also_when_a_member_raises():
    torch.manual_seed(0)
    model = DnCNN(depth=3, features=4).train()
    model.net[1].eval()
    modes = [m.training for m in model.modules()]
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    pair = (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    WorstCase([DenoisePGD(model, steps=2), DenoiseFGSM(model)], restarts=2)(*pair)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items())  # eval inside

    def broken(output, target):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        WorstCase([DenoisePGD(model, steps=1), DenoisePGD(model, loss=broken)])(*pair)
    assert [m.training for m in model.modules()] == modes


def test_device_follows_the_model(device, linear_denoiser):
    model = DnCNN(depth=3, features=4).to(device)
    noisy = torch.rand(2, 1, 8, 8)  # on the CPU
    result = WorstCase([DenoisePGD(model, steps=1), DenoiseFGSM(model)]).detailed(noisy, noisy)
    for t in result:
        assert t.device.type == device.type
    free = linear_denoiser(0.5)  # no parameters: the input's device
    assert WorstCase([DenoisePGD(free, steps=1)])(noisy.to(device)).device.type == device.type


def test_nested_ensemble_keeps_the_same_images(trained_dncnn, noisy_pair):
    noisy, clean = _crops(noisy_pair)
    flat = _members(trained_dncnn)
    nested = _members(trained_dncnn)
    a = WorstCase(flat)(noisy, clean)
    b = WorstCase([WorstCase(nested[:2]), *nested[2:]])(noisy, clean)
    assert torch.equal(a, b)


def test_repr_params_and_saved_set(tmp_path):
    model = DnCNN(depth=3, features=4)
    atk = WorstCase([DenoisePGD(model, steps=1), DenoiseFGSM(model)], restarts=3)
    text = repr(atk)
    assert text.startswith("WorstCase(") and "DenoisePGD(" in text and "DenoiseFGSM(" in text
    assert "restarts=3" in text
    params = atk.params
    assert json.loads(json.dumps(params)) == params
    assert params["restarts"] == 3 and [p["attack"] for p in params["attacks"]] == [
        "DenoisePGD", "DenoiseFGSM"]
    assert isinstance(atk, torchattacks.attack.Attack)
    assert atk.last_result is None and atk.last_winner is None
    pair = (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    atk.save([pair], tmp_path / "adv.pt", verbose=False, progress=False)
    saved = load_adversarial_set(tmp_path / "adv.pt")
    assert saved["meta"]["attacks"][1]["attack"] == "DenoiseFGSM"
    assert isinstance(atk.last_result, WorstCaseResult)
    assert torch.equal(saved["adv_inputs"], atk.last_result.adv)
