"""The contract's locality: receptive radius and alignment, declared and verified."""

import pytest
import torch
from torch import nn

from denoise_adv.models import DnCNN, FFDNet, NLMeans, as_denoiser, as_prior
from denoise_adv.models.contract import conv_radius, receptive_field


def _reach(model, x, at):
    """The farthest (Chebyshev) distance from pixel ``at`` at which a change there moves the
    output."""
    with torch.no_grad():
        before = model(x)
        x = x.clone()
        x[..., at[0], at[1]] += 0.05
        moved = (model(x) - before).abs().amax(dim=(0, 1)) > 0
    rows, cols = moved.nonzero(as_tuple=True)
    return max((rows - at[0]).abs().max().item(), (cols - at[1]).abs().max().item())


def test_dncnn_radius_is_its_depth_and_is_reached():
    torch.manual_seed(0)
    model = DnCNN(depth=6, features=8).eval()
    assert receptive_field(model) == (6, 1)
    assert _reach(model, torch.rand(1, 1, 40, 40), (20, 19)) == 6


@pytest.mark.parametrize("at", [(30, 30), (31, 31), (30, 31)])
def test_ffdnet_radius_is_twice_its_body_plus_one_at_either_parity(at):
    """The 2x2 block of an output pixel sees the blocks within ``depth`` of its own: pixels
    ``2 depth`` away on one side and ``2 depth + 1`` on the other, whichever the parity."""
    torch.manual_seed(0)
    model = FFDNet(depth=5, features=8).eval()
    model.sigma = 0.1
    assert receptive_field(model) == (11, 2)
    assert _reach(model, torch.rand(1, 1, 64, 64), at) == 11


def test_nlmeans_radius_is_search_plus_half_patch_and_bounds_its_reach():
    torch.manual_seed(0)
    x = 0.5 + 0.1 * torch.randn(1, 1, 40, 40)  # patch distances where the weights move
    for patch, distance in ((5, 6), (3, 2), (4, 3)):
        model = NLMeans(25 / 255, patch_size=patch, patch_distance=distance)
        assert receptive_field(model) == (distance + patch // 2, 1)
        assert _reach(model, x, (20, 20)) <= distance + patch // 2
    assert _reach(NLMeans(25 / 255), x, (20, 20)) == 8  # the default's bound is reached


def test_the_field_is_read_through_the_adapters():
    ffdnet = FFDNet(depth=15, features=4)
    assert receptive_field(as_denoiser(ffdnet, sigma=0.1)) == (31, 2)
    assert receptive_field(as_denoiser(ffdnet, sigma=torch.tensor(0.1))) == (31, 2)
    assert receptive_field(as_prior(DnCNN(depth=5, features=4))) == (5, 1)
    # one level per image: crops of a batch would take the wrong ones
    assert receptive_field(as_denoiser(ffdnet, sigma=torch.tensor([0.1, 0.2]))) is None
    assert receptive_field(nn.Sequential(DnCNN(depth=5, features=4))) is None
    assert receptive_field(nn.Identity()) is None


def test_declarations_are_checked():
    model = nn.Identity()
    model.receptive_radius = 2
    assert receptive_field(model) == (2, 1)
    model.alignment = 4
    assert receptive_field(model) == (2, 4)
    for name, value, error in (("receptive_radius", 1.5, TypeError),
                               ("receptive_radius", True, TypeError),
                               ("receptive_radius", -1, ValueError),
                               ("alignment", 0, ValueError)):
        bad = nn.Identity()
        bad.receptive_radius = 2
        setattr(bad, name, value)
        with pytest.raises(error, match=name):
            receptive_field(bad)


def test_conv_radius_declines_what_it_cannot_bound():
    assert conv_radius(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(2, 1, 3, padding=2, dilation=2))) == 3
    assert conv_radius(nn.Conv2d(1, 1, 3, padding=1, stride=2)) is None
    assert conv_radius(nn.Conv2d(1, 1, 3)) is None  # unpadded: the output shrinks
    assert conv_radius(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2))) is None
