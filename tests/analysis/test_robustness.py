import pytest
import torch

from denoise_adv.analysis import (
    evaluate_adversarial_set,
    evaluate_robustness,
    make_adversarial_set,
    noisy_image,
    summarize,
)
from denoise_adv.attacks import AttackSpec, load_adversarial_set
from denoise_adv.metrics import mae, psnr, ssim
from denoise_adv.seeding import generator

SIGMA = 25 / 255


@pytest.fixture
def images(sample_images):
    return [(f"img{i}", img) for i, img in enumerate(sample_images)]


@pytest.mark.slow
def test_table_numbers_equal_metrics_computed_directly(trained_dncnn, images):
    rows = evaluate_robustness(trained_dncnn, images, SIGMA, ("linf",), seed=3, progress=False)
    assert [(r["image"], r["set"]) for r in rows][:2] == [("img0", "gaussian"), ("img0", "linf")]
    for name, clean in images:
        clean = clean[None]
        # the named streams of denoise_adv.seeding, drawn here by hand
        noisy = clean + SIGMA * torch.randn(clean.shape, generator=generator(3, "noise", name))
        adv = AttackSpec("linf").build(
            trained_dncnn, generator(3, "attack", name, "linf"))(noisy, clean)
        for inputs, set_name in ((noisy, "gaussian"), (adv, "linf")):
            with torch.no_grad():
                out = trained_dncnn(inputs).clamp(0, 1)
            row = next(r for r in rows if r["image"] == name and r["set"] == set_name)
            assert row["psnr"] == pytest.approx(psnr(out, clean).item(), abs=1e-9)
            assert row["ssim"] == pytest.approx(ssim(out, clean).item(), abs=1e-9)
            assert row["mae"] == pytest.approx(mae(out, clean).item(), abs=1e-9)
    summary = summarize(rows)
    gauss, linf = summary
    assert gauss["psnr"] == pytest.approx(sum(r["psnr"] for r in rows if r["set"] == "gaussian")
                                          / 3)
    assert linf["psnr_drop"] == pytest.approx(gauss["psnr"] - linf["psnr"])
    assert linf["psnr_drop"] > 0.3 and linf["ssim_drop"] > 0


@pytest.mark.slow
def test_adversarial_set_round_trips_bit_for_bit(trained_dncnn, images, tmp_path):
    path = make_adversarial_set(trained_dncnn, images, tmp_path / "set.pt", SIGMA,
                                AttackSpec("l2"), seed=5, meta={"source_model": "tiny"},
                                progress=False)
    payload = load_adversarial_set(path)
    again = make_adversarial_set(trained_dncnn, images, tmp_path / "again.pt", SIGMA,
                                 AttackSpec("l2"), seed=5, progress=False)
    assert torch.equal(payload["adv_inputs"], load_adversarial_set(again)["adv_inputs"])
    meta = payload["meta"]
    assert meta["images"] == ["img0", "img1", "img2"] and meta["sigma"] == SIGMA
    assert meta["attack_protocol"]["norm"] == "l2" and meta["source_model"] == "tiny"
    for i, (name, clean) in enumerate(images):
        assert torch.equal(payload["labels"][i], clean)
        assert torch.equal(payload["clean_inputs"][i],
                           noisy_image(clean[None], SIGMA, 5, name)[0])
    # scoring the saved set reproduces the white-box numbers of the same protocol
    rows = evaluate_adversarial_set(trained_dncnn, path, SIGMA, (1, 64, 64), progress=False)
    direct = evaluate_robustness(trained_dncnn, images, SIGMA, ("l2",), seed=5, progress=False)
    for a, b in zip(rows, direct):
        assert (a["image"], a["set"]) == (b["image"], b["set"])
        assert a["psnr"] == pytest.approx(b["psnr"], abs=1e-9)


@pytest.mark.slow
def test_adversarial_set_for_other_size_or_sigma_is_refused(trained_dncnn, images, tmp_path):
    path = make_adversarial_set(trained_dncnn, images, tmp_path / "set.pt", SIGMA,
                                progress=False)
    with pytest.raises(ValueError, match="made for sigma 25/255, not 15/255"):
        evaluate_adversarial_set(trained_dncnn, path, 15 / 255, progress=False)
    with pytest.raises(ValueError, match=r"holds images of shape \(1, 64, 64\), not"):
        evaluate_adversarial_set(trained_dncnn, path, SIGMA, (1, 256, 256), progress=False)
    with pytest.raises(ValueError, match="images of one size"):
        make_adversarial_set(trained_dncnn, [("a", torch.rand(1, 16, 16)),
                                             ("b", torch.rand(1, 20, 16))], tmp_path / "x.pt",
                             progress=False)


def test_attack_spec_validation():
    with pytest.raises(ValueError, match="norm must be 'linf' or 'l2'"):
        AttackSpec("l1")
