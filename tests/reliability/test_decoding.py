"""Files that decoded wrongly (issue 25): a CMYK JPEG read as RGBA, a float32 TIFF of 8-bit
levels clipped to [0, 1], an int32 TIFF divided by 2^31 - 1. Each file is written here and the
decoded pixels are compared with what was written."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from denoise_adv.data import iter_images, load_image, to_tensor, unit_range


def _levels(shape=(16, 16), seed=0) -> np.ndarray:
    """8-bit levels 0..255 (both ends present), as uint8."""
    a = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    a.flat[0], a.flat[1] = 0, 255
    return a


def _smooth_rgb(size: int = 32) -> np.ndarray:
    """A smooth colour image (JPEG keeps it to a few levels)."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    return (np.stack([x, y, 1 - x * y], axis=2) * 200 + 20).round().astype(np.uint8)


def test_cmyk_jpeg_reads_as_its_colours_not_as_rgba(tmp_path):
    rgb = _smooth_rgb()
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "ink.jpg", quality=100)
    assert Image.open(tmp_path / "ink.jpg").mode == "CMYK"
    loaded = load_image(tmp_path / "ink.jpg", channels=3)
    expected = torch.from_numpy(rgb.transpose(2, 0, 1) / 255.0).float()
    assert (loaded - expected).abs().mean() < 2 / 255  # was inverted: mean error ~0.5
    gray = load_image(tmp_path / "ink.jpg", channels=1)
    assert (gray - to_tensor(rgb)).abs().mean() < 2 / 255


def test_cmyk_tiff_reads_as_its_colours(tmp_path):
    rgb = _smooth_rgb()
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "ink.tif")
    loaded = load_image(tmp_path / "ink.tif", channels=3)
    torch.testing.assert_close(loaded, torch.from_numpy(rgb.transpose(2, 0, 1) / 255).float())


def test_float32_tiff_of_8bit_levels_is_divided_by_255_not_clipped(tmp_path):
    levels = _levels().astype(np.float32)
    levels[2, 2] = 127.25  # fractional levels too
    tifffile.imwrite(tmp_path / "f.tif", levels)
    loaded = load_image(tmp_path / "f.tif")
    torch.testing.assert_close(loaded[0], torch.from_numpy(levels / 255))
    assert (loaded < 1).float().mean() > 0.9  # was: 99.5% white


def test_float32_tiff_in_unit_range_is_kept(tmp_path):
    values = np.random.default_rng(1).random((16, 16), dtype=np.float32)
    tifffile.imwrite(tmp_path / "u.tif", values)
    torch.testing.assert_close(load_image(tmp_path / "u.tif")[0], torch.from_numpy(values))


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint32, np.int64])
def test_integer_tiff_of_8bit_levels_is_divided_by_255(tmp_path, dtype):
    levels = _levels()
    tifffile.imwrite(tmp_path / "i.tif", levels.astype(dtype))
    loaded = load_image(tmp_path / "i.tif")
    torch.testing.assert_close(loaded[0], torch.from_numpy(levels / 255).float())
    assert loaded.max() == 1.0  # was: black (divided by 2^31 - 1)


def test_int32_tiff_of_16bit_levels_is_divided_by_65535(tmp_path):
    values = np.array([[0, 1000], [40000, 65535]], dtype=np.int32)
    tifffile.imwrite(tmp_path / "i16.tif", values)
    torch.testing.assert_close(load_image(tmp_path / "i16.tif")[0],
                               torch.from_numpy(values / 65535).float())


def test_int32_rgb_tiff_reads_in_pixel_order(tmp_path):
    rgb = _levels((8, 8, 3)).astype(np.int32)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    torch.testing.assert_close(load_image(tmp_path / "rgb.tif", channels=3),
                               torch.from_numpy(rgb.transpose(2, 0, 1) / 255).float())


def test_planar_uint16_rgb_tiff_keeps_16_bits(tmp_path):
    planes = np.random.default_rng(2).integers(0, 65536, (3, 8, 8), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "p.tif", planes, photometric="rgb", planarconfig="separate")
    torch.testing.assert_close(load_image(tmp_path / "p.tif", channels=3),
                               torch.from_numpy(planes / 65535).float())


def test_16bit_png_keeps_its_levels(tmp_path):
    values = np.array([[0, 257, 30000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    torch.testing.assert_close(load_image(tmp_path / "g16.png")[0],
                               torch.from_numpy(values / 65535).float())


def test_palette_and_gray_alpha_pngs_read_by_mode(tmp_path):
    levels = _levels((8, 8))
    Image.fromarray(levels).convert("P").save(tmp_path / "p.png")
    Image.fromarray(np.stack([levels, np.full_like(levels, 7)], 2), "LA").save(tmp_path / "la.png")
    expected = torch.from_numpy(levels / 255).float()
    torch.testing.assert_close(load_image(tmp_path / "p.png")[0], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(load_image(tmp_path / "la.png")[0], expected)  # alpha dropped


@pytest.mark.parametrize("values, message", [
    (np.array([[-5.0, 100.0]], np.float32), "negative values"),
    (np.array([[0.0, 70000.0]], np.float32), "above the 16-bit range"),
    (np.array([[0, 2**31 - 1]], np.int32), "above the 16-bit range"),
    (np.array([[0.0, 1.5]], np.float32), "ambiguous"),
    (np.array([[0.0, np.nan]], np.float32), "NaN or Inf"),
])
def test_values_without_a_white_point_are_refused_naming_the_file(tmp_path, values, message):
    tifffile.imwrite(tmp_path / "odd.tif", values)
    with pytest.raises(ValueError, match=message) as info:
        load_image(tmp_path / "odd.tif")
    assert "odd.tif" in str(info.value)


def test_multi_page_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 8, 8), np.uint8),
                     photometric="minisblack")
    with pytest.raises(ValueError, match="holds 3 pages"):
        load_image(tmp_path / "stack.tif")


def test_unreadable_tiff_in_a_folder_names_the_file(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(ValueError, match="bad.tif"):
        list(iter_images(tmp_path))


def test_size_limit_reads_tiff_headers_that_pil_cannot(tmp_path):
    tifffile.imwrite(tmp_path / "wide.tif", np.zeros((8, 8, 3), np.int32), photometric="rgb")
    with pytest.raises(ValueError, match="more than the limit of 63"):
        load_image(tmp_path / "wide.tif", max_pixels=63)


def test_unit_range_rules_on_arrays():
    assert unit_range(np.array([0.0, 1.0 + 1e-4])).tolist() == [0.0, 1.0]  # rounding: clipped
    assert unit_range(np.array([0, 1], np.int32)).tolist() == [0.0, 1.0]
    assert unit_range(np.array([0.0, 2.0])).tolist() == [0.0, 2 / 255]
    assert unit_range(np.array([0, 65535], np.uint16)).tolist() == [0.0, 1.0]
    assert unit_range(np.array([True, False])).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="array holds float64 values in"):
        unit_range(np.array([-1.0, 1.0]))
