"""DenoiseSquare: budget, monotone best loss, black-box use on NL-means, the schedule."""

import pytest
import torch

from denoise_adv import DenoiseSquare, WorstCase
from denoise_adv.attacks import mse_per_image
from denoise_adv.attacks.square import _eta, p_schedule
from denoise_adv.models import DnCNN, NLMeans

EPS = 2 / 255
SIGMA = 25 / 255


def _pair(shape=(2, 1, 24, 24), seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g)
    return clean + SIGMA * torch.randn(shape, generator=g), clean


def _tiny(channels=1):
    torch.manual_seed(0)
    return DnCNN(channels=channels, depth=3, features=8).eval()


def test_p_schedule_halves_at_the_papers_query_counts():
    # rescaled to 10000 queries: p_init until 10, /2 until 50, /4 until 200, ..., /512 after 8000
    assert [p_schedule(0.8, q, 10000) for q in (10, 11, 50, 51, 200, 201, 8000, 8001)] == [
        0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.8 / 256, 0.8 / 512]
    assert p_schedule(0.8, 2, 1000) == 0.4  # 2 of 1000 is 20 of 10000


def test_eta_is_a_unit_pattern_positive_on_top_negative_below():
    eta = _eta(5).float()
    assert eta.norm().item() == pytest.approx(1.0, rel=1e-6)
    assert (eta[:2] > 0).all() and (eta[2:] < 0).all()
    assert eta[0, 2] > eta[0, 0]  # concentric: heaviest at the centre of each half


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize(("channels", "per_pixel"), [(1, False), (3, True)])
def test_stays_in_budget_and_loss_is_monotone(norm, channels, per_pixel):
    noisy, clean = _pair((2, channels, 16, 20))
    eps = EPS if norm == "Linf" else 0.5
    atk = DenoiseSquare(_tiny(channels), norm=norm, eps=eps, n_queries=60, n_restarts=2, seed=0,
                        per_pixel=per_pixel)
    delta = atk(noisy, clean) - noisy
    if norm == "Linf":
        assert delta.abs().max() <= eps + 1e-7
        # every pixel sits on a vertex: stripes and squares are +-eps
        assert torch.allclose(delta.abs(), torch.full_like(delta, eps))
    else:
        radius = eps * (channels * 16 * 20) ** 0.5 if per_pixel else eps
        assert torch.allclose(delta.flatten(1).norm(dim=1), torch.full((2,), radius), rtol=1e-5)
    losses = atk.last_losses
    assert losses.shape == (2, 60, 2)
    assert (losses.diff(dim=1) >= 0).all()
    assert (losses[:, -1] > losses[:, 0]).all()  # the search found better points
    with torch.no_grad():  # the returned image is the best one recorded
        mse = mse_per_image(atk.model(noisy + delta), clean)
    assert torch.allclose(mse, losses[:, -1].max(dim=0).values, rtol=1e-5)


def test_forward_passes_only_under_no_grad(monkeypatch):
    model = _tiny()
    seen = []
    forward = model.forward

    def spy(x):
        seen.append(torch.is_grad_enabled())
        return forward(x)

    monkeypatch.setattr(model, "forward", spy)
    noisy, clean = _pair()
    DenoiseSquare(model, n_queries=25, n_restarts=2, seed=0, local=False)(noisy, clean)
    assert seen == [False] * 50  # n_queries forwards per restart, the start included
    seen.clear()
    DenoiseSquare(model, n_queries=25, n_restarts=2, seed=0)(noisy, clean)  # crops as well
    assert len(seen) > 50 and not any(seen)


@pytest.fixture(scope="module")
def nlmeans_pair():
    g = torch.Generator().manual_seed(3)
    clean = torch.rand(1, 1, 24, 24, generator=g).clamp(0.2, 0.8)
    return clean + SIGMA * torch.randn(clean.shape, generator=g), clean


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_beats_random_noise_of_the_same_size_on_nlmeans(nlmeans_pair, norm):
    """NL-means has no gradient (white-box attacks refuse it); Square needs none. Random noise
    of the budget's full size (random signs / a random direction of the radius) is the floor
    every attack must beat: after 150 queries Square is worse for the denoiser than the worst
    of 10 such draws, and its damage (MSE over the clean input's) is more than twice their
    mean damage (measured: 5x L-inf, 4x L2)."""
    noisy, clean = nlmeans_pair
    model = NLMeans(sigma=SIGMA)
    eps = 4 / 255
    atk = DenoiseSquare(model, norm=norm, eps=eps, n_queries=150, per_pixel=True, seed=0)
    adv = atk(noisy, clean)
    g = torch.Generator().manual_seed(0)
    randoms = []
    for _ in range(10):
        if norm == "Linf":
            delta = eps * torch.where(torch.rand(noisy.shape, generator=g) < 0.5, 1.0, -1.0)
        else:
            delta = torch.randn(noisy.shape, generator=g)
            delta = delta / delta.norm() * eps * 24
        randoms.append(mse_per_image(model(noisy + delta), clean).item())
    base = mse_per_image(model(noisy), clean).item()
    square = mse_per_image(model(adv), clean).item()
    assert square > max(randoms)
    assert square - base > 2 * (sum(randoms) / len(randoms) - base)
    assert atk.last_losses[0, -1, 0].item() == pytest.approx(square, rel=1e-6)


def test_white_box_attacks_refuse_nlmeans_but_worst_case_of_squares_runs(nlmeans_pair):
    noisy, clean = nlmeans_pair
    model = NLMeans(sigma=SIGMA)
    ensemble = WorstCase([DenoiseSquare(model, n_queries=3, seed=0),
                          DenoiseSquare(model, norm="L2", eps=0.1, n_queries=3, seed=1)])
    result = ensemble.detailed(noisy, clean)
    assert result.member_mse.shape == (2, 1)
    assert result.mse[0] == result.member_mse[:, 0].max()


def test_same_seed_same_result_and_seeded_members_run_once(nlmeans_pair):
    noisy, clean = _pair()
    model = _tiny()
    atk = DenoiseSquare(model, n_queries=20, seed=4)
    first = atk(noisy, clean)
    assert torch.equal(first, atk(noisy, clean))
    assert not torch.equal(first, DenoiseSquare(model, n_queries=20, seed=5)(noisy, clean))
    assert atk.deterministic and not DenoiseSquare(model).deterministic
    counted = []
    model.register_forward_hook(lambda m, i, o: counted.append(1))
    WorstCase([DenoiseSquare(model, n_queries=5, seed=0, local=False)], restarts=3)(noisy, clean)
    assert len(counted) == 5 + 1  # one run (5 queries) and one forward to score it


def test_without_clean_image_and_targeted():
    noisy, clean = _pair()
    model = _tiny()
    adv = DenoiseSquare(model, n_queries=10, seed=0)(noisy)
    with torch.no_grad():
        assert (model(adv) - model(noisy)).abs().max() > 0
    atk = DenoiseSquare(model, n_queries=30, seed=0)
    atk.set_mode_targeted_by_label(quiet=True)
    atk(noisy, clean)
    assert (atk.last_losses.diff(dim=1) <= 0).all()  # the loss to the target only decreases


def test_linf_queries_always_change_the_square():
    """A 2x2 gray image late in the schedule: 1x1 squares; a proposal equal to what the square
    holds would waste a query, so each proposal differs from the current best."""
    atk = DenoiseSquare(_tiny(), n_queries=5, seed=0)
    delta = EPS * torch.where(torch.rand(64, 1, 2, 2) < 0.5, 1.0, -1.0)
    proposal = atk._propose_linf(delta, 1)
    changed = (proposal != delta).flatten(1).sum(dim=1)
    assert (changed == 1).all()


def test_argument_checks():
    model = _tiny()
    with pytest.raises(ValueError, match="norm must be 'Linf' or 'L2'"):
        DenoiseSquare(model, norm="L0")
    for name, value in (("n_queries", 0), ("n_restarts", 0), ("p_init", 0.0), ("p_init", 1.5),
                        ("eps", -1.0)):
        with pytest.raises(ValueError, match=name):
            DenoiseSquare(model, **{name: value})
    with pytest.raises(ValueError, match="at least 2x2"):
        DenoiseSquare(model, n_queries=2)(torch.rand(1, 1, 1, 5), torch.rand(1, 1, 1, 5))
    params = DenoiseSquare(model, norm="l2", eps=0.5, n_queries=7, seed=1).params
    assert params == {"attack": "DenoiseSquare", "mode": "default", "norm": "L2", "eps": 0.5,
                      "n_queries": 7, "n_restarts": 1, "p_init": 0.8, "per_pixel": False,
                      "seed": 1, "clip": None, "amp": None}


def _record_positions(atk):
    """Wrap ``atk._positions`` to keep the squares each proposal draws."""
    drawn, positions = [], atk._positions

    def spy(noisy, side, count):
        out = positions(noisy, side, count)
        drawn.append((side, out))
        return out

    atk._positions = spy
    return drawn


@pytest.mark.parametrize(("channels", "size"), [(1, (17, 23)), (3, (15, 15)), (3, (9, 31))])
def test_l2_proposal_changes_two_squares_only_and_stays_on_the_sphere(channels, size):
    """The paper's L2 update, over a random walk of 400 accepted proposals at every side of
    the schedule: pixels outside the two squares are bit-identical, square 2 minus square 1 is
    zero, square 1 carries the mass both held, and the norm is the radius to 1e-5 (no global
    rescale)."""
    shape = (4, channels, *size)
    atk = DenoiseSquare(_tiny(channels), norm="L2", eps=2 / 255, per_pixel=True, seed=0)
    radius = atk.radius(torch.empty(shape))
    atk._generator = torch.Generator().manual_seed(1)
    delta = atk._init_l2(torch.zeros(shape))
    drawn = _record_positions(atk)
    for query in range(400):
        side = atk._side(p_schedule(0.8, query, 400), delta)
        proposal = atk._propose_l2(delta, side)
        (_, (r1, c1, r2, c2)), = drawn[-1:]
        mask1, mask2 = atk._mask(delta, r1, c1, side), atk._mask(delta, r2, c2, side)
        outside = ~(mask1 | mask2).expand(shape)
        assert torch.equal(proposal[outside], delta[outside])
        assert (proposal[(mask2 & ~mask1).expand(shape)] == 0).all()
        # square 1 carries the mass both held (plus the slack to the radius, ~1e-9 here)
        sq = lambda t: t.double().pow(2).flatten(1).sum(dim=1)  # noqa: E731
        mass = (sq(delta * (mask1 | mask2)) + radius ** 2 - sq(delta)).clamp_min(0).sqrt()
        assert torch.allclose(sq(proposal * mask1).sqrt(), mass, rtol=1e-5, atol=1e-9)
        norms = proposal.flatten(1).norm(dim=1)
        assert torch.allclose(norms, torch.full_like(norms, radius), rtol=1e-5, atol=0)
        delta = proposal
    assert len({side for side, _ in drawn}) >= 3  # large, middle and small squares


def test_l2_pattern_is_zero_outside_its_square_with_unit_norm():
    atk = DenoiseSquare(_tiny(3), norm="L2", seed=0)
    atk._generator = torch.Generator().manual_seed(0)
    rows, cols = torch.tensor([0, 7, 3]), torch.tensor([9, 0, 4])
    pattern = atk._pattern(torch.zeros(3, 3, 12, 14), rows, cols, 5)
    mask = atk._mask(pattern, rows, cols, 5).expand_as(pattern)
    assert (pattern[~mask] == 0).all() and (pattern[mask] != 0).all()
    assert torch.allclose(pattern.flatten(1).norm(dim=1), torch.ones(3), rtol=1e-6)


def test_l2_search_keeps_the_sphere_and_changes_at_most_two_squares_per_query():
    """The whole search on a 32x32 image: every query changes at most two squares of the side
    at that query (the old update changed 740-821 of 1024 pixels), and the result lies on the
    sphere."""
    noisy, clean = _pair((2, 1, 32, 32))
    atk = DenoiseSquare(_tiny(), norm="L2", eps=2 / 255, per_pixel=True, n_queries=200, seed=0)
    changes, propose = [], atk._propose_l2

    def spy(delta, side):
        proposal = propose(delta, side)
        changes.append(((proposal != delta).flatten(1).sum(dim=1), side))
        return proposal

    atk._propose_l2 = spy
    adv = atk(noisy, clean)
    assert len(changes) == 199
    for changed, side in changes:
        assert (changed <= 2 * side * side).all()
    assert max(changed.max().item() for changed, _ in changes) > 100  # the big early squares
    radius = 2 / 255 * 32
    assert torch.allclose((adv - noisy).flatten(1).norm(dim=1), torch.full((2,), radius),
                          rtol=1e-5)
