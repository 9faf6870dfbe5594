import math

import numpy as np
import pytest
import torch
from scipy import stats

from denoise_adv.noise import gaussian_noise, mixed_noise, ts_gain, ts_noise
from denoise_adv.typical import ts_expected_shift


def _energy(n, sigma=1.0):
    return (n.double().flatten(1).pow(2).sum(1) / sigma**2).numpy()


def _ts_cdf(d, T):
    return lambda x: stats.chi2.cdf(x, d) ** (T + 1)


def test_gaussian_norm_is_chi2():
    g = torch.Generator().manual_seed(0)
    n = gaussian_noise((4000, 1, 5, 5), sigma=0.3, generator=g, dtype=torch.float64)
    assert stats.kstest(_energy(n, 0.3), stats.chi2(25).cdf).pvalue > 0.01


@pytest.mark.parametrize(("d", "T"), [(4, 3), (64, 10), (1600, 10)])
def test_exact_and_screening_agree_and_match_theory(d, T):
    g = torch.Generator().manual_seed(d + T)
    exact = _energy(ts_noise((3000, d), 1.0, T, "exact", generator=g, dtype=torch.float64))
    screen = _energy(ts_noise((3000, d), 1.0, T, "screening", generator=g, dtype=torch.float64))
    assert stats.ks_2samp(exact, screen).pvalue > 0.01
    assert stats.kstest(exact, _ts_cdf(d, T)).pvalue > 0.01
    assert stats.kstest(screen, _ts_cdf(d, T)).pvalue > 0.01


@pytest.mark.parametrize("d", [1000, 1600, 4096, 16384, 262144])
@pytest.mark.parametrize("T", [1, 10, 4406])
def test_ts_gain_table_agrees_with_direct_evaluation(d, T):
    rng = np.random.default_rng(d + T)
    sd = math.sqrt(0.5)  # the chi distribution's, nearly
    across_table = np.linspace(math.sqrt(d) - 8 * sd, math.sqrt(d) + 10 * sd, 5000)
    beyond = np.array([math.sqrt(d) - 9 * sd, math.sqrt(d) + 11 * sd])
    norms = np.concatenate([np.sqrt(rng.chisquare(d, 20000)), across_table, beyond])
    fast, direct = ts_gain(norms, d, T), ts_gain(norms, d, T, fast=False)
    np.testing.assert_allclose(fast, direct, rtol=2e-8)
    assert not np.array_equal(fast[:-2], direct[:-2])  # the table really ran
    assert np.array_equal(fast[-2:], direct[-2:])  # and beyond it the direct evaluation


@pytest.mark.parametrize(("d", "T"), [(4, 3), (64, 10), (1600, 0), (1600, 10), (1600, 4406)])
def test_ts_gain_matches_scipy_stats(d, T):
    """(k(r) r)^2 = F^-1(F(r^2)^(1/(T+1))), written independently with scipy.stats' chi2."""
    chi2 = stats.chi2(d)
    r = np.sqrt(chi2.ppf(np.linspace(0.001, 0.999, 999)))
    expected = np.sqrt(chi2.ppf(chi2.cdf(r**2) ** (1 / (T + 1)))) / r
    gain = ts_gain(r, d, T)
    np.testing.assert_allclose(gain, expected, rtol=1e-7)
    assert (gain >= 1 - 1e-12).all() and (np.diff(gain * r) > 0).all()  # stretches, keeps order
    if d < 1000:  # below the table's range, the direct evaluation itself
        assert np.array_equal(gain, ts_gain(r, d, T, fast=False))


def test_ts_gain_checks_its_arguments():
    with pytest.raises(ValueError, match="d must be >= 1"):
        ts_gain(np.ones(2), 0, 10)
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        ts_gain(np.ones(2), 1600, -1)
    with pytest.raises(TypeError, match="d must be an integer"):
        ts_gain(np.ones(2), 1600.0, 10)


def test_ts_gain_where_float64_runs_out():
    # a zero draw (0/0) and a draw thousands of sd out (q underflows): n = g, no inf or nan
    assert np.array_equal(ts_gain(np.array([0.0, 1e4]), 1600, 10), [1.0, 1.0])


def test_exact_sampler_stretches_the_gaussian_draw():
    """The exact sampler lengthens the Gaussian draw along its own direction, by ts_gain."""
    shape = (64, 1, 40, 40)
    gauss = gaussian_noise(shape, 1.0, generator=torch.Generator().manual_seed(0))
    ts = ts_noise(shape, 1.0, 10, generator=torch.Generator().manual_seed(0))
    gauss, ts = gauss.flatten(1).double(), ts.flatten(1).double()
    cosine = torch.nn.functional.cosine_similarity(ts, gauss)
    torch.testing.assert_close(cosine, torch.ones(64, dtype=torch.float64))
    norms = gauss.norm(dim=1).numpy()
    torch.testing.assert_close(ts.norm(dim=1).numpy() / norms, ts_gain(norms, 1600, 10),
                               rtol=3e-7, atol=0)


@pytest.mark.parametrize(("T", "wrong_T"), [(10, 7), (4406, 2000)])
def test_float32_ts_noise_matches_theory(T, wrong_T):
    """float32 noise takes the fast quantile path: its energies still follow chi2_d^(T+1), and
    the same test rejects a neighbouring T."""
    g = torch.Generator().manual_seed(T)
    n = ts_noise((3000, 1, 40, 40), 1.0, T, generator=g)
    assert n.dtype == torch.float32
    assert stats.kstest(_energy(n), _ts_cdf(1600, T)).pvalue > 0.01
    assert stats.kstest(_energy(n), _ts_cdf(1600, wrong_T)).pvalue < 1e-4


def test_the_distribution_test_can_fail():
    # The same KS test tells T = 10 from T = 6 (and from Gaussian noise) at this sample size.
    g = torch.Generator().manual_seed(0)
    exact = _energy(ts_noise((3000, 4), 1.0, 10, generator=g, dtype=torch.float64))
    assert stats.kstest(exact, _ts_cdf(4, 6)).pvalue < 1e-6
    assert stats.kstest(exact, stats.chi2(4).cdf).pvalue < 1e-6


def test_screening_is_the_literal_loop():
    shape, T = (5, 2, 3, 3), 4
    ours = ts_noise(shape, 0.1, T, "screening", generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    n = torch.randn(shape, generator=g)
    for _ in range(T):
        m = torch.randn(shape, generator=g)
        for b in range(shape[0]):  # per sample: keep m if log p(m) < log p(n)
            log_p_m = -0.5 * (0.1 * m[b]).pow(2).sum() / 0.1**2
            log_p_n = -0.5 * (0.1 * n[b]).pow(2).sum() / 0.1**2
            if log_p_m < log_p_n:
                n[b] = m[b]
    torch.testing.assert_close(ours, 0.1 * n)


def test_ts_directions_are_uniform():
    g = torch.Generator().manual_seed(1)
    n = ts_noise((20000, 1, 4, 4), 1.0, 50, generator=g, dtype=torch.float64)
    u = n.flatten(1) / n.flatten(1).norm(dim=1, keepdim=True)
    # uniform on the sphere: mean 0 (sd 1/sqrt(N d)), every coordinate variance 1/d
    assert u.mean(0).abs().max() < 5 / math.sqrt(20000 * 16)
    var = u.var(0)
    assert (var - 1 / 16).abs().max() < 0.005


@pytest.mark.parametrize("T", [0, 10, 1e3, 1e6])
def test_mean_shift_matches_expectation_even_for_huge_T(T):
    g = torch.Generator().manual_seed(2)
    n = ts_noise((4000, 1600), 25 / 255, T, generator=g, dtype=torch.float64)
    e = (n.pow(2).mean(1) / (25 / 255) ** 2 - 1) / 2
    sd = e.std().item() / math.sqrt(4000)
    assert abs(e.mean().item() - ts_expected_shift(1600, T)) < 4 * sd


def test_target_shift_instead_of_iterations():
    g = torch.Generator().manual_seed(4)
    n = ts_noise((3000, 1, 40, 40), 1.0, iterations=None, shift=0.067, generator=g,
                 dtype=torch.float64)
    e = (n.flatten(1).pow(2).mean(1) - 1) / 2
    assert abs(e.mean().item() - 0.067) < 4 * e.std().item() / math.sqrt(3000)


def test_per_sample_sigma():
    sigma = torch.tensor([0.0, 0.1, 0.5])
    for sampler in (lambda **k: gaussian_noise(**k), lambda **k: ts_noise(**k)):
        n = sampler(shape=(3, 1, 40, 40), sigma=sigma, generator=torch.Generator().manual_seed(0))
        rms = n.flatten(1).pow(2).mean(1).sqrt()
        assert rms[0] == 0 and abs(rms[1] - 0.1) < 0.01 and abs(rms[2] - 0.5) < 0.05


def test_mixed_noise_ratio_binomial():
    g = torch.Generator().manual_seed(0)
    n = mixed_noise((3000, 1000), sigmas=(0.1, 0.2), weights=(1, 2), generator=g)
    is_high = (n.pow(2).mean(1).sqrt() > 0.15).sum().item()
    assert stats.binomtest(is_high, 3000, 2 / 3).pvalue > 0.01
    g = torch.Generator().manual_seed(0)
    n = mixed_noise((3000, 1000), sigmas=(0.1, 0.2), generator=g)  # default 1:1
    assert stats.binomtest((n.pow(2).mean(1).sqrt() > 0.15).sum().item(), 3000, 0.5).pvalue > 0.01


def test_same_generator_seed_same_noise(device, dtype):
    kw = dict(shape=(3, 1, 8, 8), sigma=0.1, device=device, dtype=dtype)
    a = ts_noise(**kw, generator=torch.Generator().manual_seed(7))
    b = ts_noise(**kw, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.device.type == device.type and a.dtype == dtype
    torch.manual_seed(1)
    c = mixed_noise((3, 4), device=device, dtype=dtype)
    torch.manual_seed(1)
    assert torch.equal(c, mixed_noise((3, 4), device=device, dtype=dtype))


def test_bad_arguments():
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        gaussian_noise((2, 3), -0.1)
    with pytest.raises(ValueError, match="sigma must be a float or a tensor of shape"):
        ts_noise((2, 3), torch.ones(3))
    with pytest.raises(ValueError, match="shape must be"):
        ts_noise((4,), 0.1)
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        ts_noise((2, 3), 0.1, iterations=-1)
    with pytest.raises(ValueError, match="method must be one of"):
        ts_noise((2, 3), 0.1, method="fast")
    with pytest.raises(ValueError, match="whole number"):
        ts_noise((2, 3), 0.1, iterations=2.5, method="screening")
    with pytest.raises(ValueError, match="exactly one of iterations"):
        ts_noise((2, 3), 0.1, iterations=3, shift=0.1)
    with pytest.raises(ValueError, match="weights must have one entry per sigma"):
        mixed_noise((2, 3), (0.1, 0.2), weights=(1.0,))
    assert np.isfinite(ts_noise((2, 3), 0.1, iterations=2.5).numpy()).all()  # fractional: fine


# ------------------------------------------------------------ the one noise specification
def test_noise_spec_draws_exactly_what_the_samplers_draw():
    from denoise_adv.noise import NoiseSpec

    shape = (6, 1, 8, 8)
    for spec, expected in (
            (NoiseSpec(0.1, 7, p=1.0), lambda g: ts_noise(shape, 0.1, 7, generator=g)),
            (NoiseSpec.ts_def((0.05, 0.2), iterations=30),
             lambda g: ts_noise(shape, (0.05, 0.2), 30, generator=g, p=0.5)),
            (NoiseSpec(0.1, 3, method="screening"),
             lambda g: ts_noise(shape, 0.1, 3, "screening", generator=g)),
            (NoiseSpec.gaussian(torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])),
             lambda g: gaussian_noise(shape, torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]), g))):
        drawn = spec.sample(shape, torch.Generator().manual_seed(5))
        assert torch.equal(drawn, expected(torch.Generator().manual_seed(5))), spec


def test_noise_spec_owns_the_defaults_presets_and_one_check():
    from denoise_adv.noise import (
        DEFAULT_SIGMA,
        DEFAULT_TS_ITERATIONS,
        LEVEL,
        PRESETS,
        NoiseSpec,
    )

    spec = NoiseSpec()
    assert (spec.sigma, spec.iterations, spec.p, spec.method) == (25 / 255, 10.0, 1.0, "exact")
    assert DEFAULT_SIGMA == 25 / LEVEL == 25 / 255 and DEFAULT_TS_ITERATIONS == 10
    assert NoiseSpec.ts_def().p == 0.5 and NoiseSpec.ts_pres().p == pytest.approx(1 / 3)
    assert PRESETS == {"ts-def": 1 / 2, "ts-pres": 1 / 3}
    assert spec.replace(sigma=[0.0, 0.2]).sigma == (0.0, 0.2)  # a range, checked into a tuple
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        spec.replace(sigma=-0.1)
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        NoiseSpec(p=1.5)
    with pytest.raises(ValueError, match="whole number for method='screening'"):
        NoiseSpec(iterations=2.5, method="screening")
    with pytest.raises(ValueError, match="method must be one of"):
        NoiseSpec(method="fast")
    with pytest.raises(ValueError, match="name must be one of"):
        NoiseSpec.preset("ts-max")
    with pytest.raises(AttributeError):
        spec.p = 0.5  # frozen: a changed spec is a new (checked) spec


def test_level_column_is_the_one_shape_rule():
    from denoise_adv.noise import level_column

    assert level_column(0.1, 3, 4) == 0.1
    for sigma in (torch.tensor(0.1), torch.tensor([0.1]), torch.tensor([0.1, 0.2, 0.3]),
                  torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1, 1)):
        column = level_column(sigma, 3, 4, dtype=torch.float64)
        assert column.shape == (3, 1, 1, 1) and column.dtype == torch.float64
    assert level_column(torch.tensor([0.1, 0.2, 0.3]), 3, 2).flatten().tolist() == pytest.approx(
        [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"one level per sample \(3\)"):
        level_column(torch.tensor([0.1, 0.2]), 3, 4)
    # deepinv's (B, 1, 1, 1) level draws what the (B,) level draws
    shape, levels = (3, 1, 4, 4), torch.tensor([0.1, 0.2, 0.3])
    column = gaussian_noise(shape, levels.view(3, 1, 1, 1), torch.Generator().manual_seed(0))
    assert torch.equal(column, gaussian_noise(shape, levels, torch.Generator().manual_seed(0)))


def test_the_mixed_presets_have_one_owner():
    from denoise_adv.analysis import nll_samples
    from denoise_adv.noise import DEFAULT_MIXED_SIGMAS, DEFAULT_SIGMA, MIXED_PRESETS, mixed_sigmas
    from denoise_adv.training.strategies import STRATEGIES, strategy_noise

    assert set(MIXED_PRESETS) <= set(STRATEGIES)
    # the paper's levels, exactly as the literals they replace
    assert mixed_sigmas("mixed-25.5") == (25 / 255, 25.5 / 255)
    assert mixed_sigmas("mixed-26") == DEFAULT_MIXED_SIGMAS == (DEFAULT_SIGMA, 26 / 255)
    for name in MIXED_PRESETS:
        for sigma in (DEFAULT_SIGMA, 15 / 255):
            assert strategy_noise(name, sigma).sigmas == mixed_sigmas(name, sigma)
    with pytest.raises(ValueError, match="mixed-26"):
        mixed_sigmas("mixed-27")
    # nll_samples draws the presets' levels by default: the same draws as the old literals
    args = ((64, 1, 4, 4), DEFAULT_SIGMA, 2 / 255, 8 / 255, (10,))
    default = nll_samples(*args, generator=torch.Generator().manual_seed(0))
    literal = nll_samples(*args, mixed=(25.5 / 255, 26 / 255),
                          generator=torch.Generator().manual_seed(0))
    assert list(default) == list(literal)
    assert all(torch.equal(default[k], literal[k]) for k in default)
    at_15 = nll_samples((8, 1, 4, 4), 15 / 255, 0.0, 0.0, (), generator=torch.Generator())
    assert [k for k in at_15 if k.startswith("mixed")] == ["mixed 15/15.5", "mixed 15/16"]
