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
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(1, 1, 10, 20), torch.rand(1, 1, 10, 20))
