"""The denoiser contract: one module reads what a model can do."""

import warnings

import pytest
import torch
from torch import nn

from denoise_adv.models import (
    NLMeans,
    as_denoiser,
    as_prior,
    build,
    channels_of,
    default_level,
    fixed_level,
    is_differentiable,
    is_randomized,
    takes_sigma,
)
from denoise_adv.models.contract import Denoiser, NoiseLevelDenoiser, warn_fixed_level

TINY = {"depth": 2, "features": 4}


def test_each_capability_is_read_from_the_declared_attributes():
    dncnn, ffdnet = build("dncnn", channels=3, **TINY), build("ffdnet", **TINY)
    foreign = nn.Identity()
    assert [takes_sigma(m) for m in (dncnn, ffdnet, foreign)] == [False, True, False]
    assert [fixed_level(m) for m in (dncnn, ffdnet, foreign)] == [True, False, False]
    assert [channels_of(m) for m in (dncnn, ffdnet, foreign)] == [3, 1, None]
    assert channels_of(foreign, 1) == 1
    nlmeans = NLMeans(0.1)
    assert not is_differentiable(nlmeans) and not is_differentiable(nn.Sequential(nlmeans))
    assert is_differentiable(dncnn) and default_level(nlmeans) == 0.1
    assert default_level(dncnn) is None and default_level(ffdnet) is None
    assert isinstance(dncnn, Denoiser) and isinstance(ffdnet, NoiseLevelDenoiser)
    noisy = nn.Identity()
    noisy.randomized = True  # an instance may declare it too
    assert is_randomized(nn.Sequential(nn.Identity(), noisy)) and not is_randomized(dncnn)
    # the old import path of the readers still works
    from denoise_adv.models.adapters import is_differentiable as old

    assert old is is_differentiable


def test_the_adapters_go_both_ways_on_the_contract():
    dncnn, ffdnet = build("dncnn", **TINY).eval(), build("ffdnet", **TINY).eval()
    y = torch.rand(2, 1, 8, 8)
    assert as_denoiser(dncnn, sigma=0.3) is dncnn  # fixed level: the level is its weights'
    torch.testing.assert_close(as_denoiser(ffdnet, sigma=0.1)(y), ffdnet(y, 0.1))
    torch.testing.assert_close(as_prior(ffdnet)(y, 0.2), ffdnet(y, 0.2))
    with pytest.raises(ValueError, match="FFDNet takes a noise level: give sigma"):
        as_denoiser(ffdnet)
    ffdnet.sigma = 0.1  # a default level of its own (the published models')
    assert as_denoiser(ffdnet) is ffdnet


def test_a_fixed_level_prior_warns_once_and_a_matching_level_never():
    nlmeans = NLMeans(25 / 255)
    assert not warn_fixed_level(nlmeans, 25 / 255)
    assert not warn_fixed_level(nlmeans, torch.full((2, 1, 1, 1), 25 / 255))
    prior = as_prior(build("dncnn", **TINY))  # its level is not recorded: any level is news
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prior(torch.rand(1, 1, 8, 8), 0.1)
        prior(torch.rand(1, 1, 8, 8), 0.2)
    assert len(caught) == 1 and "not recorded on the model" in str(caught[0].message)
    assert "as_prior" in str(caught[0].message)
