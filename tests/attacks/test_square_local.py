"""DenoiseSquare's local queries: a model that declares its receptive field is re-run on the
crop around each query's squares, and the search is the one whole forwards give.

Exactness: a crop's output equals the whole image's in the region the squares reach up to
the crop's rounding (convolutions sum in another order on another size: ~1e-7 for the zoo's
DnCNN, often 0). The loss is taken on the whole spliced output, as a whole forward's is, so
the two searches take the same decisions except at a *near-tie*: a proposal that changes the
loss by no more than its float32 rounding (a few ulps), where the whole search itself decides
on rounding (its own loss change is then often exactly 0.0). There the searches may part;
what is tested is that they agree bit for bit up to the first decision that differs, and that
such a decision is a near-tie. Most configurations below never meet one and end bit-identical.
"""

import warnings

import pytest
import torch
from torch import nn

from denoise_adv import DenoiseSquare
from denoise_adv.attacks._local import plan_crops
from denoise_adv.models import DnCNN, FFDNet, NLMeans, as_denoiser, pretrained

SIGMA = 25 / 255


def _pair(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g).clamp(0.2, 0.8)
    return clean + SIGMA * torch.randn(shape, generator=g), clean


def _model(name, channels):
    torch.manual_seed(0)
    if name == "dncnn":
        return DnCNN(channels=channels, depth=3, features=8).eval()
    if name == "nlmeans":
        return NLMeans(SIGMA, channels=channels)
    model = FFDNet(channels=channels, depth=3, features=8, bias=False, noise_map="first",
                   map_channels=channels, residual=True, padding="reflect").eval()
    return as_denoiser(model, SIGMA)  # the IPOL layout, through the adapter


def _recorded(atk):
    """Wrap ``atk._score`` to keep every query's per-image objective."""
    scores, score = [], atk._score

    def spy(output, reference, sign, query):
        value = score(output, reference, sign, query)
        scores.append((query, value.clone()))
        return value

    atk._score = spy
    return scores


def _first_difference(whole, local):
    """``None`` if both searches took the same decisions, else ``(gap_whole, gap_local, best)``
    at the first decision that differs (the candidate's objective minus the best's)."""
    best_w = best_l = None
    for (query, w), (_, loc) in zip(whole, local):
        if query == 0:
            best_w, best_l = w, loc
            continue
        take_w, take_l = w > best_w, loc > best_l
        if not torch.equal(take_w, take_l):
            i = int((take_w != take_l).nonzero()[0])
            return (w - best_w)[i].item(), (loc - best_l)[i].item(), best_w[i].item()
        best_w, best_l = torch.where(take_w, w, best_w), torch.where(take_l, loc, best_l)
    return None


def _compare(model, noisy, clean, **kwargs):
    """Run the search whole and local; check they agree (see the module docstring); return
    (whole result, local result, shapes the local run's forwards took)."""
    whole_atk = DenoiseSquare(model, local=False, **kwargs)
    local_atk = DenoiseSquare(model, **kwargs)
    whole_scores, local_scores = _recorded(whole_atk), _recorded(local_atk)
    whole = whole_atk(noisy, clean)
    shapes = []
    hook = model.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no locality warning on a truthful model
        local = local_atk(noisy, clean)
    hook.remove()
    assert len(whole_scores) == len(local_scores)
    parted = _first_difference(whole_scores, local_scores)
    if parted is None:
        assert torch.equal(whole, local)
    else:  # a near-tie: both gaps within a few ulps of the loss
        ulp = torch.finfo(torch.float32).eps * abs(parted[2])
        assert abs(parted[0]) <= 8 * ulp and abs(parted[1]) <= 8 * ulp, parted
    torch.testing.assert_close(local_atk.last_losses, whole_atk.last_losses, rtol=1e-5,
                               atol=1e-8)
    return whole, local, shapes


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ["dncnn", "ffdnet", "nlmeans"])
def test_local_search_is_the_whole_search(name, channels, norm):
    """Odd sizes, a batch of two (each image its own squares), two restarts: the small late
    squares are run on crops, many of them at the image's borders."""
    size = (61, 47)
    noisy, clean = _pair((2, channels, *size))
    eps = 2 / 255 if norm == "Linf" else 0.5
    whole, local, shapes = _compare(_model(name, channels), noisy, clean, norm=norm, eps=eps,
                                    n_queries=100, n_restarts=2, seed=0)
    crops = [s for s in shapes if s[-2:] != size]
    assert len(crops) > 60  # most late queries ran on crops
    assert any(s[-2] < size[0] and s[-1] < size[1] for s in crops)  # crops inside the image


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size"), [("dncnn-s25-normal", (83, 67)),
                                            ("ffdnet-ipol-gray", (201, 177))])
@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_published_models_give_the_same_perturbation(name, size, norm):
    """The zoo's DnCNN (radius 10) and the published FFDNet (radius 31, crops on even rows and
    columns) at odd sizes, small squares from the start (``p_init``) so that the queries run
    on crops (L-inf: all but the first; L2: where its two crops cover less than half the
    image): the same perturbation, bit for bit."""
    model = pretrained(name).eval()
    noisy, clean = _pair((1, 1, *size))
    whole, local, shapes = _compare(model, noisy, clean, norm=norm,
                                    eps=2 / 255 if norm == "Linf" else 0.5, n_queries=30,
                                    p_init=0.002, seed=1)
    assert torch.equal(whole, local)
    assert sum(s[-2:] != size for s in shapes) >= 10  # L2: two crops, often too large


def test_clip_and_targeted_and_batches_of_colour():
    model = _model("dncnn", 3)
    noisy, clean = _pair((3, 3, 40, 36), seed=2)
    _compare(model, noisy, clean, n_queries=120, seed=3, clip=(0.0, 1.0))
    whole_atk = DenoiseSquare(model, n_queries=80, seed=0, local=False)
    local_atk = DenoiseSquare(model, n_queries=80, seed=0)
    for atk in (whole_atk, local_atk):
        atk.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(whole_atk(noisy, clean), local_atk(noisy, clean))


class _Liar(DnCNN):
    """A DnCNN of depth 4 (radius 4) that declares radius 2."""

    receptive_radius = 2


class _Global(nn.Module):
    """Subtracts the image's mean: not local at all, whatever it declares."""

    receptive_radius = 1

    def forward(self, x):
        return x - 0.1 * x.mean(dim=(1, 2, 3), keepdim=True)


@pytest.mark.parametrize("amp", [None, "bf16"])
def test_a_radius_declared_too_small_is_caught_and_the_model_run_whole(amp):
    torch.manual_seed(0)
    model = _Liar(depth=4, features=8).eval()
    noisy, clean = _pair((2, 1, 48, 40))
    kwargs = {"n_queries": 60, "seed": 0, "amp": amp}
    with pytest.warns(UserWarning, match="declares a receptive radius of 2"):
        caught = DenoiseSquare(model, **kwargs)(noisy, clean)
    assert torch.equal(caught, DenoiseSquare(model, local=False, **kwargs)(noisy, clean))


def test_a_global_model_is_caught_and_a_truthful_one_is_not_under_bf16():
    noisy, clean = _pair((1, 1, 48, 40))
    with pytest.warns(UserWarning, match="not local"):
        DenoiseSquare(_Global(), n_queries=60, seed=0)(noisy, clean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DenoiseSquare(_model("dncnn", 1), n_queries=60, seed=0, amp="bf16")(noisy, clean)


def test_ffdnet_crops_must_be_aligned():
    """FFDNet's 2x2 pixel unshuffle: declared with alignment 1, crops starting on odd rows see
    another grid, and the check catches it."""
    torch.manual_seed(0)
    model = FFDNet(depth=3, features=8).eval()
    model.sigma = SIGMA
    model.alignment = 1
    noisy, clean = _pair((1, 1, 61, 47))
    with pytest.warns(UserWarning, match="alignment 1"):
        DenoiseSquare(model, n_queries=100, seed=0)(noisy, clean)


def test_models_without_a_field_randomized_or_training_run_whole():
    noisy, clean = _pair((1, 1, 40, 40))
    dncnn = _model("dncnn", 1)
    atk = DenoiseSquare(dncnn, n_queries=5, seed=0)
    assert atk._field() == (3, 1)
    assert DenoiseSquare(dncnn, local=False)._field() is None
    assert DenoiseSquare(nn.Identity())._field() is None
    per_image = as_denoiser(FFDNet(depth=2, features=4), sigma=torch.tensor([0.1, 0.2]))
    assert DenoiseSquare(per_image)._field() is None  # crops of a batch would take wrong levels
    randomized = _model("dncnn", 1)
    randomized.randomized = True
    assert DenoiseSquare(randomized)._field() is None
    training = _model("dncnn", 1).train()  # BatchNorm's batch statistics are not local
    assert DenoiseSquare(training)._field() is None
    with pytest.raises(TypeError, match="local"):
        DenoiseSquare(dncnn, local="yes")


def test_plan_crops_geometry():
    # inside: the square grown by 2 r (crop) and by r (region), ends moved out to alignment
    assert plan_crops([(11, 20)], 5, (100, 90), 4, alignment=2) == [
        ((2, 24, 12, 34), (7, 20, 16, 29))]
    # at the borders: clipped (an odd end stays at the image's end)
    assert plan_crops([(0, 84)], 5, (99, 89), 4, alignment=2) == [
        ((0, 14, 76, 89), (0, 9, 80, 89))]
    # two squares far apart: two crops; close: their hull
    assert len(plan_crops([(0, 0), (80, 70)], 5, (100, 90), 4)) == 2
    assert plan_crops([(10, 10), (12, 14)], 5, (100, 90), 4) == [
        ((2, 25, 2, 27), (6, 21, 6, 23))]
