"""Identity by content, not by path (issue 25): the images of ``reproduce table2`` and of a
benchmark protocol whose data is a folder are known by the sha256 of their pixels, recorded
in rows and results; after an image changes under the same name, nothing computed on the old
pixels is reused."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from denoise_adv.benchmark import PROTOCOL_V1_QUICK
from denoise_adv.data import builtin_image, load_image, pixel_sha256, save_png
from denoise_adv.models import DnCNN, save_checkpoint


def test_pixel_sha256_is_the_pixels_not_the_file(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "b.bmp")  # other format, other name: same pixels
    a, b = load_image(tmp_path / "a.png"), load_image(tmp_path / "b.bmp")
    assert pixel_sha256(a) == pixel_sha256(b) == pixel_sha256(a.double())
    assert len(pixel_sha256(a)) == 64
    changed = pixels.copy()
    changed[5, 5] ^= 1  # one level of one pixel
    Image.fromarray(changed).save(tmp_path / "a.png")
    assert pixel_sha256(load_image(tmp_path / "a.png")) != pixel_sha256(a)
    assert pixel_sha256(a) != pixel_sha256(a.reshape(1, 10, 12))  # the shape counts
    with pytest.raises(TypeError, match="image must be a floating-point tensor"):
        pixel_sha256(torch.zeros(1, 2, 2, dtype=torch.uint8))


def _invert(path) -> None:
    save_png(1 - load_image(path), path)


@pytest.fixture
def bench(tmp_path):
    """A folder of two 16x16 images, a tiny model and a protocol file naming the folder."""
    g = torch.Generator().manual_seed(0)
    for name in ("a", "b"):
        save_png(torch.rand(1, 16, 16, generator=g) * 0.5, tmp_path / "images" / f"{name}.png")
    torch.manual_seed(0)
    save_checkpoint(DnCNN(depth=3, features=4), tmp_path / "tiny.pt")
    protocol = PROTOCOL_V1_QUICK.derive("identity-tiny", data=str(tmp_path / "images"),
                                        images=None, crop=None,
                                        reference=str(tmp_path / "tiny.pt"), bootstrap=20)
    (tmp_path / "protocol.json").write_text(json.dumps(protocol.as_dict()))
    return tmp_path


def _rows(out) -> dict[str, dict]:
    return {r["image"]: r for r in json.loads((out / "results.json").read_text())["per_image"]}


def test_benchmark_folder_rows_follow_the_pixels(bench, cli, one_thread):
    out = bench / "bench"
    argv = ("benchmark", "--model", bench / "tiny.pt", "--protocol", bench / "protocol.json",
            "--out", out, "--quiet", "--no-figures")
    assert cli(*argv)[0] == 0
    before = _rows(out)
    for name in ("a", "b"):  # recorded in rows and results
        assert before[name]["pixel_sha256"] == pixel_sha256(
            load_image(bench / "images" / f"{name}.png"))
    row_a = out / "rows" / "tiny" / "a-s0.json"
    stamp = row_a.stat().st_mtime_ns
    _invert(bench / "images" / "b.png")  # same folder, same names, new pixels
    assert cli(*argv)[0] == 0
    after = _rows(out)
    new_b = pixel_sha256(load_image(bench / "images" / "b.png"))
    assert after["b"]["pixel_sha256"] == new_b != before["b"]["pixel_sha256"]
    assert after["b"]["gaussian_psnr"] != before["b"]["gaussian_psnr"]  # recomputed
    assert after["b"]["psnr"] != before["b"]["psnr"]  # transfer inputs crafted again too
    transfer = torch.load(out / "cache" / "transfer" / "b-s0.pt", weights_only=True)
    assert transfer["pixel_sha256"] == new_b
    assert after["a"] == before["a"] and row_a.stat().st_mtime_ns == stamp  # reused as is


@pytest.mark.slow
def test_reproduce_recomputes_after_a_test_image_changes(tmp_path, cli):
    coffee, camera, moon = (builtin_image(n) for n in ("coffee", "camera", "moon"))
    train, test = tmp_path / "train", tmp_path / "test"
    save_png(coffee[:, 100:148, 100:148], train / "a.png")
    save_png(camera[:, 100:132, 200:232], test / "cam.png")
    save_png(moon[:, 200:232, 200:232], test / "moon.png")
    out = tmp_path / "repro"
    argv = ("reproduce", "table2", "--train-data", train, "--test-data", test, "--out", out,
            "--smoke", "--strategies", "normal", "--quiet", "--device", "cpu")
    assert cli(*argv)[0] == 0
    first = (out / "per_image.csv").read_text()
    code, printed, _ = cli(*argv)
    assert code == 0 and "[evaluate] normal: skipped" in printed  # unchanged: reused
    assert (out / "per_image.csv").read_text() == first
    _invert(test / "moon.png")
    code, printed, _ = cli(*argv)
    assert code == 0 and "[train] normal: skipped" in printed  # training never saw it
    assert "crafted on the normal model" in printed and "[evaluate] normal: evaluated" in printed
    second = (out / "per_image.csv").read_text()
    assert second != first  # the probe: byte-identical before the fix
    old = list(csv.DictReader(first.splitlines()))
    new = list(csv.DictReader(second.splitlines()))
    moon_hash = pixel_sha256(load_image(test / "moon.png"))
    assert {r["pixel_sha256"] for r in new if r["image"] == "moon"} == {moon_hash}
    assert [r["psnr"] for r in new if r["image"] == "moon"] != [
        r["psnr"] for r in old if r["image"] == "moon"]
    assert json.loads((out / "protocol.json").read_text())["test_pixels"]["moon"] == moon_hash
