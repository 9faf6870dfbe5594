"""AttackSpec kinds (pgd, apgd, square) through WorstCase, amp, evaluate and the command line."""

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from denoise_adv import DenoiseAPGD, DenoisePGD, DenoiseSquare, WorstCase
from denoise_adv.analysis import evaluate_robustness, make_adversarial_set
from denoise_adv.attacks import AttackSpec
from denoise_adv.cli import main
from denoise_adv.data import save_png
from denoise_adv.evaluation.robustness import evaluate_adversarial_set
from denoise_adv.models import DnCNN, NLMeans, save_checkpoint


def _tiny():
    torch.manual_seed(0)
    return DnCNN(depth=3, features=8).eval()


def test_pgd_spec_and_its_record_are_unchanged():
    spec = AttackSpec("l2", steps=3)
    assert spec.as_dict() == {"norm": "l2", "eps": 2 / 255, "alpha": 0.5 / 255, "steps": 3,
                              "random_start": True, "per_pixel": True, "clip": None, "amp": None}
    assert spec.key == "l2" and AttackSpec.named("linf") == AttackSpec("linf")
    assert AttackSpec("linf", eot_iter=4).as_dict()["eot_iter"] == 4
    assert AttackSpec("linf", eot_iter=4).build(_tiny()).eot_iter == 4


@pytest.mark.parametrize(("name", "cls", "norm"), [("apgd-linf", DenoiseAPGD, "Linf"),
                                                   ("apgd-l2", DenoiseAPGD, "L2"),
                                                   ("square-linf", DenoiseSquare, "Linf"),
                                                   ("square-l2", DenoiseSquare, "L2")])
def test_named_specs_build_their_attack(name, cls, norm):
    spec = AttackSpec.named(name, steps=4, restarts=2, queries=7, eps=3 / 255)
    atk = spec.build(_tiny(), torch.Generator().manual_seed(0))
    assert type(atk) is cls and atk.norm == norm and atk.n_restarts == 2 and atk.eps == 3 / 255
    assert atk.per_pixel == (norm == "L2") and spec.key == name
    record = spec.as_dict()
    assert record["kind"] == name.split("-")[0] and "alpha" not in record
    assert (atk.steps == 4) if cls is DenoiseAPGD else (atk.n_queries == 7)
    json.dumps(record)


def test_spec_checks():
    with pytest.raises(ValueError, match="kind must be one of"):
        AttackSpec(kind="fab")
    with pytest.raises(ValueError, match="random_start=False is for kinds pgd, obsatk and fgsm"):
        AttackSpec(kind="apgd", random_start=False)
    with pytest.raises(ValueError, match="restarts is for kinds"):
        AttackSpec(restarts=2)
    with pytest.raises(ValueError, match="eot_iter is for gradient attacks"):
        AttackSpec(kind="square", eot_iter=2)
    with pytest.raises(ValueError, match="queries must be >= 1"):
        AttackSpec(kind="square", queries=0)
    with pytest.raises(ValueError, match="unknown attack 'fab-linf'"):
        AttackSpec.named("fab-linf")


class _DtypeSpy(nn.Module):
    """Records the dtype the wrapped model's first convolution computes in."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, set()
        conv = next(m for m in inner.modules() if isinstance(m, nn.Conv2d))
        conv.register_forward_hook(lambda m, i, o: self.seen.add(o.dtype))

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("name", ["apgd-linf", "apgd-l2", "square-linf", "square-l2"])
def test_bf16_crafting_in_budget_and_worst_case_ensemble(name, noisy_pair):
    noisy, clean = (x[:2, :, :32, :32] for x in noisy_pair)
    spy = _DtypeSpy(_tiny())
    spec = AttackSpec.named(name, steps=3, queries=10, amp="bf16")
    atk = spec.build(spy, torch.Generator().manual_seed(0))
    adv = atk(noisy, clean)
    assert spy.seen == {torch.bfloat16} and adv.dtype == torch.float32
    delta = adv - noisy
    if name.endswith("linf"):
        assert delta.abs().max() <= 2 / 255 + 1e-7
    else:
        assert (delta.flatten(1).norm(dim=1) <= 2 / 255 * 32 * (1 + 1e-5)).all()
    # in an ensemble with PGD: per image at least as bad as each member alone
    members = [replace(spec, amp=None).build(spy, torch.Generator().manual_seed(1)),
               DenoisePGD(spy, steps=2, generator=torch.Generator().manual_seed(2))]
    result = WorstCase(members, amp="bf16").detailed(noisy, clean)
    assert result.member_mse.shape == (2, 2)
    assert torch.equal(result.mse, result.member_mse.max(dim=0).values)
    assert members[0].amp is None  # the member's own setting is restored


def test_evaluate_and_adversarial_sets_with_the_new_kinds(tmp_path):
    images = [("a", torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0)))]
    rows = evaluate_robustness(NLMeans(sigma=25 / 255), images, attacks=["square-linf"],
                               progress=False)
    by_set = {r["set"]: r["psnr"] for r in rows}
    assert set(by_set) == {"gaussian", "square-linf"}
    assert by_set["square-linf"] < by_set["gaussian"]  # NL-means attacked, black-box
    spec = AttackSpec.named("apgd-l2", steps=3)
    path = make_adversarial_set(_tiny(), images, tmp_path / "set.pt", attack=spec,
                                progress=False)
    fixed = evaluate_adversarial_set(_tiny(), path, progress=False)
    assert [r["set"] for r in fixed] == ["gaussian", "apgd-l2"]
    assert fixed[1]["psnr"] < fixed[0]["psnr"]


@pytest.fixture
def files(tmp_path):
    save_png(torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0)),
             tmp_path / "img" / "a.png")
    return tmp_path, save_checkpoint(_tiny(), tmp_path / "m.pt")


@pytest.mark.parametrize("attack", ["apgd", "square"])
def test_cli_attack_choice(files, attack, capsys):
    tmp, ckpt = files
    out = tmp / "out"
    assert main(["attack", "--model", str(ckpt), "--input", str(tmp / "img"), "--steps", "3",
                 "--attack", attack, "--queries", "10", "--norm", "l2", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert {"apgd": "Auto-PGD l2", "square": "Square Attack l2"}[attack] in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["attack"]["kind"] == attack
    assert summary["images"][0]["drop"] > 0
    if attack == "square":  # black-box: NL-means gets a white-box row too
        assert main(["evaluate", "--model", str(ckpt), "nlmeans", "--data", str(tmp / "img"),
                     "--attacks", "linf", "--attack", "square", "--queries", "5", "--out",
                     str(tmp / "ev"), "--quiet"]) == 0
        report = json.loads((tmp / "ev" / "report.json").read_text())
        assert {(r["model"], r["set"]) for r in report["summary"]} >= {
            ("nlmeans", "square-linf"), ("m", "square-linf")}


def test_cli_attack_choice_errors(files, capsys):
    tmp, ckpt = files
    base = ["attack", "--model", str(ckpt), "--input", str(tmp / "img"), "--out",
            str(tmp / "out"), "--quiet"]
    assert main([*base, "--attack", "apgd", "--no-random-start"]) == 2
    assert "--no-random-start is for --attack pgd only" in capsys.readouterr().err
    assert main([*base, "--attack", "square", "--queries", "0"]) == 2
    assert "--queries must be >= 1" in capsys.readouterr().err


def test_every_protocol_attack_is_built_through_attack_spec():
    """Issue 30: one attack value. Each protocol attack's spec builds the attack the protocol
    runs (FGSM and ObsAtk included), and the spec's checks are the attacks' own."""
    from denoise_adv.attacks import AttackSpec, DenoiseFGSM, ObsAtk
    from denoise_adv.evaluation import PROTOCOLS

    model = DnCNN(depth=3, features=4).eval()
    kinds = {}
    for protocol in PROTOCOLS.values():
        for attack in protocol.attacks:
            if attack.kind == "random":
                continue
            spec = attack.spec(randomized=True)
            assert isinstance(spec, AttackSpec) and spec.kind == attack.kind
            assert spec.eps == attack.eps and spec.norm == attack.norm
            kinds[attack.kind] = type(spec.build(model))
    assert kinds["fgsm"] is DenoiseFGSM and kinds["obsatk"] is ObsAtk
    assert set(kinds) == {"pgd", "fgsm", "obsatk", "apgd", "square"}
    with pytest.raises(ValueError, match="fgsm.*steps=1"):
        AttackSpec(kind="fgsm", steps=2, random_start=False)
    with pytest.raises(ValueError, match="obsatk.*l2 only"):
        AttackSpec(kind="obsatk", norm="linf")
