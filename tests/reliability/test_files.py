"""Files that lie or cannot be read back (issue 14): adversarial sets and checkpoints are
checked field by field, what the package writes it can read, images have a size limit, and
files get the permissions a plain ``open()`` gives."""

from __future__ import annotations

import math
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import SIGMA, tiny_model

from denoise_adv import DenoisePGD, DenoisePGDL2
from denoise_adv._io import atomic_open, load_weights
from denoise_adv.analysis import evaluate_adversarial_set, make_adversarial_set
from denoise_adv.attacks import AttackSpec, load_adversarial_set
from denoise_adv.data import MAX_PIXELS, iter_images, load_image, save_png
from denoise_adv.models import load_checkpoint, save_checkpoint

# ------------------------------------------------------------------------ adversarial sets


def _images(count: int = 3) -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(2)
    return [(f"img{i}", torch.rand(1, 16, 16, generator=g)) for i in range(count)]


@pytest.fixture
def adv_set(tmp_path, model) -> Path:
    """A genuine L-inf set (eps 2/255) of three 16x16 images."""
    return make_adversarial_set(model, _images(), tmp_path / "set.pt", SIGMA,
                                AttackSpec("linf", steps=2), seed=0, progress=False)


def _edited(path: Path, edit) -> Path:
    """A copy of the set at ``path`` with ``edit(payload)`` applied."""
    payload = torch.load(path, weights_only=True)
    edit(payload)
    out = path.with_name("edited.pt")
    torch.save(payload, out)
    return out


def test_names_must_pair_with_images(adv_set):
    """3 images with 1 name used to score 1 image (zip)."""
    edited = _edited(adv_set, lambda p: p["meta"].update(images=["img0"]))
    with pytest.raises(ValueError, match=r"names 1 image\(s\) but the set holds 3"):
        load_adversarial_set(edited)


@pytest.mark.parametrize("key", ["labels", "clean_inputs"])
def test_every_tensor_holds_one_entry_per_image(adv_set, key):
    edited = _edited(adv_set, lambda p: p.update({key: p[key][:1]}))
    with pytest.raises(ValueError, match=f"{key} has shape"):
        load_adversarial_set(edited)


def test_duplicate_image_names_are_refused(adv_set):
    edited = _edited(adv_set, lambda p: p["meta"].update(images=["img0", "img0", "img2"]))
    with pytest.raises(ValueError, match=r"lists \['img0'\] more than once"):
        load_adversarial_set(edited)


@pytest.mark.parametrize("sigma", [float("nan"), float("inf"), -1.0, "25"])
def test_sigma_must_be_a_finite_number(adv_set, sigma):
    edited = _edited(adv_set, lambda p: p["meta"].update(sigma=sigma))
    with pytest.raises(ValueError, match="sigma must be a finite number"):
        load_adversarial_set(edited)


def test_missing_sigma_is_refused_where_it_is_compared(adv_set, model):
    edited = _edited(adv_set, lambda p: p["meta"].pop("sigma"))
    with pytest.raises(ValueError, match="records no sigma"):
        evaluate_adversarial_set(model, edited, SIGMA, progress=False)


def test_recorded_sigma_must_match_the_noise(adv_set, model):
    """A set made at 25 relabelled 15 would be scored as a 15 set."""
    edited = _edited(adv_set, lambda p: p["meta"].update(sigma=15 / 255))
    with pytest.raises(ValueError, match="noise of RMS 2[45]"):
        evaluate_adversarial_set(model, edited, 15 / 255, progress=False)


@pytest.mark.parametrize("spec", [
    AttackSpec("linf", steps=2),
    AttackSpec("l2", steps=2),
    AttackSpec("linf", eps=8 / 255, steps=2, clip=(0.0, 1.0)),  # clipping moves noisy pixels
], ids=["linf", "l2", "clipped"])
def test_perturbation_must_fit_its_recorded_budget(tmp_path, model, spec):
    """||delta||_inf = 0.5 recorded at 2/255 used to report a big 'attack' drop; genuine sets
    (clipped ones too) still pass."""
    path = make_adversarial_set(model, _images(), tmp_path / "set.pt", SIGMA, spec, seed=0,
                                progress=False)
    rows = evaluate_adversarial_set(model, path, SIGMA, progress=False)
    assert [r["image"] for r in rows] == ["img0", "img0", "img1", "img1", "img2", "img2"]

    def inflate(p):
        p["adv_inputs"] = p["clean_inputs"] + 0.5 * torch.sign(torch.randn_like(p["labels"]))

    with pytest.raises(ValueError, match=r"exceeds the budget it records: \|\|delta\|\|"):
        evaluate_adversarial_set(model, _edited(path, inflate), SIGMA, progress=False)


def test_linf_budget_boundary(adv_set):
    eps = 2 / 255
    load_adversarial_set(_edited(adv_set, lambda p: p.update(adv_inputs=p["clean_inputs"] + eps)))
    over = _edited(adv_set, lambda p: p.update(adv_inputs=p["clean_inputs"] + 1.01 * eps))
    with pytest.raises(ValueError, match=r"\|\|delta\|\|_inf = 0.0079.* > linf eps 0.00784"):
        load_adversarial_set(over)


def test_l2_budget_is_checked_per_pixel(tmp_path, model):
    path = make_adversarial_set(model, _images(), tmp_path / "l2.pt", SIGMA,
                                AttackSpec("l2", steps=2), seed=0, progress=False)
    radius = 2 / 255 * math.sqrt(16 * 16)

    def scale(factor):
        def edit(p):
            direction = torch.randn_like(p["labels"])
            direction /= direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            p["adv_inputs"] = p["clean_inputs"] + factor * radius * direction
        return edit

    load_adversarial_set(_edited(path, scale(0.999)))
    with pytest.raises(ValueError, match=r"\|\|delta\|\|_2 = .* \(radius 0.12549"):
        load_adversarial_set(_edited(path, scale(1.01)))


@pytest.mark.parametrize("make", [
    lambda m: DenoisePGD(m, eps=2 / 255, steps=1, generator=torch.Generator().manual_seed(0)),
    lambda m: DenoisePGDL2(m, eps=0.5, alpha=0.2, steps=3, random_start=False),  # absolute
    lambda m: DenoisePGDL2(m, eps=2 / 255, alpha=1 / 255, steps=3, random_start=False,
                           per_pixel=True),
], ids=["linf", "l2", "l2-per-pixel"])
def test_attack_save_sets_are_checked_against_their_eps(tmp_path, model, make):
    noisy = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 1.4 - 0.2
    atk = make(model)
    atk.save([(noisy, noisy.clamp(0, 1))], tmp_path / "s.pt", verbose=False, progress=False,
             save_clean_inputs=True)
    assert len(load_adversarial_set(tmp_path / "s.pt")["adv_inputs"]) == 2  # genuine: loads
    edited = _edited(tmp_path / "s.pt", lambda p: p["meta"].update(eps=atk.eps / 2))
    with pytest.raises(ValueError, match="exceeds the budget"):
        load_adversarial_set(edited)


MALFORMED = [
    ("meta a list", lambda p: p.update(meta=[1, 2]), "meta must be a dict, got list"),
    ("protocol a string", lambda p: p["meta"].update(attack_protocol="linf"),
     "attack_protocol must be a dict, got str"),
    ("protocol without eps", lambda p: p["meta"]["attack_protocol"].pop("eps"),
     "records no eps"),
    ("unknown norm", lambda p: p["meta"]["attack_protocol"].update(norm="l1"),
     "norm must be 'linf' or 'l2'"),
    ("adv_inputs a list", lambda p: p.update(adv_inputs=p["adv_inputs"].tolist()),
     "adv_inputs must be a float tensor (N, C, H, W), got a list"),
    ("adv_inputs uint8", lambda p: p.update(adv_inputs=(p["adv_inputs"] * 255).to(torch.uint8)),
     "adv_inputs must be a float tensor (N, C, H, W), got a torch.uint8 tensor"),
    ("adv_inputs 3-D", lambda p: p.update(adv_inputs=p["adv_inputs"][:, 0]),
     "adv_inputs must have shape (N, C, H, W)"),
    ("labels with NaN", lambda p: p["labels"].view(-1)[0].fill_(float("nan")),
     "labels contains NaN or Inf"),
    ("names not strings", lambda p: p["meta"].update(images=[0, 1, 2]),
     "images must be a list of image names"),
    ("save_type int", lambda p: p.update(save_type="int"), "save_type must be 'float'"),
    ("foreign entry", lambda p: p.update(extra=torch.ones(1)), "unexpected entries ['extra']"),
    ("shape lies", lambda p: p["meta"].update(shape=[3, 16, 16]), "meta shape [3, 16, 16]"),
]


@pytest.mark.parametrize("edit,message", [(e, m) for _, e, m in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_malformed_sets_give_one_line_value_errors(adv_set, edit, message):
    """They used to raise AttributeError/KeyError from deep inside the scoring."""
    edited = _edited(adv_set, edit)
    with pytest.raises(ValueError) as info:
        load_adversarial_set(edited)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(edited) in str(info.value)  # names the file


def test_sets_with_the_same_stem_get_distinct_rows(tmp_path, model, folder, cli):
    for sub in ("x", "y"):
        code, _, _ = cli("make-adv", "--model", save_checkpoint(model, tmp_path / "m.pt"),
                         "--data", folder, "--steps", 1, "--out", tmp_path / sub / "set.pt",
                         "--quiet")
        assert code == 0
    code, _, _ = cli("evaluate", "--model", tmp_path / "m.pt", "--data", folder, "--attacks",
                     "none", "--adv-set", tmp_path / "x" / "set.pt", tmp_path / "y" / "set.pt",
                     "--out", tmp_path / "report", "--quiet")
    assert code == 0
    summary = (tmp_path / "report" / "summary.csv").read_text()
    assert str(tmp_path / "x" / "set") in summary and str(tmp_path / "y" / "set") in summary


# ---------------------------------------------------------------- what we write, we read


def test_numpy_scalars_and_paths_in_meta_read_back(tmp_path, model):
    meta = {"psnr": np.float64(30.25), "steps": np.int64(7), "where": Path("runs/a"),
            "curve": np.array([1.5, 2.5]), "nested": {"ok": [np.float32(0.5)]}}
    path = save_checkpoint(model, tmp_path / "m.pt", meta)
    _, loaded = load_checkpoint(path)
    assert loaded == {"psnr": 30.25, "steps": 7, "where": "runs/a", "curve": [1.5, 2.5],
                      "nested": {"ok": [0.5]}}
    assert type(loaded["psnr"]) is float and type(loaded["steps"]) is int


def test_attack_save_with_a_path_in_meta_reads_back(tmp_path, model):
    pair = (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    DenoisePGD(model, steps=1).save([pair], tmp_path / "s.pt", verbose=False, progress=False,
                                    meta={"source": Path("a/b.pt"), "seed": np.int32(3)})
    meta = load_adversarial_set(tmp_path / "s.pt")["meta"]
    assert meta["source"] == "a/b.pt" and meta["seed"] == 3


def test_unstorable_meta_is_refused_at_save_time(tmp_path, model):
    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"meta\['info'\]\['x'\] \(a Opaque\) cannot be stored"):
        save_checkpoint(model, tmp_path / "m.pt", {"info": {"x": Opaque()}})
    assert not list(tmp_path.iterdir())  # nothing written


def test_foreign_pickles_are_refused_without_advice_to_unpickle(tmp_path):
    torch.save({"psnr": np.float64(30)}, tmp_path / "foreign.pt")  # torch.save, no checks
    with pytest.raises(ValueError) as info:
        load_weights(tmp_path / "foreign.pt", "model checkpoint")
    text = str(info.value)
    assert "not plain weights" in text and "numpy" in text
    assert "weights_only=False" not in text and "\n" not in text


# ------------------------------------------------------------------------- checkpoints


def _crafted(tmp_path: Path, **changes) -> Path:
    payload = {"format": "denoise_adv.checkpoint", "version": 1, "model": "dncnn",
               "kwargs": {"channels": 1, "depth": 3, "features": 4},
               "state_dict": tiny_model().state_dict(), "meta": {}}
    payload.update(changes)
    torch.save(payload, tmp_path / "crafted.pt")
    return tmp_path / "crafted.pt"


def test_huge_constructor_arguments_are_refused_before_building(tmp_path):
    """1.4 KB asking for features=200000: 1.44 TB of weights, refused in milliseconds."""
    path = _crafted(tmp_path, kwargs={"channels": 1, "depth": 3, "features": 200000})
    assert path.stat().st_size < 10_000
    start = time.perf_counter()
    with pytest.raises(ValueError, match="features=200000 is larger than its weights"):
        load_checkpoint(path)
    assert time.perf_counter() - start < 5


def test_arguments_that_do_not_fit_the_weights_are_refused(tmp_path):
    """Within the size bound, the model is built on the meta device and the shapes compared."""
    path = _crafted(tmp_path, kwargs={"channels": 1, "depth": 3, "features": 64})
    with pytest.raises(ValueError, match=r"net.0.weight \(4, 1, 3, 3\) \(expected \(64, 1, 3, 3\)"):
        load_checkpoint(path)
    deeper = _crafted(tmp_path, kwargs={"channels": 1, "depth": 5, "features": 4})
    with pytest.raises(ValueError, match="missing net.6.weight"):
        load_checkpoint(deeper)


def test_nan_weights_are_refused(tmp_path, model):
    loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))  # finite: loads
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    state = tiny_model().state_dict()
    state["net.0.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="weight 'net.0.weight' contains NaN"):
        load_checkpoint(_crafted(tmp_path, state_dict=state))


@pytest.mark.parametrize("version", [2, 0, "1", None, True])
def test_unknown_format_versions_are_refused(tmp_path, version):
    with pytest.raises(ValueError, match="checkpoint format version"):
        load_checkpoint(_crafted(tmp_path, version=version))


# ------------------------------------------------------------------------------ images


def test_images_over_the_limit_are_refused_from_the_header(tmp_path, monkeypatch):
    save_png(torch.rand(1, 16, 16), tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", max_pixels=256).shape == (1, 16, 16)  # exactly
    import skimage.io

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(skimage.io, "imread", no_decoding)
    with pytest.raises(ValueError, match=r"16x16 = 256 pixels, more than the limit of 255"):
        load_image(tmp_path / "a.png", max_pixels=255)
    with pytest.raises(ValueError, match="more than the limit"):
        list(iter_images(tmp_path, max_pixels=255))


def test_default_limit_is_documented_and_reachable_from_the_cli():
    from denoise_adv.cli import build_parser
    from denoise_adv.cli.common import OPTIONS, pixel_count

    assert MAX_PIXELS == 4096 * 4096
    args = build_parser().parse_args(["attack", "--model", "m.pt", "--input", "in", "--out", "o"])
    assert args.max_pixels == 4096 * 4096  # what a command gets without --max-pixels
    assert "(default: 16777216 = 4096x4096)" in OPTIONS["--max-pixels"]["help"]
    assert pixel_count("4096x4096") == pixel_count("16777216") == MAX_PIXELS


def test_images_with_one_stem_get_distinct_names(tmp_path):
    """a.bmp and a.png used to overwrite each other's outputs and share a summary row."""
    from PIL import Image

    array = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 3)
    Image.fromarray(array).save(tmp_path / "a.bmp")
    Image.fromarray(255 - array).save(tmp_path / "a.png")
    Image.fromarray(array).save(tmp_path / "b.png")
    names = [name for name, _ in iter_images(tmp_path)]
    assert names == ["a.bmp", "a.png", "b"]


# ------------------------------------------------------------------------- permissions


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path, umask_022, model):
    with atomic_open(tmp_path / "new.txt", "w") as f:
        f.write("x")
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
    save_checkpoint(model, tmp_path / "m.pt")
    assert stat.S_IMODE((tmp_path / "m.pt").stat().st_mode) == 0o644
    (tmp_path / "private.txt").write_text("old")
    os.chmod(tmp_path / "private.txt", 0o600)
    with atomic_open(tmp_path / "private.txt", "w") as f:  # rewriting keeps the file's mode
        f.write("new")
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600
    os.chmod(tmp_path / "new.txt", 0o640)  # a mode the umask default (0o644) is not
    with atomic_open(tmp_path / "new.txt", "w") as f:
        f.write("again")
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_unwritable_output_folder_is_refused_before_work(tmp_path, checkpoint, folder, cli,
                                                         monkeypatch):
    """Root may write anywhere, so the read-only folder is simulated at the permission check
    (os.access), the one the package consults."""
    import denoise_adv._io as io_module

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(io_module.os, "access",
                        lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    code, _, err = cli("attack", "--model", checkpoint, "--input", folder, "--out",
                       locked / "out", "--quiet")
    assert code == 2 and "no write permission on" in err and str(locked) in err
    assert not (locked / "out").exists()

