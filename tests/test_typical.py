"""Each reconstructed result of section 3.4 checked by simulation."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from denoise_adv import typical as ty

SIGMA = 25 / 255


def _gauss(batch, d, seed=0, sigma=SIGMA):
    return sigma * torch.randn(batch, d, generator=torch.Generator().manual_seed(seed),
                               dtype=torch.float64)


def test_log_density_and_entropy_match_scipy():
    n = _gauss(5, 7)
    expected = stats.multivariate_normal(np.zeros(7), SIGMA**2 * np.eye(7)).logpdf(n.numpy())
    np.testing.assert_allclose(ty.log_density(n, SIGMA).numpy(), expected, rtol=1e-12)
    assert ty.entropy(SIGMA) == pytest.approx(stats.norm(scale=SIGMA).entropy())
    # e(n) = -(1/d) log p(n) - h, the definition
    np.testing.assert_allclose(ty.aep_deviation(n, SIGMA).numpy(),
                               -expected / 7 - ty.entropy(SIGMA), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("d", "eps"), [(100, 0.1), (1600, 0.02), (1600, 0.05)])
def test_typical_set_probability_by_monte_carlo(d, eps):
    n = _gauss(20000, d, seed=d)
    inside = ty.in_typical_set(n, SIGMA, eps)
    exact, chebyshev = ty.typical_set_probability(d, eps)
    assert stats.binomtest(int(inside.sum()), 20000, exact).pvalue > 0.01
    assert exact >= chebyshev
    # Theorem 3.6: membership <=> norm inside the bounds
    low, high = ty.norm_bounds(d, SIGMA, eps)
    norms = n.norm(dim=1)
    assert torch.equal(inside, (norms >= low) & (norms <= high))


def _inside(n, eps):
    return n[ty.in_typical_set(n, SIGMA, eps)]


def test_l2_perturbed_samples_stay_in_the_larger_set_and_bound_is_tight():
    d, eps, eta = 400, 0.05, 0.4
    n = _inside(_gauss(20000, d, 1), eps)
    bound = ty.perturbed_eps_l2(d, SIGMA, eps, eta)
    rand = torch.randn_like(n)
    rand = eta * rand / rand.norm(dim=1, keepdim=True)
    parallel = eta * n / n.norm(dim=1, keepdim=True)
    for delta in (rand, parallel, -parallel):
        assert (ty.aep_deviation(n + delta, SIGMA).abs() <= bound + 1e-12).all()
    # Lemma 3.8: at the edge of A_eps, the parallel perturbation reaches the bound exactly
    edge = torch.full((1, d), ty.norm_bounds(d, SIGMA, eps)[1] / math.sqrt(d), dtype=torch.float64)
    reached = ty.aep_deviation(edge + eta * edge / edge.norm(), SIGMA).item()
    assert reached == pytest.approx(bound, rel=1e-12)


def test_worst_linf_perturbation_against_brute_force():
    g = torch.Generator().manual_seed(0)
    for d in (3, 6, 9):
        n = torch.randn(1, d, generator=g, dtype=torch.float64)
        n[0, 0] = 0.0  # a zero coordinate must move too (torch.sign would not)
        eta = 0.3
        best = max(((n + eta * torch.tensor(s, dtype=torch.float64)).pow(2).sum().item(), s)
                   for s in itertools.product((-1.0, 1.0), repeat=d))
        worst = ty.worst_linf_perturbation(n, eta)
        assert (n + worst).pow(2).sum().item() == pytest.approx(best[0], rel=1e-12)
        assert worst[0, 0] == eta


def test_linf_identity_and_bounds():
    d, eps, eta, t = 1600, 0.05, 2 / 255, 0.05
    n = _inside(_gauss(5000, d, 2), eps)
    worst = n + ty.worst_linf_perturbation(n, eta)
    e_worst = ty.aep_deviation(worst, SIGMA)
    identity = (ty.aep_deviation(n, SIGMA) + eta * n.abs().sum(1) / (d * SIGMA**2)
                + eta**2 / (2 * SIGMA**2))
    torch.testing.assert_close(e_worst, identity, rtol=1e-12, atol=1e-12)
    always = ty.perturbed_eps_linf(SIGMA, eps, eta)
    assert (e_worst.abs() <= always).all()
    tight = ty.perturbed_eps_linf(SIGMA, eps, eta, t=t)
    assert tight < always
    fraction = (e_worst.abs() <= tight).double().mean().item()
    assert fraction >= ty.linf_slack_probability(d, t)
    # random sign perturbations of the same budget stay inside too, far from the bound
    signs = torch.randint(0, 2, n.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    assert (ty.aep_deviation(n + eta * signs, SIGMA).abs() <= tight).all()
    # expected shift of the worst case (Lemma 3.14)
    shift = (e_worst - ty.aep_deviation(n, SIGMA)).mean().item()
    assert shift == pytest.approx(ty.attack_shift(SIGMA, eta, "linf", d), rel=2e-3)


def test_l2_attack_shift_by_monte_carlo():
    d, eta = 400, 2 / 255 * 20
    n = _gauss(20000, d, 4)
    shift = (ty.aep_deviation(n + eta * n / n.norm(dim=1, keepdim=True), SIGMA)
             - ty.aep_deviation(n, SIGMA)).mean().item()
    assert shift == pytest.approx(ty.attack_shift(SIGMA, eta, "l2", d), rel=1e-3)


def test_volumes_in_log_space():
    d = 1600
    previous = -math.inf
    for eps in (0.01, 0.02, 0.05, 0.1, 0.3, 0.6):
        exact = ty.log_volume(d, SIGMA, eps)
        lower, upper = ty.log_volume_bounds(d, SIGMA, eps)
        assert lower <= exact <= upper and exact > previous
        previous = exact
    assert ty.log_volume(d, SIGMA, 0.0) == -math.inf
    # Prop. 3.26: the hypercube of edge sigma*sqrt(2 pi e)*e^eps has the upper-bound volume
    assert d * math.log(ty.hypercube_edge(SIGMA, 0.05)) == pytest.approx(
        ty.log_volume_bounds(d, SIGMA, 0.05)[1])
    # small d: the exact shell volume against a direct formula
    v = (math.pi ** 1.5 / math.gamma(2.5)) * (ty.norm_bounds(3, 1.0, 0.2)[1] ** 3
                                               - ty.norm_bounds(3, 1.0, 0.2)[0] ** 3)
    assert ty.log_volume(3, 1.0, 0.2) == pytest.approx(math.log(v))


@pytest.mark.parametrize(("d", "T"), [(16, 5), (400, 10), (1600, 10), (1600, 300)])
def test_ts_expected_shift_by_monte_carlo(d, T):
    rng = np.random.default_rng(d + T)
    draws = rng.chisquare(d, size=(20000, T + 1)).max(1)
    e = (draws / d - 1) / 2
    assert abs(e.mean() - ty.ts_expected_shift(d, T)) < 4 * e.std() / math.sqrt(20000)


def test_ts_iterations_for_inverts_the_expected_shift():
    assert ty.ts_iterations_for(1600, 0.0) == 0.0
    for shift in (0.01, 0.028, 0.067, 0.083):
        T = ty.ts_iterations_for(1600, shift)
        assert ty.ts_expected_shift(1600, T) == pytest.approx(shift, rel=1e-8)
    linf = ty.ts_iterations_for(1600, ty.attack_shift(SIGMA, 2 / 255, "linf", 1600))
    l2 = ty.ts_iterations_for(1600, ty.attack_shift(SIGMA, 2 / 255 * 40, "l2", 1600))
    assert 4.2e3 < linf < 4.6e3 and 1.4e5 < l2 < 1.7e5  # T ~ 4.4e3, ~1.5e5
    # the leading-order z_T/sqrt(2d) would need a larger T for the same shift
    z = stats.norm.isf(1 / (linf + 1))
    assert z / math.sqrt(2 * 1600) < 0.067
    with pytest.raises(ValueError, match="out of reach"):
        ty.ts_iterations_for(1600, 5.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        ty.entropy(0.0)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        ty.norm_bounds(10, 1.0, -0.1)
    with pytest.raises(ValueError, match="d must be >= 1"):
        ty.typical_set_probability(0, 0.1)
    with pytest.raises(ValueError, match="norm must be 'linf' or 'l2'"):
        ty.attack_shift(0.1, 0.01, "l1", 10)
    with pytest.raises(ValueError, match=r"n must have shape \(B, ...\)"):
        ty.aep_deviation(torch.zeros(5), 1.0)
    with pytest.raises(TypeError, match="n must be a torch.Tensor"):
        ty.worst_linf_perturbation([1.0], 0.1)
