"""Behaviour every attack shares (it lives in DenoiseAttack)."""


import pytest
import torch
from torchattacks.attack import Attack

from denoise_adv import (
    DenoiseAPGD,
    DenoiseAttack,
    DenoiseBIM,
    DenoiseFGSM,
    DenoisePGD,
    DenoisePGDL2,
    DenoiseSquare,
    ObsAtk,
    WorstCase,
)
from denoise_adv.attacks import load_adversarial_set
from denoise_adv.metrics import psnr
from denoise_adv.models import DnCNN

ALL = [DenoisePGD, DenoisePGDL2, DenoiseFGSM, DenoiseBIM, ObsAtk]
WITH_STEPS = [DenoisePGD, DenoisePGDL2, DenoiseBIM, ObsAtk]


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DnCNN(depth=3, features=4)


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 8, 8, generator=g)
    return clean + 0.1 * torch.randn(clean.shape, generator=g), clean


@pytest.mark.parametrize("cls", ALL)
def test_is_a_torchattacks_attack(cls, model):
    atk = cls(model)
    assert isinstance(atk, Attack) and isinstance(atk, DenoiseAttack)
    assert cls.__name__ in repr(atk) and "eps=" in repr(atk)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize(
    ("make_noisy", "make_clean", "error", "match"),
    [
        (lambda n: n.clone().index_fill_(3, torch.tensor([0]), float("nan")), None, ValueError,
         "noisy contains NaN"),
        (lambda n: n.clone().index_fill_(3, torch.tensor([0]), float("inf")), None, ValueError,
         "noisy contains NaN or Inf"),
        (lambda n: n[0], None, ValueError, r"noisy must have shape \(B, C, H, W\)"),
        (lambda n: n.numpy(), None, TypeError, "noisy must be a torch.Tensor"),
        (lambda n: (n * 255).to(torch.uint8), None, TypeError, "floating-point"),
        (None, lambda c: c[:, :, :4], ValueError, "clean must have the same shape as noisy"),
        (None, lambda c: c.clone().fill_(float("nan")), ValueError, "clean contains NaN"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(cls, model, pair, make_noisy, make_clean, error,
                                              match):
    noisy, clean = pair
    if make_noisy is not None:
        noisy = make_noisy(noisy)
    if make_clean is not None:
        clean = make_clean(clean)
    with pytest.raises(error, match=match):
        cls(model)(noisy, clean)


@pytest.mark.parametrize("cls", ALL)
def test_bad_constructor_arguments(cls, model):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        cls(lambda x: x)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        cls(model, eps=-0.1)
    with pytest.raises(TypeError, match="clip must be None or a"):
        cls(model, clip=1.0)
    with pytest.raises(ValueError, match="clip must satisfy low < high"):
        cls(model, clip=(1.0, 0.0))


@pytest.mark.parametrize("cls", WITH_STEPS)
def test_bad_step_arguments(cls, model):
    with pytest.raises(ValueError, match="alpha must be > 0"):
        cls(model, alpha=0.0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        cls(model, steps=0)
    with pytest.raises(TypeError, match="steps must be an integer"):
        cls(model, steps=2.5)
    with pytest.raises(ValueError, match="eps must be finite"):
        cls(model, eps=float("nan"))


@pytest.mark.parametrize("cls", ALL)
def test_model_mode_restored_per_module(cls, model, pair):
    model.train()
    model.net[1].eval()  # a mixed state must come back exactly
    modes = [m.training for m in model.modules()]
    cls(model)(*pair)
    assert [m.training for m in model.modules()] == modes


def test_model_mode_restored_when_attack_raises(model, pair):
    model.train()

    def broken_loss(output, target):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        DenoisePGD(model, loss=broken_loss)(*pair)
    assert all(m.training for m in model.modules())


def test_batchnorm_statistics_untouched(model, pair):
    model.train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    DenoisePGD(model)(*pair)
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items())


def test_custom_per_sample_loss(model, pair):
    def l1_per_sample(output, target):
        return (output - target).abs().flatten(1).mean(1)

    adv = DenoisePGD(model, loss=l1_per_sample, random_start=False)(*pair)
    assert (adv - pair[0]).abs().max() > 0


def test_classification_only_mode_raises(model):
    with pytest.raises(ValueError, match="classification-only"):
        DenoisePGD(model).set_mode_targeted_least_likely()


def test_targeted_by_function(model, pair):
    noisy, clean = pair
    atk = DenoisePGD(model, eps=4 / 255, alpha=1 / 255, steps=5)
    atk.set_mode_targeted_by_function(lambda inputs, labels: torch.zeros_like(inputs), quiet=True)
    adv = atk(noisy, clean)
    with torch.no_grad():
        assert model(adv).pow(2).mean() < model(noisy).pow(2).mean()


def test_params_are_plain_values(model):
    params = DenoisePGDL2(model, eps=0.5, alpha=0.1, steps=3, clip=(0, 1), per_pixel=True).params
    assert params == {"attack": "DenoisePGDL2", "mode": "default", "eps": 0.5, "alpha": 0.1,
                      "steps": 3, "random_start": True, "clip": [0.0, 1.0], "per_pixel": True,
                      "amp": None}


def test_save_and_load_round_trip_bit_for_bit(model, pair, tmp_path, capsys):
    noisy, clean = pair
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(noisy, clean),
                                         batch_size=1)
    atk = DenoisePGD(model, steps=2, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "adv.pt"
    psnr_adv, l2, seconds = atk.save(loader, path, return_verbose=True, save_predictions=True,
                                     save_clean_inputs=True, progress=False, meta={"seed": 0})
    assert "PSNR on adversarial inputs" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["adv.pt"]  # no temp file left behind
    saved = load_adversarial_set(path)
    expected = DenoisePGD(model, steps=2, generator=torch.Generator().manual_seed(0))
    again = torch.cat([expected(n[None], c[None]) for n, c in zip(noisy, clean)])
    assert torch.equal(saved["adv_inputs"], again)
    assert torch.equal(saved["labels"], clean) and torch.equal(saved["clean_inputs"], noisy)
    with torch.no_grad():
        model.eval()
        assert torch.equal(saved["preds"], torch.cat([model(a[None]) for a in again]))
    assert saved["meta"]["eps"] == atk.eps and saved["meta"]["seed"] == 0
    assert saved["meta"]["model"] == "DnCNN"
    # the verbose numbers, recomputed independently from the saved images
    assert l2 == pytest.approx((again - noisy).flatten(1).norm(dim=1).mean().item(), rel=1e-6)
    assert psnr_adv == pytest.approx(psnr(saved["preds"].clamp(0, 1), clean).mean().item(),
                                     rel=1e-6)
    assert 0 <= seconds < 60
    (adv_batch, clean_batch, preds), = list(DenoisePGD.load(path, batch_size=2,
                                                            load_predictions=True))
    assert torch.equal(adv_batch, again) and torch.equal(preds, saved["preds"])


def test_save_refuses_8bit(model, pair):
    with pytest.raises(ValueError, match="save_type must be 'float'"):
        DenoisePGD(model).save([pair], save_type="int")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="adversarial set not found"):
        DenoisePGD.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read adversarial set"):
        load_adversarial_set(bad)
    torch.save({"x": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not an adversarial set"):
        load_adversarial_set(tmp_path / "other.pt")
    path = tmp_path / "noext.pt"
    DenoisePGD(DnCNN(depth=3, features=4)).save([(torch.rand(1, 1, 4, 4),) * 2], path,
                                                 verbose=False, progress=False)
    with pytest.raises(ValueError, match="has no 'preds'"):
        DenoisePGD.load(path, load_predictions=True)
    (adv, clean), = list(DenoisePGD.load(path))  # the file itself is a readable set
    assert adv.shape == clean.shape == (1, 1, 4, 4) and (adv - clean).abs().max() > 0


def test_parameterless_model_uses_input_device_quietly(linear_denoiser, pair, capsys):
    atk = DenoisePGD(linear_denoiser(0.5))
    assert capsys.readouterr().out == ""
    assert atk(*pair).device == pair[0].device


# ---------------------------------------------------------------- plug paths (issues 24, 25)
GRADIENT_ATTACKS = [
    lambda m: DenoisePGD(m, steps=2, generator=torch.Generator().manual_seed(0)),
    lambda m: DenoisePGDL2(m, eps=0.1, alpha=0.05, steps=2,
                           generator=torch.Generator().manual_seed(0)),
    lambda m: DenoiseFGSM(m),
    lambda m: DenoiseAPGD(m, steps=2, seed=0),
    lambda m: WorstCase([DenoisePGD(m, steps=2, generator=torch.Generator().manual_seed(0))]),
]
IDS = ["pgd", "pgdl2", "fgsm", "apgd", "worstcase"]


@pytest.mark.parametrize("make", GRADIENT_ATTACKS, ids=IDS)
@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_attacks_work_inside_no_grad_and_inference_mode(model, pair, make, context):
    """Evaluation loops run under torch.no_grad(): the attack turns gradients on for its own
    work and gives exactly what it gives outside."""
    model.eval()
    expected = make(model)(*pair)
    with context():
        adv = make(model)(*pair)
    assert torch.equal(adv, expected) and (adv - pair[0]).abs().max() > 0
    assert not adv.requires_grad


class _NoGradInside(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        with torch.no_grad():
            return self.inner(x)


class _DetachesInput(_NoGradInside):
    def forward(self, x):
        return self.inner(x.detach())  # parameters still require grad: the output does too


@pytest.mark.parametrize("wrapper", [_NoGradInside, _DetachesInput])
@pytest.mark.parametrize("make", GRADIENT_ATTACKS, ids=IDS)
def test_model_without_gradient_gets_one_clear_error(model, pair, wrapper, make):
    with pytest.raises(ValueError, match=r"the model's output does (not require grad|not depend "
                       r"on its input).*DenoiseSquare.*transfer"):
        make(wrapper(model.eval()))(*pair)


def test_non_differentiable_flag_points_to_square_and_square_runs(model, pair):
    model.eval()
    model.differentiable = False  # as BM3D and NL-means declare
    with pytest.raises(ValueError, match="not differentiable.*DenoiseSquare.*transfer"):
        DenoisePGD(model)(*pair)
    adv = DenoiseSquare(_NoGradInside(model), n_queries=5, seed=0)(*pair)
    assert (adv - pair[0]).abs().max() > 0


class _NaNAt(torch.nn.Module):
    """Finite output near the input; NaN (or Inf) once the input moved by more than
    ``threshold`` anywhere (a model that breaks on the attack's path, not on the input)."""

    def __init__(self, inner, origin, threshold, value=float("nan")):
        super().__init__()
        self.inner, self.origin, self.threshold, self.value = inner, origin, threshold, value

    def forward(self, x):
        out = self.inner(x)
        far = (x - self.origin).abs().amax() > self.threshold
        return torch.where(far, torch.full_like(out, self.value), out)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("make", GRADIENT_ATTACKS + [
    lambda m: DenoiseSquare(m, n_queries=5, seed=0)], ids=IDS + ["square"])
def test_nan_or_inf_output_raises_instead_of_an_adversarial_result(model, pair, make, value):
    noisy, clean = pair
    broken = _NaNAt(model.eval(), noisy, threshold=-1.0, value=value)  # broken everywhere
    with pytest.raises(FloatingPointError, match="output contains NaN or Inf"):
        make(broken)(noisy, clean)
    attack = make(broken)
    if attack.random_start:  # the reference f(noisy) itself
        with pytest.raises(FloatingPointError, match="output contains NaN or Inf"):
            attack(noisy)


def test_nan_on_the_attack_path_names_the_step(model, pair):
    noisy, clean = pair
    broken = _NaNAt(model.eval(), noisy, threshold=1.5 / 255)  # fine at the start (1/255)
    atk = DenoisePGD(broken, eps=4 / 255, alpha=1 / 255, steps=5, random_start=False)
    with pytest.raises(FloatingPointError, match="attack step 2"):
        atk(noisy, clean)
