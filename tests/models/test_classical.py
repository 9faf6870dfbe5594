"""The classical baselines (BM3D, NL-means): same numbers as a direct library call, the
contract of a denoiser, refusal of white-box attacks, scoring and checkpoints."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from skimage.restoration import denoise_nl_means

from denoise_adv import DenoiseFGSM, DenoisePGD, DenoisePGDL2, ObsAtk
from denoise_adv.analysis import (
    evaluate_adversarial_set,
    make_adversarial_set,
    noisy_image,
    score,
)
from denoise_adv.attacks import AttackSpec, load_adversarial_set
from denoise_adv.data import builtin_image
from denoise_adv.metrics import psnr
from denoise_adv.models import (
    BM3D,
    MODELS,
    DenoiserAdapter,
    NLMeans,
    as_denoiser,
    build,
    load_checkpoint,
    save_checkpoint,
)

SIGMA = 25 / 255


def _noisy(clean: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return clean + SIGMA * torch.randn(clean.shape, generator=g, dtype=clean.dtype)


def _crop(name: str, channels: int, top: int, left: int, size: int) -> torch.Tensor:
    return builtin_image(name, channels)[None, :, top:top + size, left:left + size].double()


def _np_psnr(out: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((out - clean) ** 2)))


def _hwc(x: torch.Tensor) -> np.ndarray:
    """One image (1, C, H, W) as the library sees it: (H, W) gray or (H, W, C) colour."""
    a = x[0].numpy().astype(np.float64)
    return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)


def _nlm_direct(y: np.ndarray) -> np.ndarray:
    return denoise_nl_means(y, patch_size=5, patch_distance=6, h=0.8 * SIGMA, fast_mode=True,
                            sigma=SIGMA, channel_axis=None if y.ndim == 2 else -1)


@pytest.fixture(scope="module")
def gray() -> tuple[torch.Tensor, torch.Tensor]:
    clean = _crop("camera", 1, 100, 200, 64)
    return clean, _noisy(clean, 0)


@pytest.fixture(scope="module")
def colour() -> tuple[torch.Tensor, torch.Tensor]:
    clean = _crop("astronaut", 3, 40, 180, 48)
    return clean, _noisy(clean, 1)


# ------------------------------------------------------------------ same as the library itself
@pytest.mark.parametrize("which", ["gray", "colour"])
def test_nlmeans_matches_skimage(which, request):
    clean, noisy = request.getfixturevalue(which)
    out = NLMeans(SIGMA, channels=clean.shape[1])(noisy)
    direct = _nlm_direct(_hwc(noisy))
    assert np.allclose(_hwc(out), direct, atol=1e-12)
    assert abs(psnr(out, clean).item() - _np_psnr(direct, _hwc(clean))) < 1e-4


@pytest.mark.parametrize("which", ["gray", "colour"])
@pytest.mark.slow
def test_bm3d_matches_package(which, request):
    bm3d = pytest.importorskip("bm3d")
    clean, noisy = request.getfixturevalue(which)
    clean, noisy = clean[..., :40, :40], noisy[..., :40, :40]  # BM3D is slow
    out = BM3D(SIGMA, channels=clean.shape[1])(noisy)
    y = _hwc(noisy)
    direct = bm3d.bm3d(y, sigma_psd=SIGMA) if y.ndim == 2 else bm3d.bm3d_rgb(y, SIGMA)
    # the bm3d binary is float32 and threaded: two direct calls already differ by ~4e-7
    assert np.allclose(_hwc(out), direct, rtol=0, atol=1e-5)
    gain = psnr(out, clean).item() - psnr(noisy, clean).item()
    assert abs(psnr(out, clean).item() - _np_psnr(direct, _hwc(clean))) < 1e-4
    assert gain > 6.0  # BM3D at sigma 25 on natural crops: ~8-9 dB


@pytest.mark.slow
def test_bm3d_is_bit_reproducible(gray):
    """One thread: repeated calls give the same bits (the package's threaded default gave a
    different output hash on each of four calls on one 256x256 image)."""
    pytest.importorskip("bm3d")
    _, noisy = gray
    model = BM3D(SIGMA)
    first = model(noisy[..., :48, :48])
    for _ in range(3):
        assert torch.equal(model(noisy[..., :48, :48]), first)
    assert model._settings().num_threads == 1
    for profile in ("np", "refilter", "vn", "vn_old", "high", "deb"):  # each name's class
        import bm3d

        assert type(BM3D(SIGMA, profile=profile)._settings()) is type(
            bm3d.bm3d.__globals__["_select_profile"](profile))


def test_nlmeans_beats_noisy_input(gray):
    clean, noisy = gray
    before = psnr(noisy, clean).item()
    after = psnr(NLMeans(SIGMA)(noisy).clamp(0, 1), clean).item()
    assert 20.0 < before < 20.4  # sigma 25: 20.17 dB before clipping
    assert after > before + 6.0  # 20.2 -> 28.0 dB


# ---------------------------------------------------------------------------- the contract
def test_batch_is_per_image(gray):
    clean = torch.cat([gray[0][..., :32, :32], _crop("camera", 1, 300, 50, 32)])
    noisy = _noisy(clean, 3)
    model = NLMeans(SIGMA)
    out = model(noisy)
    for i in range(2):
        assert torch.equal(out[i:i + 1], model(noisy[i:i + 1]))
        assert np.allclose(out[i, 0].numpy(), _nlm_direct(noisy[i, 0].numpy()), atol=1e-12)
    assert not torch.equal(out[0], out[1])


def test_device_and_dtype_follow_input(gray, device, dtype):
    _, noisy = gray
    noisy = noisy[..., :24, :24]
    out = NLMeans(SIGMA)(noisy.to(device, dtype))
    assert out.device.type == device.type and out.dtype == dtype and not out.requires_grad
    reference = torch.from_numpy(_nlm_direct(noisy[0, 0].to(dtype).double().numpy()))
    assert torch.allclose(out[0, 0].cpu().double(), reference.to(dtype).double(), atol=1e-6)


def test_contract_attributes_and_registry():
    model = NLMeans(SIGMA)
    assert NLMeans.differentiable is False and BM3D.differentiable is False
    assert NLMeans.takes_sigma is False and BM3D.takes_sigma is False
    assert MODELS["nlmeans"] is NLMeans and MODELS["bm3d"] is BM3D
    assert list(model.parameters()) == [] and model.state_dict() == {}
    assert as_denoiser(model, sigma=SIGMA) is model  # fixed-level: the adapter leaves it alone
    built = build("nlmeans", sigma=0.1, channels=3, patch_size=3)
    assert built.config == {"sigma": 0.1, "channels": 3, "h_factor": 0.8, "patch_size": 3,
                            "patch_distance": 6, "fast_mode": True}


def test_bad_input_and_arguments():
    model = NLMeans(SIGMA)
    with pytest.raises(ValueError, match=r"noisy must have 1 channel\(s\).*got 3"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"noisy must have shape \(B, C, H, W\)"):
        model(torch.rand(8, 8))
    with pytest.raises(TypeError, match="noisy must be a floating-point tensor"):
        model(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="noisy contains NaN"):
        model(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="channels must be 1 .* or 3"):
        NLMeans(SIGMA, channels=2)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        NLMeans(0.0)
    with pytest.raises(TypeError, match="sigma must be a real number"):
        NLMeans("25")
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        NLMeans(SIGMA, patch_size=0)


def test_bm3d_arguments_and_missing_package(monkeypatch):
    pytest.importorskip("bm3d")
    with pytest.raises(ValueError, match="profile must be one of"):
        BM3D(SIGMA, profile="fast")
    with pytest.raises(ValueError, match=r"noisy must have 3 channel\(s\)"):
        BM3D(SIGMA, channels=3)(torch.rand(1, 1, 8, 8))
    monkeypatch.setitem(sys.modules, "bm3d", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r'pip install "denoise-adv\[baselines\]"'):
        BM3D(SIGMA)


# ------------------------------------------------------------------ no white-box attacks
@pytest.mark.parametrize("make", [
    lambda m: DenoisePGD(m, eps=2 / 255, alpha=0.5 / 255, steps=1),
    lambda m: DenoisePGDL2(m, eps=0.1, alpha=0.05, steps=1),
    lambda m: DenoiseFGSM(m, eps=2 / 255),
    lambda m: ObsAtk(m, eps=0.1, alpha=0.05, steps=1),
], ids=["pgd", "pgdl2", "fgsm", "obsatk"])
def test_white_box_attacks_refuse_classical(make):
    model = NLMeans(SIGMA)
    noisy, clean = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="NLMeans is not differentiable.*transfer"):
        make(model)(noisy, clean)
    wrapped = DenoiserAdapter(model, residual=False)  # as as_denoiser wraps foreign models
    with pytest.raises(ValueError, match="NLMeans is not differentiable.*transfer"):
        make(wrapped)(noisy, clean)


def test_white_box_refusal_spares_differentiable_models():
    class Scaled(torch.nn.Module):
        differentiable = True  # only an explicit False is refused

        def forward(self, y):
            return 0.5 * y

    noisy, clean = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    adv = DenoisePGD(Scaled(), eps=0.1, alpha=0.1, steps=1, random_start=False)(noisy, clean)
    # loss grows when the output moves down from 1: every pixel steps by -eps (closed form)
    assert torch.allclose(adv, torch.full_like(noisy, -0.1))


# ------------------------------------------------------------------ scoring and checkpoints
def test_scoring_helpers_run_on_cpu(tmp_path):
    # score() and evaluate_adversarial_set() find no parameter: the model runs on the CPU.
    images = [("a", _crop("camera", 1, 100, 200, 32)[0].float()),
              ("b", _crop("camera", 1, 300, 50, 32)[0].float())]
    model = NLMeans(SIGMA)
    with pytest.raises(ValueError, match="transfer"):  # white-box crafting on it is refused
        make_adversarial_set(model, images, tmp_path / "x.pt", progress=False)
    path = make_adversarial_set(torch.nn.Identity(), images, tmp_path / "adv.pt",
                                attack=AttackSpec(steps=2), progress=False)
    rows = evaluate_adversarial_set(model, path, sigma=SIGMA, progress=False)
    assert [(r["image"], r["set"]) for r in rows] == [
        ("a", "gaussian"), ("a", "linf"), ("b", "gaussian"), ("b", "linf")]
    clean = images[1][1][None]
    noisy = noisy_image(clean, SIGMA, 0, "b")
    direct = np.clip(_nlm_direct(noisy[0, 0].double().numpy()), 0, 1)
    expected = _np_psnr(direct, clean[0, 0].double().numpy())
    assert rows[2]["psnr"] == pytest.approx(expected, abs=1e-3)  # float32 storage of the set
    assert score(model, noisy, clean)["psnr"] == pytest.approx(expected, abs=1e-3)
    adv = load_adversarial_set(path)["adv_inputs"][1, 0].double().numpy()
    expected_adv = _np_psnr(np.clip(_nlm_direct(adv), 0, 1), clean[0, 0].double().numpy())
    assert rows[3]["psnr"] == pytest.approx(expected_adv, abs=1e-4)
    assert abs(expected_adv - expected) > 1e-3  # the two rows score different inputs


def test_checkpoint_round_trip(tmp_path, colour):
    model = NLMeans(SIGMA, channels=3, h_factor=0.6, patch_distance=4)
    loaded, meta = load_checkpoint(save_checkpoint(model, tmp_path / "nlm.pt", {"note": 1}))
    assert isinstance(loaded, NLMeans) and loaded.config == model.config and meta == {"note": 1}
    noisy = colour[1][..., :24, :24]
    assert torch.equal(loaded(noisy), model(noisy))
    assert not torch.equal(loaded(noisy), NLMeans(SIGMA, channels=3)(noisy))  # config matters


@pytest.mark.slow
def test_bm3d_checkpoint_round_trip(tmp_path):
    pytest.importorskip("bm3d")
    model = BM3D(0.1, channels=3, profile="refilter")
    loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "bm3d.pt"))
    assert isinstance(loaded, BM3D) and loaded.config == model.config
    assert torch.load(tmp_path / "bm3d.pt", weights_only=True)["kwargs"] == {
        "sigma": 0.1, "channels": 3, "profile": "refilter"}
