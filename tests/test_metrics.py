import math

import pytest
import torch

from denoise_adv.metrics import mae, mse, psnr


def test_psnr_closed_form_per_image():
    clean = torch.zeros(3, 1, 8, 8)
    preds = clean + torch.tensor([0.1, 0.01, 1.0]).view(3, 1, 1, 1)
    torch.testing.assert_close(psnr(preds, clean), torch.tensor([20.0, 40.0, 0.0]))
    torch.testing.assert_close(psnr(preds * 255, clean, data_range=255.0),
                               torch.tensor([20.0, 40.0, 0.0]))
    assert math.isinf(psnr(clean, clean)[0].item())


def test_psnr_cap():
    clean = torch.zeros(3, 1, 8, 8)
    preds = clean + torch.tensor([0.0, 0.01, 1e-5]).view(3, 1, 1, 1)  # inf, 40 dB, 100 dB
    torch.testing.assert_close(psnr(preds, clean, max_db=80), torch.tensor([80.0, 40.0, 80.0]))
    torch.testing.assert_close(psnr(preds, clean, max_db=120), torch.tensor([120.0, 40.0, 100.0]))
    # deepinv's smooth 80 dB ceiling, -10 log10(mse + 1e-8), agrees below 50 dB within 0.005 dB
    mse_40 = torch.tensor(1e-4)
    assert abs(-10 * torch.log10(mse_40 + 1e-8).item() - 40.0) < 0.005
    with pytest.raises(TypeError, match="max_db must be a real number"):
        psnr(preds, clean, max_db="80")


def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 9, 7, generator=g, dtype=torch.float64).unbind(0)
    ours = psnr(a[None], b[None]).item()
    assert ours == pytest.approx(peak_signal_noise_ratio(b.numpy(), a.numpy(), data_range=1.0))


def test_mae_is_on_the_8bit_scale_and_mse_per_image():
    clean = torch.zeros(2, 1, 4, 4)
    preds = clean + torch.tensor([5 / 255, -2 / 255]).view(2, 1, 1, 1)
    torch.testing.assert_close(mae(preds, clean), torch.tensor([5.0, 2.0]))
    torch.testing.assert_close(mse(preds, clean), torch.tensor([5 / 255, 2 / 255]) ** 2)


def test_bad_inputs():
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match="target must have the same shape as preds|preds must"):
        psnr(x, torch.rand(1, 1, 4, 5))
    with pytest.raises(ValueError, match="preds must have shape"):
        psnr(x[0], x[0])
    with pytest.raises(ValueError, match="data_range must be > 0"):
        psnr(x, x, data_range=0)
    with pytest.raises(ValueError, match="preds contains NaN"):
        mae(x * float("nan"), x)


@pytest.mark.parametrize("shape", [(1, 1, 11, 11), (2, 1, 40, 33), (2, 3, 24, 30)])
def test_ssim_matches_skimage(shape):
    from skimage.metrics import structural_similarity

    from denoise_adv.metrics import ssim

    g = torch.Generator().manual_seed(sum(shape))
    clean = torch.rand(shape, generator=g, dtype=torch.float64)
    noisy = clean + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    ours = ssim(noisy, clean)
    for i in range(shape[0]):
        ref = structural_similarity(clean[i].numpy(), noisy[i].numpy(), gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, data_range=1.0,
                                    channel_axis=0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-10)
    torch.testing.assert_close(ssim(clean, clean), torch.ones(shape[0], dtype=torch.float64))


def test_ssim_is_differentiable_and_checks_size():
    from denoise_adv.metrics import ssim

    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 11, 12, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 1, 11, 12, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: ssim(x, b), (a,))
    small = a[..., :4, :5].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: ssim(x, b[..., :4, :5], win_size=3), (small,),
                                    fast_mode=True)
    with pytest.raises(ValueError, match=r"at least 11x11.*got 10x20.*e.g. win_size=9"):
        ssim(torch.rand(1, 1, 10, 20), torch.rand(1, 1, 10, 20))
    with pytest.raises(ValueError, match=r"at least 7x7.*got 6x20.*e.g. win_size=5"):
        ssim(torch.rand(1, 1, 6, 20), torch.rand(1, 1, 6, 20), win_size=7)
    with pytest.raises(ValueError, match="win_size must be odd"):
        ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), win_size=8)


@pytest.mark.parametrize("shape, win_size", [((1, 1, 7, 7), 7), ((2, 3, 5, 9), 5),
                                             ((1, 1, 3, 4), 3), ((1, 1, 1, 1), 1),
                                             ((2, 1, 16, 13), 7), ((1, 2, 12, 12), 11)])
def test_ssim_small_windows_match_skimage(shape, win_size):
    """A smaller odd window on small images: scikit-image keeps the 11-tap Gaussian, extends the
    image by reflection (even several times over, for 3x4) and crops (win_size - 1) / 2."""
    from skimage.metrics import structural_similarity

    from denoise_adv.metrics import ssim

    g = torch.Generator().manual_seed(sum(shape) + win_size)
    clean = torch.rand(shape, generator=g, dtype=torch.float64)
    noisy = clean + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    ours = ssim(noisy, clean, win_size=win_size)
    for i in range(shape[0]):
        ref = structural_similarity(clean[i].numpy(), noisy[i].numpy(), win_size=win_size,
                                    gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, channel_axis=0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-6)])
def test_ssim_matches_piq(dtype, tol):
    """piq: same 11x11 Gaussian (sigma 1.5), K1, K2, population covariances and border crop;
    it divides by data_range first and, unless told not to, average-pools images by
    round(min(H, W) / 256) (from 384 pixels on)."""
    piq = pytest.importorskip("piq")
    from denoise_adv.metrics import ssim

    g = torch.Generator().manual_seed(7)
    for shape in [(3, 3, 64, 48), (1, 1, 400, 390)]:
        clean = torch.rand(shape, generator=g, dtype=dtype)
        preds = (clean + 0.2 * torch.randn(shape, generator=g, dtype=dtype)).clamp(0, 1)
        reference = piq.ssim(preds, clean, data_range=1.0, kernel_size=11, kernel_sigma=1.5,
                             downsample=False, reduction="none")
        torch.testing.assert_close(ssim(preds, clean), reference, rtol=0, atol=tol)
        scaled = piq.ssim(preds * 255, clean * 255, data_range=255.0, downsample=False,
                          reduction="none")
        torch.testing.assert_close(ssim(preds * 255, clean * 255, data_range=255.0), scaled,
                                   rtol=0, atol=tol)
    downsampled = piq.ssim(preds, clean, data_range=1.0, reduction="none")  # piq's default
    assert (downsampled - ssim(preds, clean)).abs().min() > 1e-5  # a different number
