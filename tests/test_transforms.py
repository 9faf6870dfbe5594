import pickle

import numpy as np
import PIL.Image
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader
from torchvision import transforms as v1
from torchvision import tv_tensors
from torchvision.transforms import v2

from denoise_adv.data import NoisyPairs
from denoise_adv.noise import gaussian_noise, mixed_noise, ts_noise
from denoise_adv.transforms import GaussianNoise, MixedNoise, TSNoise
from denoise_adv.typical import ts_expected_shift

SIGMA = 25 / 255


def _aep(noise, sigma=SIGMA):
    return (noise.flatten(1).double().pow(2).mean(1) / sigma**2 - 1) / 2


def test_in_v1_and_v2_compose_pipelines():
    img = torch.rand(1, 64, 64)
    for compose in (v1.Compose, v2.Compose):
        out = compose([v2.RandomCrop(40), TSNoise.ts_def(SIGMA, seed=0)])(img)
        assert out.shape == (1, 40, 40) and (out < 0).any()  # noised and not clipped


def test_tv_tensor_image_is_rewrapped_and_label_left_alone():
    img = tv_tensors.Image(torch.rand(3, 16, 16))
    out, label = TSNoise(seed=0)(img, 7)
    assert isinstance(out, tv_tensors.Image) and label == 7
    assert not torch.equal(out.as_subclass(torch.Tensor), img.as_subclass(torch.Tensor))
    pure = torch.rand(1, 8, 8)
    target = torch.zeros(1, 8, 8)
    noisy, kept = GaussianNoise(0.1, seed=0)(pure, target)  # 2nd pure tensor passes through
    assert torch.equal(kept, target) and not torch.equal(noisy, pure)


def test_batches_get_noise_per_sample_with_probability_p():
    # With a large T the TS samples stand apart from the Gaussian ones (e ~ 0.1 vs 0 +- 0.02).
    x = torch.zeros(3000, 1, 40, 40)
    for factory, p in ((TSNoise.ts_pres, 1 / 3), (TSNoise.ts_def, 1 / 2)):
        out = factory(SIGMA, iterations=1e6, seed=1)(x)
        is_ts = (_aep(out) > 0.05).sum().item()
        assert stats.binomtest(is_ts, 3000, p).pvalue > 0.01, (p, is_ts)
    all_ts = TSNoise(SIGMA, iterations=1e6, p=1.0, seed=1)(x)
    assert (_aep(all_ts) > 0.05).all()
    none_ts = TSNoise(SIGMA, iterations=1e6, p=0.0, seed=1)(x)
    assert (_aep(none_ts) > 0.05).float().mean() < 0.01 and _aep(none_ts).mean().abs() < 0.005


def test_screening_method_through_the_transform():
    out = TSNoise(SIGMA, iterations=20, method="screening", seed=0)(torch.zeros(2000, 1, 40, 40))
    assert abs(_aep(out).mean().item() - 0.0354) < 0.003  # ts_expected_shift(1600, 20)


def test_seeded_transforms_are_reproducible_and_pickle_with_their_state():
    x = torch.zeros(4, 1, 8, 8)
    a, b = TSNoise.ts_def(seed=5), TSNoise.ts_def(seed=5)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), TSNoise.ts_def(seed=6)(x))
    copy = pickle.loads(pickle.dumps(a))  # mid-stream: the copy continues the same stream
    assert torch.equal(copy(x), a(x))


def test_unseeded_uses_global_rng():
    x = torch.zeros(2, 1, 8, 8)
    torch.manual_seed(0)
    first = MixedNoise()(x)
    torch.manual_seed(0)
    assert torch.equal(first, MixedNoise()(x))


class _Zeros(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.zeros(1, 6, 6)


def _load_all(transform):
    loader = DataLoader(NoisyPairs(_Zeros(), transform), batch_size=2, num_workers=2)
    return torch.cat([noisy for noisy, _ in loader])


def test_dataloader_with_two_workers_distinct_streams_and_reproducible():
    for transform in (TSNoise(seed=3), GaussianNoise(seed=3), TSNoise()):
        torch.manual_seed(0)
        first = _load_all(transform)
        torch.manual_seed(0)
        second = _load_all(transform)
        assert torch.equal(first, second)
        flat = first.flatten(1)
        assert len({tuple(row.tolist()) for row in flat}) == len(flat)  # no two samples equal


def test_noisy_pairs_keeps_clean_and_drops_labels():
    data = [(torch.full((1, 4, 4), 0.5), 3)]
    noisy, clean = NoisyPairs(data, GaussianNoise(0.1, seed=0))[0]
    assert torch.equal(clean, data[0][0]) and not torch.equal(noisy, clean)
    with pytest.raises(TypeError, match="noise must be callable"):
        NoisyPairs(data, 0.1)


def test_gaussian_range_for_blind_training():
    out = GaussianNoise((0.0, 55 / 255), seed=0)(torch.zeros(500, 1, 40, 40))
    rms = out.flatten(1).pow(2).mean(1).sqrt()
    assert rms.max() < 57 / 255 and rms.min() < 5 / 255
    assert stats.kstest(rms.numpy() / (55 / 255), "uniform").pvalue > 0.001


def test_clip_option():
    x = torch.full((1, 8, 8), 0.5)
    assert not TSNoise(0.5, seed=0)(x).clamp(0, 1).equal(TSNoise(0.5, seed=0)(x))
    out = TSNoise(0.5, clip=True, seed=0)(x)
    assert out.min() >= 0 and out.max() <= 1


def test_bad_input_and_arguments():
    pil = PIL.Image.fromarray(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(TypeError, match="PIL image: convert first"):
        TSNoise()(pil)
    with pytest.raises(TypeError, match="floating-point"):
        TSNoise()(torch.zeros(1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"image \(C, H, W\) or a batch"):
        TSNoise()(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        TSNoise(sigma=-0.1)
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        TSNoise(p=1.5)
    with pytest.raises(ValueError, match="p must be >= 0"):
        TSNoise(p=-0.5)
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        TSNoise(iterations=-1)
    with pytest.raises(ValueError, match="method must be one of"):
        TSNoise(method="magic")
    with pytest.raises(ValueError, match="sigma\\[1\\] must be >="):
        GaussianNoise((0.2, 0.1))
    with pytest.raises(ValueError, match="weights must not all be zero"):
        MixedNoise((0.1, 0.2), weights=(0, 0))


def test_for_attack_picks_iterations_covering_the_budget():
    t = TSNoise.for_attack(SIGMA, 2 / 255, "linf", d=1600, p=0.5)
    assert 4e3 < t.iterations < 5e3 and t.p == 0.5


def test_device_follows_input(device):
    x = torch.zeros(2, 1, 4, 4, device=device)
    for transform in (TSNoise(seed=0), TSNoise(), GaussianNoise((0.0, 0.2), seed=1), MixedNoise()):
        assert transform(x).device.type == device.type


@pytest.mark.parametrize("transform, function", [
    (GaussianNoise((0.05, 0.2), seed=3),
     lambda shape, g: gaussian_noise(shape, (0.05, 0.2), generator=g)),
    (TSNoise.ts_def((0.05, 0.2), iterations=30, seed=3),
     lambda shape, g: ts_noise(shape, (0.05, 0.2), 30, generator=g, p=0.5)),
    (TSNoise(SIGMA, iterations=7, method="screening", seed=3),
     lambda shape, g: ts_noise(shape, SIGMA, 7, "screening", generator=g)),
    (MixedNoise((0.1, 0.2), weights=(1, 3), seed=3),
     lambda shape, g: mixed_noise(shape, (0.1, 0.2), (1, 3), generator=g)),
])
def test_module_equals_function_for_the_same_generator(transform, function):
    x = torch.rand(16, 1, 12, 12)
    expected = x + function(tuple(x.shape), torch.Generator().manual_seed(3))
    torch.testing.assert_close(transform(x), expected, rtol=0, atol=0)
    torch.testing.assert_close(transform.add_noise(x, torch.Generator().manual_seed(3)),
                               expected, rtol=0, atol=0)


def test_v2_dispatch_masks_boxes_and_keypoints_pass_through_videos_get_noise():
    image = tv_tensors.Image(torch.rand(1, 16, 16))
    mask = tv_tensors.Mask(torch.zeros(16, 16, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[1.0, 2.0, 5.0, 6.0]]), format="XYXY",
                                     canvas_size=(16, 16))
    out = TSNoise(0.1, seed=0)({"image": image, "mask": mask, "boxes": boxes, "label": 3})
    assert out["mask"] is mask and out["boxes"] is boxes and out["label"] == 3
    assert not torch.equal(out["image"], image)
    img, kept = TSNoise(0.1, seed=0)(image, boxes)
    assert kept is boxes and isinstance(img, tv_tensors.Image)
    video = tv_tensors.Video(torch.zeros(4, 1, 8, 8))  # (T, C, H, W): every frame its own noise
    noisy = GaussianNoise(0.1, seed=0)(video)
    assert isinstance(noisy, tv_tensors.Video) and noisy.shape == video.shape
    assert not torch.equal(noisy[0], noisy[1])
    reference = torch.zeros(2, 1, 8, 8)  # mask-only sample: nothing to noise, like torchvision
    assert torch.equal(v2.GaussianNoise()(tv_tensors.Mask(reference)), reference)
    assert torch.equal(GaussianNoise()(tv_tensors.Mask(reference)), reference)


def test_numpy_arrays_are_refused():
    with pytest.raises(TypeError, match="numpy array"):
        TSNoise()(np.zeros((1, 8, 8), dtype=np.float32))


def test_mean_and_per_sample_sigma_tensor():
    x = torch.zeros(3, 1, 64, 64)
    out = GaussianNoise(0.0, mean=0.25)(x)
    assert torch.equal(out, torch.full_like(x, 0.25))  # sigma 0: the mean alone, as in v2
    levels = torch.tensor([0.0, 0.1, 0.3])
    out = GaussianNoise(levels, seed=0)(x)
    rms = out.flatten(1).pow(2).mean(1).sqrt()
    assert rms[0] == 0 and abs(rms[1] - 0.1) < 0.005 and abs(rms[2] - 0.3) < 0.015
    with pytest.raises(ValueError, match="one value per image|shape \\(3,\\)"):
        GaussianNoise(torch.tensor([0.1, 0.2]))(x)


def test_blind_ts_draws_a_level_per_sample_from_the_range():
    # T = 0: TS is plain Gaussian, so each sample's RMS estimates its level (d = 4096).
    out = TSNoise((0.1, 0.3), iterations=0, seed=2)(torch.zeros(400, 1, 64, 64))
    rms = out.flatten(1).pow(2).mean(1).sqrt()
    assert rms.min() > 0.1 * 0.96 and rms.max() < 0.3 * 1.04
    assert stats.kstest((rms.numpy() - 0.1) / 0.2, "uniform").pvalue > 0.001
    # Same seed, same levels and directions: with large T every sample's radius grows by
    # about sqrt(1 + 2 E[e]) over its own level's (E[e] = ts_expected_shift(1600, 1e6) ~ 0.12).
    x = torch.zeros(400, 1, 40, 40)
    gauss = TSNoise((0.1, 0.3), iterations=0, seed=5)(x).flatten(1).norm(dim=1)
    ts = TSNoise((0.1, 0.3), iterations=1e6, seed=5)(x).flatten(1).norm(dim=1)
    ratio = ts / gauss
    expected = (1 + 2 * ts_expected_shift(1600, 1e6)) ** 0.5
    assert abs(ratio.median().item() - expected) < 0.02 and (ratio > 1.05).all()


def test_transforms_wrap_the_noise_spec_and_check_changes():
    from denoise_adv.noise import NoiseSpec

    t = TSNoise.ts_pres(0.1, iterations=5, seed=0)
    assert t.spec == NoiseSpec(0.1, 5, 1 / 3, "exact")
    t.sigma, t.p = 0.2, 1.0  # read and set through the spec
    assert t.spec == NoiseSpec(0.2, 5, 1.0) and (t.sigma, t.p) == (0.2, 1.0)
    expected = ts_noise((1, 1, 8, 8), 0.2, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t(torch.zeros(1, 8, 8)), expected[0])  # drawn with the new level
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        t.p = 1.5
    fractional = TSNoise(iterations=2.5)
    with pytest.raises(ValueError, match="whole number"):
        fractional.method = "screening"
    assert t.spec == NoiseSpec(0.2, 5, 1.0) and fractional.method == "exact"  # left as they were
    same = TSNoise.from_spec(NoiseSpec.ts_def(0.1), seed=3)
    assert (same.p, same.seed) == (0.5, 3) and GaussianNoise(0.1).spec == NoiseSpec.gaussian(0.1)
    assert "iterations=5.0, p=1.0" in repr(t)
