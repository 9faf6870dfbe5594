"""One budget check for iteration counts (issue 31, item 5): steps, queries, restarts and EOT
samples are refused before any work when even an optimistic estimate of their time is over the
limit, and the counts the protocols use are never refused."""

import re
import time

import pytest
import torch
from torch import nn

from denoise_adv import (
    DenoiseAPGD,
    DenoiseBIM,
    DenoisePGD,
    DenoisePGDL2,
    DenoiseSquare,
    ObsAtk,
    WorstCase,
)
from denoise_adv._checks import MAX_SECONDS, SECONDS_PER_PASS, check_iterations
from denoise_adv.attacks import AttackSpec
from denoise_adv.evaluation.protocol import PROTOCOLS
from denoise_adv.models import DnCNN


class Untouchable(nn.Module):
    """A model that fails if the attack does any work with it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the model was run")


#: The issue's probes (and their siblings): constructor, arguments, the argument named.
PROBES = [
    (DenoisePGD, {"steps": 10**12}, "steps"),
    (DenoisePGDL2, {"steps": 10**12}, "steps"),
    (ObsAtk, {"steps": 10**9, "eot_iter": 10}, "steps"),
    (DenoiseBIM, {"steps": 10**12}, "steps"),
    (DenoisePGD, {"eot_iter": 10**12}, "eot_iter"),
    (DenoiseSquare, {"n_queries": 10**12, "n_restarts": 10**9}, "n_queries"),
    (DenoiseSquare, {"n_restarts": 10**9}, "n_restarts"),  # 1000 queries x 1e9
    (DenoiseAPGD, {"n_restarts": 10**9, "eot_iter": 10**9}, "eot_iter"),
    (DenoiseAPGD, {"n_restarts": 10**9}, "n_restarts"),  # 11 passes x 1e9
    (DenoiseAPGD, {"steps": 10**6, "eot_iter": 100}, "steps"),  # each alone would fit
]


@pytest.mark.parametrize(("cls", "kwargs", "name"), PROBES)
def test_absurd_counts_are_refused_at_construction_naming_the_argument(cls, kwargs, name):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"^{name}: \d+ \(.* passes of the model\) would take "
                                         r"at least .*, more than the limit of 1 h"):
        cls(Untouchable(), **kwargs)
    assert time.perf_counter() - start < 1.0


def test_the_estimate_is_the_count_times_the_passes_it_implies():
    """APGD(steps=10**6, eot_iter=100): 1e8 passes of at least 50 us: 5000 s = 1.39 h."""
    with pytest.raises(ValueError) as error:
        DenoiseAPGD(Untouchable(), steps=10**6, eot_iter=100)
    assert "1000000 (1e+08 passes of the model) would take at least 1.39 h" in str(error.value)
    assert "lower steps" in str(error.value)
    with pytest.raises(ValueError, match=r"1e\+12 passes .* at least 1.58 years"):
        DenoisePGD(Untouchable(), steps=10**12)


def test_the_limit_is_where_it_says():
    largest = int(MAX_SECONDS / SECONDS_PER_PASS)  # 72 million passes in one hour
    assert check_iterations("steps", largest) == largest
    with pytest.raises(ValueError, match="steps"):
        check_iterations("steps", largest + 1)
    assert check_iterations("n_restarts", largest // 8, passes_each=8) == largest // 8
    with pytest.raises(ValueError, match="n_restarts"):
        check_iterations("n_restarts", largest // 8 + 1, passes_each=8)
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        check_iterations("steps", 0)
    with pytest.raises(TypeError, match="steps must be an integer, got float"):
        check_iterations("steps", 1e3)
    with pytest.raises(TypeError, match="steps must be an integer, got bool"):
        check_iterations("steps", True)


def test_worst_case_restarts_count_their_members_passes():
    model = Untouchable()
    members = [DenoisePGD(model, steps=1000), DenoiseSquare(model, n_queries=1000)]
    assert WorstCase(members, restarts=1000).restarts == 1000  # 2e6 passes: 100 s at least
    with pytest.raises(ValueError, match=r"^restarts: 100000000 \(2e\+11 passes"):
        WorstCase(members, restarts=10**8)
    # seeded members run once whatever the restarts: they cost nothing per restart
    assert WorstCase([DenoiseSquare(model, seed=0)], restarts=10**9).restarts == 10**9


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"steps": 10**12}, "steps"), ({"kind": "square", "queries": 10**12}, "queries"),
    ({"kind": "apgd", "restarts": 10**9}, "restarts"), ({"kind": "apgd", "eot_iter": 10**9},
                                                        "eot_iter"),
    ({"kind": "square", "restarts": 10**9}, "restarts")])
def test_attack_spec_checks_the_same_budget_with_its_field_names(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}: \d+ .* would take at least"):
        AttackSpec(**kwargs)


def test_the_protocols_counts_are_never_refused():
    """Every attack of every protocol builds (v2: Square 1000 queries, APGD 20 steps x 2
    restarts, EOT 20 on randomized models), and so do larger multiples of them."""
    model = DnCNN(depth=3, features=4)
    built = 0
    for protocol in PROTOCOLS.values():
        for attack in protocol.attacks:
            if attack.kind != "random":
                built += attack.build(model, randomized=True) is not None
    assert built >= 30
    assert DenoiseAPGD(model, steps=20, n_restarts=2, eot_iter=20).steps == 20
    assert DenoiseSquare(model, n_queries=10_000, n_restarts=100).n_queries == 10_000
    assert DenoisePGD(model, steps=1000, eot_iter=20).steps == 1000
    assert AttackSpec(kind="square", queries=10_000, restarts=10).queries == 10_000


def _seconds_per_pass(atk, passes):
    noisy = torch.rand(1, 1, 2, 2)
    start = time.perf_counter()
    atk(noisy, noisy.clone())
    return (time.perf_counter() - start) / passes


@pytest.mark.usefixtures("one_thread")
def test_seconds_per_pass_is_a_lower_bound():
    """The cheapest possible pass (a 2x2 image, a model that multiplies by a number with
    one parameter) takes longer than the bound: the estimate never refuses a count that
    would have finished in time."""
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(0.9))

        def forward(self, x):
            return self.a * x

    model = Scale()
    measured = {
        "pgd": _seconds_per_pass(DenoisePGD(model, steps=300), 300),
        "apgd": _seconds_per_pass(DenoiseAPGD(model, steps=300), 301),
        "square": _seconds_per_pass(DenoiseSquare(model, n_queries=300), 300),
    }
    assert all(seconds > SECONDS_PER_PASS for seconds in measured.values()), measured


def test_message_is_one_line():
    with pytest.raises(ValueError) as error:
        DenoiseSquare(Untouchable(), n_queries=10**12)
    assert "\n" not in str(error.value) and re.search(r"\d", str(error.value))


def test_nested_worst_case_counts_its_members_runs():
    model = Untouchable()
    inner = WorstCase([DenoisePGD(model, steps=100), DenoiseSquare(model, seed=0)], restarts=3)
    assert inner._passes == 100 * 3 + 1000
    assert WorstCase([inner], restarts=2)._passes == 2 * (100 * 3 + 1000)
    with pytest.raises(ValueError, match=r"^restarts: 100000000 \(1\.3e\+11 passes"):
        WorstCase([inner], restarts=10**8)
