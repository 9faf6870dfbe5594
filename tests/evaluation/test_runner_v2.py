"""Protocol v2 through the runner: Auto-PGD and Square rows, black-box models attacked by
Square and ranked, EOT on models that declare themselves randomized, v1's rows unchanged."""

import pytest
from _doubles import Counting, rows_of, run_three
from torch import nn

from denoise_adv.benchmark import (
    PROTOCOL_V1_QUICK,
    PROTOCOL_V2_QUICK,
    evaluate_image,
    is_randomized,
    transfer_inputs,
)

TINY = PROTOCOL_V2_QUICK.derive("test-tiny-v2", bootstrap=300)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench(trained_dncnn, tiny_images, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-v2")
    return run_three(TINY, trained_dncnn, tiny_images, out), out


def test_black_box_gets_square_as_its_white_box_row_and_is_ranked(bench):
    results, _ = bench
    squares = {a.name for a in TINY.attacks if a.kind == "square"}
    others = {a.name for a in TINY.attacks if a.threat != "white-box"}
    for row in rows_of(results, "nlmeans"):
        assert set(row["psnr"]) == squares | others
        assert set(row["loss_increased"]) == squares and all(row["loss_increased"].values())
        # Square's search beats random noise of the same size on NL-means, image by image
        assert row["psnr"]["square-linf-4"] < row["psnr"]["random-linf-4"]
    summary = results["summary"]["nlmeans"]
    assert summary["access"] == "black-box" and summary["upper_bound"] is False
    assert summary["warnings"] == [] and summary["rank"] is not None
    assert "paired_vs_best" in summary


def test_gradient_models_get_every_attack_and_v1s_rows_are_v1s(bench, trained_dncnn,
                                                                 tiny_images):
    results, _ = bench
    names = {a.name for a in TINY.attacks}
    name, clean = tiny_images[0]
    row = rows_of(results, "dncnn")[0]
    assert set(row["psnr"]) == names and row["image"] == name
    assert all(row["loss_increased"].values())
    # the attacks v2 shares with v1 give v1's numbers, bit for bit
    transfer = transfer_inputs(trained_dncnn, clean[None], name, 0, PROTOCOL_V1_QUICK)
    v1, _ = evaluate_image(trained_dncnn, clean[None], name, 0, PROTOCOL_V1_QUICK, transfer)
    assert {n: row["psnr"][n] for n in v1["psnr"]} == v1["psnr"]
    assert row["gaussian_psnr"] == v1["gaussian_psnr"]
    assert row["robust_psnr"] <= v1["robust_psnr"]  # more attacks: a worst case at most v1's


def test_masked_gradients_are_caught_by_square(bench):
    results, _ = bench
    masked = results["summary"]["masked"]
    assert masked["flagged"] and masked["rank"] is None
    assert any("white-box weaker than square" in w["message"] for w in masked["warnings"])
    for row in rows_of(results, "masked"):
        assert not any(row["loss_increased"][a.name] for a in TINY.attacks
                       if a.kind == "apgd")


def test_randomized_models_are_attacked_with_eot(trained_dncnn, tiny_images):
    keep = {"pgd-linf-2", "apgd-linf-2", "random-linf-2"}
    protocol = TINY.derive("eot", attacks=tuple(a for a in TINY.attacks if a.name in keep))
    pgd, apgd = (next(a for a in protocol.attacks if a.name == n)
                 for n in ("pgd-linf-2", "apgd-linf-2"))
    assert pgd.eot == apgd.eot == 2
    name, clean = tiny_images[0]
    calls = {}
    for randomized in (False, True):
        model = Counting(trained_dncnn, randomized)
        assert is_randomized(nn.Sequential(model)) is randomized
        evaluate_image(model, clean[None], name, 0, protocol, {})
        calls[randomized] = model.calls
    # EOT 2 doubles each gradient pass: PGD's steps, APGD's steps and its final scoring
    assert calls[True] - calls[False] == pgd.steps + apgd.steps + 1


def test_ties_and_paired_differences_in_results(bench):
    results, out = bench
    for label in results["leaderboard"]:
        s = results["summary"][label]
        assert ("paired_vs_best" in s) == (s["rank"] is not None)
    ranked = [m for m in results["leaderboard"] if results["summary"][m]["rank"]]
    best = results["summary"][ranked[0]]["paired_vs_best"]
    assert best["mean"] == 0.0 and best["method"] == "exact"
    board = (out / "leaderboard.md").read_text()
    assert "vs best (paired)" in board and "Square" in board
