"""The versioned protocol: v1 is frozen, versions are looked up, attacks are checked."""

import dataclasses
import json

import pytest
import torch

from denoise_adv.attacks import DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk
from denoise_adv.benchmark import (
    PROTOCOL_V1,
    PROTOCOL_V1_QUICK,
    BenchAttack,
    Protocol,
    get_protocol,
)
from denoise_adv.models import DnCNN


def _a(name, threat, kind, norm, eps, alpha, steps, restarts=1):
    return {"name": name, "threat": threat, "kind": kind, "norm": norm, "eps": eps,
            "alpha": alpha, "steps": steps, "restarts": restarts}


W, T, R = "white-box", "transfer", "random"

#: PROTOCOL_V1, written out by hand. If this test fails, v1 was changed: revert the change and
#: publish the new numbers as a new protocol version instead.
EXPECTED_V1 = {
    "version": "v1",
    "data": "builtin:test",
    "channels": 1,
    "images": None,
    "crop": None,
    "sigma": 25 / 255,
    "noise_seeds": [0],
    "reference": "zoo:dncnn-s25-normal",
    "attacks": [
        _a("pgd-linf-1", W, "pgd", "linf", 1 / 255, 0.25 / 255, 10),
        _a("pgd-linf-2", W, "pgd", "linf", 2 / 255, 0.5 / 255, 10),
        _a("pgd-linf-4", W, "pgd", "linf", 4 / 255, 1 / 255, 10),
        _a("pgd-l2-1", W, "pgd", "l2", 1 / 255, 0.25 / 255, 10),
        _a("pgd-l2-2", W, "pgd", "l2", 2 / 255, 0.5 / 255, 10),
        _a("pgd-l2-4", W, "pgd", "l2", 4 / 255, 1 / 255, 10),
        _a("pgd-linf-2-s20", W, "pgd", "linf", 2 / 255, 0.5 / 255, 20),
        _a("obsatk-2", W, "obsatk", "l2", 2 / 255, 0.5 / 255, 10),
        _a("fgsm-2", W, "fgsm", "linf", 2 / 255, 0.0, 1),
        _a("transfer-linf-1", T, "pgd", "linf", 1 / 255, 0.25 / 255, 10),
        _a("transfer-linf-2", T, "pgd", "linf", 2 / 255, 0.5 / 255, 10),
        _a("transfer-linf-4", T, "pgd", "linf", 4 / 255, 1 / 255, 10),
        _a("transfer-l2-1", T, "pgd", "l2", 1 / 255, 0.25 / 255, 10),
        _a("transfer-l2-2", T, "pgd", "l2", 2 / 255, 0.5 / 255, 10),
        _a("transfer-l2-4", T, "pgd", "l2", 4 / 255, 1 / 255, 10),
        _a("random-linf-1", R, "random", "linf", 1 / 255, 0.0, 0),
        _a("random-linf-2", R, "random", "linf", 2 / 255, 0.0, 0),
        _a("random-linf-4", R, "random", "linf", 4 / 255, 0.0, 0),
        _a("random-l2-1", R, "random", "l2", 1 / 255, 0.0, 0),
        _a("random-l2-2", R, "random", "l2", 2 / 255, 0.0, 0),
        _a("random-l2-4", R, "random", "l2", 4 / 255, 0.0, 0),
    ],
    "headline_budget": 2 / 255,
    "bootstrap": 1000,
    "bootstrap_seed": 0,
    "confidence": 0.95,
    "tolerance_db": 0.01,
}


def test_protocol_v1_is_frozen():
    assert PROTOCOL_V1.as_dict() == EXPECTED_V1
    # and the dict is all there is: the dataclass has no field the dict does not show, but
    # the restoration task, recorded only when set (None: denoising, as before tasks existed)
    assert [f.name for f in dataclasses.fields(Protocol)] == [*EXPECTED_V1, "task"]
    assert PROTOCOL_V1.task is None
    assert [f.name for f in dataclasses.fields(BenchAttack)] == list(EXPECTED_V1["attacks"][0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROTOCOL_V1.sigma = 15 / 255
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROTOCOL_V1.attacks[0].eps = 1.0
    assert isinstance(PROTOCOL_V1.attacks, tuple)  # no list to append to


def test_budgets_and_threats():
    assert PROTOCOL_V1.budgets == (1 / 255, 2 / 255, 4 / 255)
    assert [a.budget for a in PROTOCOL_V1.attacks_of("random")] == [1.0, 2.0, 4.0] * 2
    assert len(PROTOCOL_V1.attacks_of("white-box")) == 9


def test_versions_and_files(tmp_path):
    assert get_protocol("v1") is PROTOCOL_V1
    assert get_protocol(PROTOCOL_V1_QUICK) is PROTOCOL_V1_QUICK
    assert get_protocol("v1-quick").version != PROTOCOL_V1.version
    with pytest.raises(ValueError, match="unknown protocol version 'v3'; this release knows v1"):
        get_protocol("v3")
    path = tmp_path / "custom.json"
    custom = PROTOCOL_V1.derive("mine", crop=32)
    path.write_text(json.dumps(custom.as_dict()))
    assert get_protocol(str(path)) == custom
    with pytest.raises(FileNotFoundError, match="protocol file not found"):
        get_protocol(str(tmp_path / "missing.json"))
    path.write_text(json.dumps({**custom.as_dict(), "sigmas": [1]}))
    with pytest.raises(ValueError, match="unknown \\['sigmas'\\]"):
        get_protocol(str(path))


@pytest.mark.parametrize("kwargs, match", [
    (dict(threat="grey-box"), "threat must be one of"),
    (dict(kind="random"), "random exactly for the random threat"),
    (dict(kind="fgsm", norm="l2"), "does not fit attack kind 'fgsm'"),
    (dict(eps=0.0), "eps must be > 0"),
    (dict(alpha=0.0), "alpha must be > 0"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(restarts=0), "restarts must be >= 1"),
])
def test_bad_attacks(kwargs, match):
    values = dict(name="x", threat="white-box", kind="pgd", norm="linf", eps=0.01, alpha=0.01,
                  steps=2)
    with pytest.raises(ValueError, match=match):
        BenchAttack(**{**values, **kwargs})


def test_bad_protocols():
    attack = PROTOCOL_V1.attacks[0]
    with pytest.raises(ValueError, match="attack names must be unique"):
        Protocol("x", attacks=(attack, attack))
    with pytest.raises(ValueError, match="headline_budget"):
        Protocol("x", attacks=(attack,))
    with pytest.raises(ValueError, match="noise_seeds"):
        Protocol("x", attacks=(attack,), headline_budget=attack.eps, noise_seeds=())


@pytest.mark.parametrize(("field", "value", "match"), [
    ("channels", 2, "channels must be 1 \\(gray\\) or 3 \\(colour\\), got 2"),
    ("crop", 0, "crop must be >= 1"),
    ("sigma", -0.1, "sigma must be >= 0"),
    ("tolerance_db", float("nan"), "tolerance_db must be finite"),
])
def test_bad_protocol_fields(field, value, match):
    with pytest.raises(ValueError, match=match):
        PROTOCOL_V1.derive("x", **{field: value})


def test_build_gives_the_named_attacks():
    model = DnCNN(depth=3, features=4)
    built = {a.name: a.build(model) for a in PROTOCOL_V1.attacks_of("white-box")}
    assert type(built["pgd-linf-2"]) is DenoisePGD and built["pgd-linf-2"].alpha == 0.5 / 255
    assert type(built["pgd-l2-4"]) is DenoisePGDL2 and built["pgd-l2-4"].per_pixel
    assert type(built["obsatk-2"]) is ObsAtk and built["obsatk-2"].per_pixel
    assert type(built["fgsm-2"]) is DenoiseFGSM and built["fgsm-2"].eps == 2 / 255
    assert built["pgd-linf-2-s20"].steps == 20
    with pytest.raises(ValueError, match="random noise"):
        PROTOCOL_V1.attacks_of("random")[0].build(model)
    # a transfer attack shares its white-box twin's random start
    transfer = {a.name: a for a in PROTOCOL_V1.attacks_of("transfer")}
    assert transfer["transfer-l2-4"].seed_key == "pgd-l2-4"


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_noise_fills_the_budget(norm):
    attack = next(a for a in PROTOCOL_V1.attacks_of("random") if a.norm == norm and
                  a.budget == 4.0)
    like = torch.zeros(1, 1, 16, 8)
    delta = attack.random_delta(like, torch.Generator().manual_seed(0))
    if norm == "linf":  # every pixel at +-eps: a corner of the cube
        assert torch.equal(delta.abs(), torch.full_like(delta, 4 / 255))
    else:  # on the sphere of radius eps * sqrt(d)
        assert delta.norm().item() == pytest.approx(4 / 255 * 128 ** 0.5, rel=1e-6)
    again = attack.random_delta(like, torch.Generator().manual_seed(0))
    assert torch.equal(delta, again)


# ------------------------------------------------------------------------------ protocol v2
def test_protocol_v2_extends_v1():
    from denoise_adv.benchmark import PROTOCOL_V2, BenchAttackV2

    assert get_protocol("v2") is PROTOCOL_V2 and get_protocol("v2-quick").crop == 64
    v1 = {a.name: a for a in PROTOCOL_V1.attacks}
    v2 = {a.name: a for a in PROTOCOL_V2.attacks}
    # v1's white-box set (the same numbers, with EOT for randomized models), transfer and
    # random inputs unchanged
    for name, attack in v1.items():
        same = {f: getattr(attack, f) for f in EXPECTED_V1["attacks"][0]}
        assert {f: getattr(v2[name], f) for f in same} == same
        if attack.threat != "white-box":
            assert type(v2[name]) is BenchAttack
    added = sorted(set(v2) - set(v1))
    assert added == sorted(f"{k}-{n}-{b}" for k in ("apgd", "square") for n in ("linf", "l2")
                           for b in (1, 2, 4))
    for name in added:
        attack = v2[name]
        assert isinstance(attack, BenchAttackV2) and attack.threat == "white-box"
        if attack.kind == "apgd":
            assert attack.restarts >= 2 and attack.steps >= 10 and attack.eot > 1
        else:
            assert attack.queries >= 100 and attack.gradient_free and attack.steps == 0
    assert PROTOCOL_V2.sigma == PROTOCOL_V1.sigma and PROTOCOL_V2.data == PROTOCOL_V1.data
    record = PROTOCOL_V2.as_dict()
    assert Protocol.from_dict(json.loads(json.dumps(record))) == PROTOCOL_V2
    # v1's record has no v2 field: its stored protocol.json stays byte for byte what it was
    assert "eot" not in json.dumps(PROTOCOL_V1.as_dict())
    assert json.dumps(PROTOCOL_V1.as_dict()) == json.dumps(EXPECTED_V1)
    with pytest.raises(ValueError, match="reserved"):
        get_protocol(PROTOCOL_V2.derive("v2", bootstrap=5))


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="square", steps=3, queries=10), "a square attack is white-box, with queries"),
    (dict(kind="square", queries=0), "queries must be >= 1"),
    (dict(kind="apgd", alpha=0.01, steps=5), "alpha must be 0 for kind 'apgd'"),
    (dict(kind="pgd", alpha=0.01, steps=5, queries=3), "queries is for kind 'square'"),
    (dict(kind="pgd", alpha=0.01, steps=5, eot=0), "eot must be >= 1"),
])
def test_bad_v2_attacks(kwargs, match):
    from denoise_adv.benchmark import BenchAttackV2

    with pytest.raises(ValueError, match=match):
        BenchAttackV2(**{**dict(name="x", threat="white-box", norm="linf", eps=0.01), **kwargs})


def test_v1_attacks_refuse_the_v2_kinds():
    with pytest.raises(ValueError, match="apgd and square are BenchAttackV2's"):
        BenchAttack("x", "white-box", "apgd", "linf", 0.01, 0.0, 5)


def test_v2_build_and_eot():
    from denoise_adv.attacks import DenoiseAPGD, DenoiseSquare
    from denoise_adv.benchmark import PROTOCOL_V2

    model = DnCNN(depth=3, features=4)
    attacks = {a.name: a for a in PROTOCOL_V2.attacks}
    apgd, square = attacks["apgd-l2-2"], attacks["square-linf-4"]
    built = apgd.build(model)
    assert type(built) is DenoiseAPGD and built.per_pixel and built.norm == "L2"
    assert (built.steps, built.n_restarts, built.eot_iter) == (apgd.steps, apgd.restarts, 1)
    assert apgd.build(model, randomized=True).eot_iter == apgd.eot
    assert attacks["pgd-linf-2"].build(model, randomized=True).eot_iter == apgd.eot
    built = square.build(model)
    assert type(built) is DenoiseSquare and built.n_queries == square.queries
    assert built.eps == 4 / 255 and square.runs == 1 and apgd.runs == 1
    assert apgd.iterations == apgd.steps * apgd.restarts
    # v1's attacks build as they always did (no EOT, even on a randomized model)
    assert PROTOCOL_V1.attacks[0].build(model, randomized=True).eot_iter == 1


def test_restoration_protocols_are_v1_on_a_task():
    from denoise_adv.evaluation import PROTOCOLS, TASK_PROTOCOLS

    assert sorted(TASK_PROTOCOLS) == sorted(
        f"v1-{t}{q}" for t in ("deblur", "deblur-motion", "sr2", "sr4", "inpaint")
        for q in ("", "-quick"))
    sr4 = PROTOCOLS["v1-sr4"]
    assert (sr4.task, sr4.sigma, sr4.crop, sr4.attacks) == ("sr4", 0.01, 64, PROTOCOL_V1.attacks)
    assert sr4.as_dict()["task"] == "sr4" and Protocol.from_dict(sr4.as_dict()) == sr4
    assert PROTOCOLS["v1-sr4-quick"].attacks == PROTOCOLS["v1-quick"].attacks
    with pytest.raises(ValueError, match="task must be one of"):
        PROTOCOL_V1.derive("mine", task="denoise")
    with pytest.raises(ValueError, match="reserved"):  # a task variant's name is the tool's
        Protocol.from_dict({**sr4.as_dict(), "sigma": 0.02})
