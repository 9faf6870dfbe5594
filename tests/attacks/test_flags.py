"""Boolean options refuse what is not a bool (issue 31, item 4): ``per_pixel='no'`` used to
become True and multiply the L2 budget by sqrt(C*H*W)."""

import numpy as np
import pytest
import torch

from denoise_adv import (
    DenoiseAPGD,
    DenoiseFGSM,
    DenoisePGD,
    DenoisePGDL2,
    DenoiseSquare,
    ObsAtk,
)
from denoise_adv._checks import check_flag
from denoise_adv.attacks import AttackSpec, load_adversarial_set, save_adversarial_set
from denoise_adv.models import DnCNN

#: Every boolean constructor option of every attack.
FLAGS = [(DenoisePGD, "random_start"), (DenoisePGDL2, "random_start"),
         (DenoisePGDL2, "per_pixel"), (ObsAtk, "random_start"), (ObsAtk, "per_pixel"),
         (DenoiseAPGD, "per_pixel"), (DenoiseSquare, "per_pixel")]
NOT_BOOLS = ["no", "False", "", 0, 1, 1.0, None, [True], torch.tensor(True)]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnCNN(depth=3, features=4)


@pytest.mark.parametrize(("cls", "name"), FLAGS)
@pytest.mark.parametrize("value", NOT_BOOLS, ids=repr)
def test_constructor_flags_refuse_non_bools(model, cls, name, value):
    with pytest.raises(TypeError, match=f"{name} must be a bool"):
        cls(model, **{name: value})


@pytest.mark.parametrize(("cls", "name"), FLAGS)
@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)], ids=repr)
def test_constructor_flags_take_python_and_numpy_bools_as_python_bools(model, cls, name, value):
    atk = cls(model, **{name: value})
    assert type(getattr(atk, name)) is bool and getattr(atk, name) == bool(value)


def test_per_pixel_string_no_longer_multiplies_the_l2_budget(model):
    """The issue's probe: 'no' on a 16x16 image made the radius 16 times eps."""
    for cls in (DenoisePGDL2, DenoiseAPGD, DenoiseSquare):
        kwargs = {"norm": "L2"} if cls is not DenoisePGDL2 else {}
        with pytest.raises(TypeError, match="per_pixel must be a bool .* got str 'no'"):
            cls(model, eps=0.1, per_pixel="no", **kwargs)


def test_check_flag_is_the_one_check():
    assert check_flag(True, "x") is True and check_flag(np.bool_(False), "x") is False
    for value in NOT_BOOLS:
        with pytest.raises(TypeError, match="flag must be a bool"):
            check_flag(value, "flag")


@pytest.mark.parametrize("method", ["set_mode_targeted_random", "set_mode_targeted_by_label"])
def test_mode_quiet_flag(model, method, capsys):
    atk = DenoisePGD(model)
    if method == "set_mode_targeted_random":
        with pytest.raises(TypeError, match="quiet must be a bool"):
            atk.set_mode_targeted_random(quiet="yes")
    getattr(atk, method)(quiet=True)
    assert capsys.readouterr().out == ""


def test_save_and_load_flags(model, tmp_path):
    atk = DenoiseFGSM(model)
    pairs = [(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))]
    for name in ("verbose", "return_verbose", "save_predictions", "save_clean_inputs",
                 "progress"):
        with pytest.raises(TypeError, match=f"{name} must be a bool"):
            atk.save(pairs, **{name: "no"})
    atk.save(pairs, tmp_path / "set.pt", verbose=False, progress=False)
    for name in ("shuffle", "load_predictions", "load_clean_inputs"):
        with pytest.raises(TypeError, match=f"{name} must be a bool"):
            DenoiseFGSM.load(tmp_path / "set.pt", **{name: "False"})
    assert len(DenoiseFGSM.load(tmp_path / "set.pt", shuffle=np.bool_(False))) == 1


def test_attack_spec_random_start(model):
    with pytest.raises(TypeError, match="random_start must be a bool"):
        AttackSpec(random_start="no")


def test_a_saved_set_whose_per_pixel_is_not_a_bool_is_refused(tmp_path):
    """A set recording per_pixel "no" would be checked against a radius sqrt(d) times too
    large: refused as a lying file."""
    clean = torch.rand(1, 1, 8, 8)
    adv = clean + 0.5 * torch.randn_like(clean)  # far outside an absolute radius of 0.1
    meta = {"attack": "DenoisePGDL2", "eps": 0.1, "per_pixel": "no"}
    path = save_adversarial_set(tmp_path / "set.pt", adv, clean, meta, clean_inputs=clean)
    with pytest.raises(ValueError, match="meta per_pixel must be true or false, got 'no'"):
        load_adversarial_set(path)
    meta["per_pixel"] = False
    path = save_adversarial_set(tmp_path / "set.pt", adv, clean, meta, clean_inputs=clean)
    with pytest.raises(ValueError, match="exceeds the budget"):
        load_adversarial_set(path)
