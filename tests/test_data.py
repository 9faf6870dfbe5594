import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from denoise_adv.data import (
    BUILTIN_FILES,
    BUILTIN_SETS,
    builtin_image,
    builtin_path,
    iter_images,
    load_image,
    save_png,
    to_tensor,
)


def test_to_tensor_conversions():
    gray8 = np.array([[0, 255]], dtype=np.uint8)
    torch.testing.assert_close(to_tensor(gray8), torch.tensor([[[0.0, 1.0]]]))
    gray16 = np.array([[65535]], dtype=np.uint16)
    assert to_tensor(gray16).item() == 1.0
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 1] = 255
    assert to_tensor(rgb, channels=3).shape == (3, 2, 2)
    assert to_tensor(rgb)[0, 0, 0].item() == pytest.approx(0.587)  # ITU-R 601 luma
    rgba = np.concatenate([rgb, np.zeros((2, 2, 1), np.uint8)], axis=2)
    torch.testing.assert_close(to_tensor(rgba, 3), to_tensor(rgb, 3))
    assert to_tensor(gray8, channels=3).shape == (3, 1, 2)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        to_tensor(gray8, channels=2)
    with pytest.raises(ValueError, match="image must have shape"):
        to_tensor(np.zeros((2, 2, 5)))


def test_builtin_images_and_sets_are_disjoint():
    assert not set(BUILTIN_SETS["test"]) & set(BUILTIN_SETS["train"])
    camera = builtin_image("camera")
    assert camera.shape == (1, 512, 512) and camera.min() >= 0 and camera.max() <= 1
    assert builtin_image("astronaut", channels=3).shape == (3, 512, 512)
    with pytest.raises(ValueError, match="unknown built-in image 'nope'"):
        builtin_image("nope")
    items = list(iter_images("builtin:test"))
    assert [n for n, _ in items] == list(BUILTIN_SETS["test"])
    assert all(img.shape == (1, 256, 256) for _, img in items)  # Set12-like crops
    torch.testing.assert_close(items[0][1], camera[:, 128:384, 128:384])
    import skimage.data  # the bundled files are the images skimage's loaders return

    torch.testing.assert_close(builtin_image("chelsea"), to_tensor(skimage.data.chelsea()))
    assert all(img.shape == (3, 256, 256) for _, img in iter_images("builtin:test", channels=3))


def test_every_builtin_file_ships_inside_its_package():
    import importlib

    for name, (package, file) in BUILTIN_FILES.items():
        assert builtin_path(name).as_posix().endswith(file)
        root = os.path.dirname(importlib.import_module(package).__file__)
        path = builtin_path(name)
        assert path.is_file() and os.path.commonpath([root, str(path)]) == root, name


def test_no_training_image_equals_or_contains_a_test_image():
    """By pixel content, not by name: skimage's data.cat() is data.chelsea(), a test image."""
    from skimage.feature import match_template

    tests = {name: image[0].numpy() for name, image in iter_images("builtin:test")}
    for name in BUILTIN_SETS["train"]:
        train = builtin_image(name)[0].numpy()
        for test_name, crop in tests.items():
            # a 64x64 centre piece of the test crop, searched everywhere in the training image
            piece = crop[96:160, 96:160]
            if min(train.shape) < 64:
                continue
            score = match_template(train, piece).max()
            assert score < 0.99, (name, test_name, score)
    # the check itself finds a leak: chelsea's crop inside skimage's cat()
    import skimage.data

    cat = to_tensor(skimage.data.cat())[0].numpy()
    assert match_template(cat, tests["chelsea"][96:160, 96:160]).max() > 0.999


def test_png_round_trip_and_folder_listing(tmp_path):
    img = torch.linspace(0, 1, 256).view(1, 16, 16)
    save_png(img, tmp_path / "a.png")
    save_png(img[None].expand(1, 3, 16, 16), tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = load_image(tmp_path / "a.png")
    torch.testing.assert_close(loaded, (img * 255).round() / 255)
    items = list(iter_images(tmp_path))
    assert [n for n, _ in items] == ["a", "b"]
    assert load_image(tmp_path / "b.png", channels=3).shape == (3, 16, 16)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="broken.png"):
        load_image(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        list(iter_images(empty))
    with pytest.raises(ValueError, match="one image"):
        save_png(torch.rand(2, 1, 4, 4), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        save_png(torch.rand(2, 4, 4), tmp_path / "x.png")


def test_patch_counts_shapes_and_scales():
    from denoise_adv.data import PatchDataset

    img = torch.rand(1, 100, 80)
    ds = PatchDataset([img, img], patch_size=40, stride=10, scales=(1.0, 0.7))
    per_image = 7 * 5 + ((70 - 40) // 10 + 1) * ((56 - 40) // 10 + 1)  # 100x80 and 70x56
    assert len(ds) == 2 * per_image and ds[0].shape == (1, 40, 40)
    small = PatchDataset([torch.rand(3, 50, 50)], patch_size=40, stride=10, scales=(1.0, 0.7))
    assert len(small) == 4 and small[0].shape == (3, 40, 40)  # 35x35 is too small: skipped
    with pytest.raises(ValueError, match="no image is at least 40x40"):
        PatchDataset([torch.rand(1, 30, 30)])
    with pytest.raises(ValueError, match="scales must be in"):
        PatchDataset([img], scales=(1.5,))


def test_patch_orientations_cover_all_eight_and_follow_the_epoch():
    from denoise_adv.data import PatchDataset, augment

    img = torch.arange(16.0).view(1, 4, 4)
    ds = PatchDataset([img], patch_size=4, stride=4, scales=(1.0,))
    seen = set()
    for epoch in range(64):
        ds.set_epoch(epoch)
        seen.add(tuple(ds[0].flatten().tolist()))
    assert seen == {tuple(augment(img, m).flatten().tolist()) for m in range(8)}
    ds.set_epoch(3)
    assert torch.equal(ds[0], ds[0])  # (seed, epoch, index) fixes the draw


def test_patch_noise_on_the_fly_is_reproducible_and_regenerated():
    from denoise_adv.data import PatchDataset
    from denoise_adv.transforms import TSNoise

    ds = PatchDataset([torch.rand(1, 60, 60)], patch_size=40, stride=20, scales=(1.0,),
                      noise=TSNoise.ts_def(25 / 255), seed=1)
    noisy, clean = ds[2]
    again, _ = ds[2]
    assert torch.equal(noisy, again) and not torch.equal(noisy, clean)
    ds.set_epoch(1)
    assert not torch.equal(ds[2][0] - ds[2][1], noisy - clean)
    with pytest.raises(TypeError, match="add_noise"):
        PatchDataset([torch.rand(1, 60, 60)], noise=lambda x: x)


def test_skip_unreadable_files_with_warning(tmp_path):
    save_png(torch.rand(1, 8, 8), tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.png"):
        list(iter_images(tmp_path))
    with pytest.warns(UserWarning, match="skipping unreadable image.*bad.png"):
        names = [n for n, _ in iter_images(tmp_path, skip_errors=True)]
    assert names == ["good"]


def test_to_tensor_keeps_a_noisy_image_unclipped_or_refuses_it():
    """Issue 24: ``to_tensor(random_noise(img, clip=False))`` lost the noise's tails."""
    from skimage.util import random_noise

    clean = skimage_camera_crop()
    noisy = random_noise(clean, var=(25 / 255) ** 2, clip=False, rng=0)
    assert noisy.min() < -0.05 and noisy.max() > 1.05  # tails on both sides
    with pytest.raises(ValueError, match=r"noisy=True"):
        to_tensor(noisy)  # a clean image outside [0, 1]: refused, never clipped
    kept = to_tensor(noisy, noisy=True)
    assert kept.dtype == torch.float32
    torch.testing.assert_close(kept[0], torch.from_numpy(noisy).float(), rtol=0, atol=0)
    rgb = np.stack([noisy, noisy * 0.5, noisy - 0.2], axis=2)
    gray = to_tensor(rgb, noisy=True)[0].numpy()
    np.testing.assert_allclose(gray, rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)
    assert gray.min() < 0  # the luma of unclipped colour stays unclipped
    torch.testing.assert_close(to_tensor(np.array([[0, 255]], np.uint8), noisy=True),
                               torch.tensor([[[0.0, 1.0]]]))


def test_to_tensor_noisy_refuses_what_is_not_a_unit_image():
    with pytest.raises(ValueError, match="NaN or Inf"):
        to_tensor(np.array([[0.5, np.nan]]), noisy=True)
    with pytest.raises(ValueError, match="noisy=True takes float"):
        to_tensor(np.array([[0, 300]], np.int32), noisy=True)
    with pytest.raises(TypeError, match="noisy"):
        to_tensor(np.zeros((2, 2)), noisy=1)
    with pytest.raises(ValueError, match="noisy=True"):  # overshoot above 1 only
        to_tensor(np.array([[0.2, 1.3]]))


def skimage_camera_crop() -> np.ndarray:
    import skimage

    return skimage.data.camera()[::8, ::8]  # 64x64, dark and bright parts


@pytest.mark.parametrize("shape", [(1, 9, 9), (3, 10, 7), (2, 1, 31, 40), (5, 6), (1, 3, 4)])
@pytest.mark.parametrize("size", [1, 4, 5, 8, (3, 6), [7, 2], (12, 12)])
def test_center_crop_is_torchvisions_pixel_for_pixel(shape, size):
    from torchvision.transforms.v2.functional import center_crop as tv_center_crop

    from denoise_adv.data import center_crop

    image = torch.rand(shape, generator=torch.Generator().manual_seed(len(shape)))
    ours = center_crop(image, size)
    assert torch.equal(ours, tv_center_crop(image, size if isinstance(size, int) else list(size)))
    assert ours.shape[-2:] == ((size, size) if isinstance(size, int) else tuple(size))


def test_center_crop_refuses_an_empty_size():
    from denoise_adv.data import center_crop

    with pytest.raises(ValueError, match="size must be positive, got 0"):
        center_crop(torch.zeros(4, 4), 0)


def test_the_cli_starts_without_torchvision():
    # a command's start does not pay torchvision's import (~1.7 s here) unless it needs it
    code = ("import sys, denoise_adv.cli, denoise_adv.evaluation, denoise_adv.training; "
            "from denoise_adv.data import iter_images; list(iter_images('builtin:test')); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
