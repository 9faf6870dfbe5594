"""The one per-image scorer (issue 30): :func:`evaluate_robustness` is a loop of
:func:`score_image`, bit for bit, and a protocol row (:func:`evaluate_image`) scores its
Gaussian, transfer and white-box inputs as :func:`score_image` scores the same inputs."""

from __future__ import annotations

import pytest
import torch

from denoise_adv.analysis import evaluate_robustness as analysis_evaluate_robustness
from denoise_adv.attacks import AttackSpec
from denoise_adv.benchmark import PROTOCOL_V1_QUICK, evaluate_image, transfer_inputs
from denoise_adv.evaluation import (
    attack_generator,
    evaluate_robustness,
    noisy_image,
    score,
    score_image,
)
from denoise_adv.models import DnCNN, NLMeans

SIGMA = 25 / 255

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return DnCNN(depth=3, features=4).eval()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return [(f"im{i}", torch.rand(1, 16, 16, generator=g)) for i in range(2)]


ATTACKS = {"linf": AttackSpec("linf", steps=2), "l2": AttackSpec("l2", steps=2),
           "apgd-linf": AttackSpec.named("apgd-linf", steps=2),
           "square-l2": AttackSpec.named("square-l2", queries=5)}


def _former_loop(model, images, attacks, references, seed):
    """``evaluate_robustness`` as it was written before it called :func:`score_image` (its
    loop body inline, through the public pieces): the reference the refactor must equal."""
    scored = {"model": model, **(references or {})}
    rows, kept = [], {}
    for name, clean in images:
        clean = clean[None]
        inputs = {"gaussian": noisy_image(clean, SIGMA, seed, name)}
        for attack_name, spec in attacks.items():
            attack = spec.build(model, attack_generator(seed, name, attack_name))
            inputs[attack_name] = attack(inputs["gaussian"], clean)
        kept.update({(name, s): x.detach() for s, x in inputs.items()})
        for label, denoiser in scored.items():
            tag = {"model": label} if references else {}
            rows += [{**tag, "image": name, "set": s, **score(denoiser, x, clean)}
                     for s, x in inputs.items()]
    return rows, kept


@pytest.mark.parametrize("with_references", [False, True])
def test_evaluate_robustness_is_a_loop_of_score_image(tiny, images, with_references):
    references = {"nlmeans": NLMeans(sigma=SIGMA)} if with_references else None
    kept: dict = {}
    rows = evaluate_robustness(tiny, images, SIGMA, ATTACKS, seed=3, progress=False,
                               references=references, keep_inputs=kept)
    looped, inputs = [], {}
    for name, clean in images:
        found, crafted = score_image(tiny, clean[None], name, 3, SIGMA, ATTACKS, references)
        looped += found
        inputs.update({(name, s): x for s, x in crafted.items()})
    former, former_inputs = _former_loop(tiny, images, ATTACKS, references, seed=3)
    assert rows == looped == former  # every float equal: bit for bit
    assert kept.keys() == inputs.keys() == former_inputs.keys()
    assert all(torch.equal(kept[k], inputs[k]) and torch.equal(kept[k], former_inputs[k])
               for k in kept)
    assert ("model" in rows[0]) is with_references
    assert analysis_evaluate_robustness is evaluate_robustness  # the re-export is the one


def test_score_image_amp_overrides_the_specs_and_names_are_checked(tiny, images):
    name, clean = images[0]
    spec = {"linf": AttackSpec("linf", steps=2, amp="bf16")}
    fp32, _ = score_image(tiny, clean[None], name, 0, SIGMA, spec, amp="fp32")
    plain, _ = score_image(tiny, clean[None], name, 0, SIGMA, {"linf": AttackSpec("linf",
                                                                                    steps=2)})
    assert fp32 == plain  # amp="fp32" overrides the spec's bf16
    with pytest.raises(ValueError, match="may not be named 'gaussian'"):
        score_image(tiny, clean[None], name, 0, SIGMA, {"gaussian": AttackSpec()})
    with pytest.raises(ValueError, match="references may not be named 'model'"):
        score_image(tiny, clean[None], name, 0, SIGMA, {}, references={"model": tiny})
    with pytest.raises(TypeError, match="attacks must be a mapping"):
        score_image(tiny, clean[None], name, 0, SIGMA, ["linf"])
    with pytest.raises(TypeError, match="AttackSpec values"):
        score_image(tiny, clean[None], name, 0, SIGMA, {"linf": "linf"})


def test_a_protocol_row_scores_as_score_image_scores(tiny, images):
    """The two paths agree bit for bit: the same Gaussian score, the same transfer inputs and
    their scores, and each white-box attack's PSNR (one restart, so WorstCase keeps the input
    score_image crafts; its PSNR from WorstCase's MSE as :func:`~denoise_adv.metrics.psnr`
    computes it). A changed noise draw, random start or score in either path fails here."""
    protocol, (name, clean) = PROTOCOL_V1_QUICK, images[0]
    clean = clean[None]
    transfer = transfer_inputs(tiny, clean, name, 0, protocol)
    row, _ = evaluate_image(tiny, clean, name, 0, protocol, transfer)
    attacks = {a.seed_key: a.spec() for a in protocol.attacks if a.threat != "random"}
    rows, inputs = score_image(tiny, clean, name, 0, protocol.sigma, attacks)
    by_set = {r["set"]: r for r in rows}
    assert (row["gaussian_psnr"], row["gaussian_ssim"]) == (by_set["gaussian"]["psnr"],
                                                            by_set["gaussian"]["ssim"])
    for attack in protocol.attacks_of("transfer"):
        assert torch.equal(transfer[attack.name], inputs[attack.seed_key])
        assert row["psnr"][attack.name] == by_set[attack.seed_key]["psnr"]
    for attack in protocol.attacks_of("white-box"):
        assert attack.runs == 1 and row["psnr"][attack.name] == by_set[attack.name]["psnr"]
