"""The Square Attack (L-inf and L2) for denoisers: score-based, forward passes only."""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from .._checks import check_flag, check_int, check_iterations, check_real
from ..models.contract import is_randomized, output_shape_differs, receptive_field
from ._ball import BallAttack, check_norm, image_norms
from ._local import crop_area, plan_crops, run_crops, splice
from .base import DenoiseAttack, Loss, _check_finite, mse_per_image

__all__ = ["DenoiseSquare", "check_square_counts", "p_schedule"]


def p_schedule(p_init: float, query: int, n_queries: int) -> float:
    """The fraction ``p`` of the image a square covers at query ``query`` (0-based) of
    ``n_queries``: ``p_init`` halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of
    10000 queries, rescaled to ``n_queries`` (Andriushchenko et al., 2020, as in their code).

    Example:
        >>> [p_schedule(0.8, q, 1000) for q in (0, 1, 2, 5, 21, 999)]
        [0.8, 0.8, 0.4, 0.4, 0.1, 0.0015625]
    """
    it = int(query / n_queries * 10000)
    halvings = sum(it > bound for bound in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
    return p_init / 2 ** halvings


def _eta_rectangles(rows: int, cols: int) -> torch.Tensor:
    """Concentric rectangles of weight 1/(k+1)^2 (the L2 attack's half-square), unit norm."""
    delta = torch.zeros(rows, cols, dtype=torch.float64)
    r, c = rows // 2, cols // 2
    for k in range(max(rows // 2 + 1, cols // 2 + 1)):
        delta[max(r, 0):min(r + 2 * k + 1, rows), max(c, 0):min(c + 2 * k + 1, cols)] += (
            1.0 / (k + 1) ** 2)
        r, c = r - 1, c - 1
    return delta / delta.norm().clamp_min(1e-12)


def _eta(s: int) -> torch.Tensor:
    """The L2 attack's s x s update: + rectangles on the top half, - on the bottom half,
    unit norm (its transpose is drawn half the time)."""
    delta = torch.cat([_eta_rectangles(s // 2, s), -_eta_rectangles(s - s // 2, s)])
    return delta / delta.norm()


def _window(pos: torch.Tensor, size: int, length: int) -> torch.Tensor:
    """(B, length) masks of ``[pos, pos + size)`` for per-image start positions ``pos`` (B,)."""
    index = torch.arange(length, device=pos.device)
    return (index >= pos[:, None]) & (index < pos[:, None] + size)



def check_square_counts(n_queries: object, n_restarts: object = 1) -> tuple[int, int]:
    """``(n_queries, n_restarts)`` of the Square Attack, checked against the time budget (a
    query is one forward pass, see :func:`~denoise_adv._checks.check_iterations`).

    Example:
        >>> check_square_counts(1000)  # protocol v2's
        (1000, 1)
    """
    n_queries = check_iterations("n_queries", n_queries)
    return n_queries, check_iterations("n_restarts", n_restarts, passes_each=n_queries)


class DenoiseSquare(BallAttack, DenoiseAttack):
    r"""The Square Attack from 'Square Attack: a query-efficient black-box adversarial attack
    via random search' (Andriushchenko et al., ECCV 2020) [https://arxiv.org/abs/1912.00049],
    maximising the denoised output's loss (per-image MSE to the clean image by default).

    Distance Measure : Linf, L2

    A random search that needs forward passes only (under ``torch.no_grad``), so it attacks
    models without gradients: BM3D, NL-means, pipelines through numpy (their
    ``differentiable = False`` is not refused here), and on differentiable models it checks
    white-box results for masked gradients. Each query changes the best perturbation inside a
    random square and keeps the change where it raises the image's loss, so the best loss
    never decreases (kept per query in :attr:`last_losses`).

    - L-inf: start from vertical stripes (each column of each channel ``+-eps``); a query
      sets a random square of side ``s`` to ``+-eps`` (a random sign per channel; never the
      square it already holds).
    - L2: start from a grid of the paper's ``s x s`` blocks of concentric rectangles with
      random signs, scaled to the radius; a query takes two random squares of side ``s``:
      square 1 gets a new block (random sign per channel, zero outside the square) plus its
      old content, each of unit norm, scaled so that it carries the mass of both squares
      (and any slack to the radius); square 2 is zeroed; no other pixel changes, and the
      perturbation stays on the sphere without a global rescale (as in the paper's update).
      Colour: the norms of the squares and of the block are taken over all channels together,
      as AutoAttack and torchattacks take the squares' masses (the authors' first code takes
      them per channel); on gray images the two readings agree.

    The side follows the paper's schedule: ``s = round(sqrt(p * H * W))`` (at least 1, L2 at
    least 3 and odd; below the image's side) with ``p`` from :func:`p_schedule`. Squares are
    drawn per image. ``n_queries`` counts forward passes per restart, the start included; a
    query costs one forward of the batch plus elementwise work.

    Local queries: a model that declares its receptive field (``receptive_radius`` and
    ``alignment``, read by :func:`~denoise_adv.models.contract.receptive_field`: DnCNN, FFDNet,
    NL-means) is run, at each query, on the crop around each image's changed squares only
    (the squares grown by twice the radius, clipped to the image and aligned; two far-apart
    L2 squares get a crop each). The attack keeps the current best's full output, writes the
    crop's output over the region the squares can reach (the squares grown by the radius) and
    scores that whole output with the loss, so any per-image loss works and the scores are the
    whole forward's up to the crop's rounding (none for NL-means and the published FFDNet;
    ~1e-7 for DnCNN). The search is the one ``local=False`` gives: the same decisions, except
    where a proposal changes the loss by no more than its float32 rounding (a near-tie, which
    the whole search too decides on rounding). Where the crops would cover half the images or
    more, the query runs whole. The first
    :attr:`LOCAL_CHECKS` local queries of a call are also run whole and compared: a model whose
    crop output differs by more than rounding (a radius declared too small, a global
    statistic) warns once, and this attack runs it whole from then on.

    Arguments:
        model (nn.Module): denoiser mapping noisy -> clean (differentiable or not).
        norm (str): ``"Linf"`` or ``"L2"`` (any case). (Default: "Linf")
        eps (float): budget (L2: radius, see ``per_pixel``), [0, 1] units. (Default: 2/255)
        n_queries (int): forward passes per restart, >= 1. (Default: 1000)
        n_restarts (int): runs from fresh starts; the best per image is kept. (Default: 1)
        p_init (float): initial fraction of the image a square covers, in (0, 1]; AutoAttack's
            default. (Default: 0.8)
        per_pixel (bool): L2 only: ``eps`` is RMS per pixel, radius ``eps * sqrt(C*H*W)``.
            (Default: False)
        seed (int or None): seed of the random search; each call then repeats it (same
            seed, same result). ``None`` draws from ``generator``. (Default: None)
        clip (tuple or None): bounds for the adversarial image, or ``None``. (Default: None)
        loss (callable or None): ``loss(output, reference)`` with one value per image (or a
            scalar for a batch of one); ``None`` for MSE. (Default: None)
        generator (torch.Generator or None): RNG when ``seed`` is ``None`` (global RNG when
            both are ``None``). (Default: None)
        amp (str or None): ``"bf16"`` runs the model's forwards under bfloat16 autocast (the
            loss stays float32); ``None`` for float32. (Default: None)
        local (bool): run each query on the crop around its squares where the model declares
            its receptive field (same result, less work); ``False`` runs every query whole.
            Not a hyperparameter (not in :attr:`params`). (Default: True)

    Shape:
        - noisy: :math:`(N, C, H, W)`, H and W at least 2.
        - clean (optional): :math:`(N, C, H, W)`.
        - output: :math:`(N, C, H, W)`, ``noisy + delta``.

    Examples::
        >>> import torch
        >>> from denoise_adv import DenoiseSquare
        >>> from denoise_adv.models import NLMeans
        >>> clean = torch.rand(1, 1, 16, 16)
        >>> noisy = clean + 25 / 255 * torch.randn_like(clean)
        >>> atk = DenoiseSquare(NLMeans(sigma=25 / 255), eps=2 / 255, n_queries=20, seed=0)
        >>> adv = atk(noisy, clean)
        >>> bool((adv - noisy).abs().max() <= 2 / 255 + 1e-7)
        True
        >>> bool((atk.last_losses.diff(dim=1) >= 0).all())  # the best loss never decreases
        True
    """

    _needs_gradients = False
    #: The default ``p_init``: AutoAttack's (its Square runs with 0.8).
    P_INIT = 0.8
    #: Local queries checked against a whole forward at the start of each call.
    LOCAL_CHECKS = 2
    #: Crops covering this fraction of the batch's pixels or more: the query runs whole.
    LOCAL_MAX_AREA = 0.5
    _param_names = ("norm", "eps", "n_queries", "n_restarts", "p_init", "per_pixel", "seed",
                    "clip")

    def __init__(
        self,
        model: nn.Module,
        norm: str = "Linf",
        eps: float = 2 / 255,
        n_queries: int = 1000,
        n_restarts: int = 1,
        p_init: float = P_INIT,
        per_pixel: bool = False,
        seed: int | None = None,
        clip: tuple[float, float] | None = None,
        loss: Loss | None = None,
        generator: torch.Generator | None = None,
        *,
        amp: str | None = None,
        local: bool = True,
    ) -> None:
        # a random search: no step, no iterations of gradients
        self._init_ball("DenoiseSquare", model, eps, clip,
                        loss if loss is not None else mse_per_image, generator, amp)
        self.random_start = True
        self.norm = check_norm(norm)
        self.n_queries, self.n_restarts = check_square_counts(n_queries, n_restarts)
        self.p_init = check_real(p_init, "p_init", minimum=0.0, strict=True, maximum=1.0)
        self.per_pixel = check_flag(per_pixel, "per_pixel")
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
            if generator is not None:
                raise ValueError("give seed or generator, not both")
        self.seed = seed
        self.local = check_flag(local, "local")
        self._last_losses: torch.Tensor | None = None
        # the squares of the last proposal: (side, [(rows (B,), cols (B,)), ...])
        self._windows: tuple[int, list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        self._local_refused = False  # a check found the model's crops wrong: run it whole
        self._checks_left = 0

    @property
    def _passes(self) -> int:
        return self.n_restarts * self.n_queries

    # ------------------------------------------------------------------------ the search
    def _score(self, output: torch.Tensor, reference: torch.Tensor, sign: float,
               query: int) -> torch.Tensor:
        """Per-image objective ``sign * loss`` of the model's ``output``."""
        cost = self.loss(output, reference)
        if not bool(torch.isfinite(cost).all()):
            _check_finite(output, query)
        return sign * self._per_image(cost, len(output))

    def _run(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float) -> torch.Tensor:
        if min(noisy.shape[-2:]) < 2:
            raise ValueError(f"{self.attack} needs images of at least 2x2 pixels, got "
                             f"{tuple(noisy.shape[-2:])}")
        self._checks_left = self.LOCAL_CHECKS
        with self._seeded(self.seed), torch.no_grad():
            return self._best_of_restarts(noisy, reference, sign)

    def _single_run(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One search: ``(best delta, its objective (B,), best objective per query
        (n_queries, B))``. Keeps the best's output for local queries (:meth:`_evaluate`)."""
        init, propose = ((self._init_linf, self._propose_linf) if self.norm == "Linf" else
                         (self._init_l2, self._propose_l2))
        field = self._field()
        delta = self._project(init(noisy), noisy)
        output = self._forward(noisy + delta)
        self._check_model_output(output, noisy, reference)
        best = self._score(output, reference, sign, 0)
        history = [best]
        for query in range(1, self.n_queries):
            side = self._side(p_schedule(self.p_init, query - 1, self.n_queries), noisy)
            candidate = self._clip(propose(delta, side), noisy)
            if field is not None and not self._local_refused:
                out = self._evaluate(noisy + candidate, output, field)
            else:
                out = self._forward(noisy + candidate)
            loss = self._score(out, reference, sign, query)
            better = loss > best
            delta = torch.where(better.view(-1, 1, 1, 1), candidate, delta)
            if field is not None:
                output = torch.where(better.view(-1, 1, 1, 1), out, output)
            best = torch.where(better, loss, best)
            history.append(best)
        return delta, best, torch.stack(history)

    # ------------------------------------------------------------------- local queries
    def _field(self) -> tuple[int, int] | None:
        """``(radius, alignment)`` for local queries, or ``None`` to run the model whole:
        ``local=False``, no declared field, a randomized model, an output of another shape (a
        restoration pipeline) or BatchNorm in training mode (batch statistics are not local)."""
        if (not self.local or self._local_refused or is_randomized(self.model)
                or output_shape_differs(self.model)):
            return None
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
               for m in self.model.modules()):
            return None
        return receptive_field(self.model)

    def _evaluate(self, x: torch.Tensor, kept: torch.Tensor, field: tuple[int, int]
                  ) -> torch.Tensor:
        """The model's output on ``x``, which differs from the input of ``kept`` (the best's
        output) in the last proposal's squares only: ``kept`` with the crops' outputs written
        over the regions they reach, or a whole forward when the crops are large (and for the
        first :attr:`LOCAL_CHECKS` local queries, whose crops are checked against it)."""
        side, windows = self._windows
        grid = [(rows.tolist(), cols.tolist()) for rows, cols in windows]
        plan = [plan_crops([(rows[b], cols[b]) for rows, cols in grid], side,
                           (x.shape[-2], x.shape[-1]), *field) for b in range(len(x))]
        if crop_area(plan) >= self.LOCAL_MAX_AREA * len(x) * x.shape[-2] * x.shape[-1]:
            return self._forward(x)
        local = splice(kept, run_crops(self._forward, x, plan))
        if self._checks_left <= 0:
            return local
        self._checks_left -= 1
        full = self._forward(x)
        self._check_crops(x, plan, full, local, field)
        return full

    def _check_crops(self, x: torch.Tensor, plan: list, full: torch.Tensor,
                     local: torch.Tensor, field: tuple[int, int]) -> None:
        """Compare a local query with the whole forward ``full``; past rounding, warn and run
        the model whole from now on. Under ``amp`` (whose rounding would hide a small error)
        the crops' regions are compared in the model's own precision."""
        if self.amp is None:
            error, reference = (full - local).abs().max(), full
        else:
            reference = self.get_logits(x)
            pieces = run_crops(self.get_logits, x, plan)
            error = max((piece - reference[i, :, r[0]:r[1], r[2]:r[3]]).abs().max()
                        for i, r, piece in pieces)
        scale = max(1.0, float(reference.abs().max()))
        tolerance = 64 * torch.finfo(reference.dtype).eps * scale
        if not float(error) > tolerance:
            return
        self._local_refused = True
        warnings.warn(
            f"{type(self.model).__name__} declares a receptive radius of {field[0]} (alignment "
            f"{field[1]}), but its output on the crops around a query's squares differs from "
            f"the whole image's by {float(error):.3g} (rounding: <= {tolerance:.2g}): the "
            "radius is too small or the model is not local. This attack runs it whole from "
            "now on; declare the right receptive_radius (or none), or pass local=False",
            UserWarning, stacklevel=2)

    def _clip(self, delta: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        """A proposal under ``clip``: proposals lie in the ball by construction (L2: on its
        sphere), so no projection (no global rescale) touches the pixels they keep; the clip
        too touches only the proposal's squares (the rest was clipped before, and clipping it
        again could move it by rounding)."""
        if self.clip is None:
            return delta
        side, windows = self._windows
        mask = self._mask(delta, *windows[0], side)
        for rows, cols in windows[1:]:
            mask = mask | self._mask(delta, rows, cols, side)
        return torch.where(mask, (noisy + delta).clamp(*self.clip) - noisy, delta)

    def _side(self, p: float, noisy: torch.Tensor) -> int:
        """The square's side for fraction ``p`` (L-inf >= 1; L2 >= 3 and odd; < the image)."""
        h, w = noisy.shape[-2:]
        side = max(int(round(math.sqrt(p * h * w))), 1)
        if self.norm == "L2":
            side = max(side, 3)
            side += 1 - side % 2
        return max(min(side, min(h, w) - 1), 1)

    def _positions(self, noisy: torch.Tensor, side: int, count: int) -> list[torch.Tensor]:
        """``count`` (B,) integer positions in ``[0, H - side]`` and ``[0, W - side]``
        alternately (row, column, row, ...)."""
        h, w = noisy.shape[-2:]
        draws = self._random(noisy.new_empty(len(noisy), count), "uniform")
        limits = [(h if k % 2 == 0 else w) - side + 1 for k in range(count)]
        return [(draws[:, k] * limits[k]).long().clamp_max(limits[k] - 1) for k in range(count)]

    def _mask(self, noisy: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
              side: int) -> torch.Tensor:
        """(B, 1, H, W) masks of the per-image squares."""
        h, w = noisy.shape[-2:]
        return (_window(rows, side, h)[:, None, :, None]
                & _window(cols, side, w)[:, None, None, :])

    # ------------------------------------------------------------------------- L-inf
    def _init_linf(self, noisy: torch.Tensor) -> torch.Tensor:
        b, c, h, w = noisy.shape
        signs = self._random(noisy.new_empty(b, c, 1, w), "uniform") < 0.5
        return torch.where(signs, self.eps, -self.eps).expand(b, c, h, w).contiguous()

    def _propose_linf(self, delta: torch.Tensor, side: int) -> torch.Tensor:
        """Set a random square of each image to ``+-eps`` per channel, never to what it holds."""
        b, c = delta.shape[:2]
        rows, cols = self._positions(delta, side, 2)
        self._windows = (side, [(rows, cols)])
        mask = self._mask(delta, rows, cols, side)
        draws = self._random(delta.new_empty(b, c + 1), "uniform")
        signs = torch.where(draws[:, :c] < 0.5, 1.0, -1.0).to(delta.dtype)
        # The square's current values: +-eps everywhere with one sign per channel, or not.
        inside_max = torch.where(mask, delta, -math.inf).amax(dim=(2, 3))
        inside_min = torch.where(mask, delta, math.inf).amin(dim=(2, 3))
        uniform = (inside_max == inside_min) & (inside_max.abs() == self.eps)
        held = inside_max.sign()
        stuck = (uniform & (signs == held)).all(dim=1)  # the proposal would change nothing
        # Replace it by one of the 2^c - 1 other sign vectors, uniformly: flip the bits of an
        # integer in [1, 2^c - 1].
        flips = (draws[:, c] * (2 ** c - 1)).long().clamp_max(2 ** c - 2) + 1
        bits = (flips[:, None] >> torch.arange(c, device=delta.device)) & 1
        other = held * (1 - 2 * bits).to(delta.dtype)
        signs = torch.where(stuck[:, None], other, signs)
        return torch.where(mask, (self.eps * signs)[:, :, None, None], delta)

    # ---------------------------------------------------------------------------- L2
    def _init_l2(self, noisy: torch.Tensor) -> torch.Tensor:
        b, c, h, w = noisy.shape
        side = max(min(h, w) // 5, 1)
        nh, nw = h // side, w // side
        eta = _eta(side).to(noisy)
        signs = torch.where(self._random(noisy.new_empty(b, c, nh, nw), "uniform") < 0.5,
                            1.0, -1.0).to(noisy.dtype)
        flip = self._random(noisy.new_empty(b, 1, nh, nw), "uniform") < 0.5
        big = lambda t: t.repeat_interleave(side, 2).repeat_interleave(side, 3)  # noqa: E731
        tiles = torch.where(big(flip), eta.T.repeat(nh, nw), eta.repeat(nh, nw)) * big(signs)
        delta = torch.zeros_like(noisy)
        top, left = (h - nh * side) // 2, (w - nw * side) // 2
        delta[:, :, top:top + nh * side, left:left + nw * side] = tiles
        return delta / image_norms(delta).clamp_min(1e-12) * self.radius(noisy)

    def _pattern(self, delta: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                 side: int) -> torch.Tensor:
        """(B, C, H, W): each image's ``eta`` (or its transpose) placed at its square, with a
        random sign per channel, unit norm over all channels and zero outside the square."""
        b, c, h, w = delta.shape
        eta = _eta(side).to(delta) / math.sqrt(c)
        draws = self._random(delta.new_empty(b, c + 1), "uniform")
        local_r = (torch.arange(h, device=delta.device) - rows[:, None]).clamp(0, side - 1)
        local_c = (torch.arange(w, device=delta.device) - cols[:, None]).clamp(0, side - 1)
        placed = eta[local_r[:, :, None], local_c[:, None, :]]
        placed_t = eta.T[local_r[:, :, None], local_c[:, None, :]]
        placed = torch.where((draws[:, c] < 0.5)[:, None, None], placed_t, placed)
        signs = torch.where(draws[:, :c] < 0.5, 1.0, -1.0).to(delta.dtype)
        # the indices were clamped to the square: zero what they repeat outside it
        return torch.where(self._mask(delta, rows, cols, side),
                           placed[:, None] * signs[:, :, None, None], 0.0)

    def _propose_l2(self, delta: torch.Tensor, side: int) -> torch.Tensor:
        """The paper's L2 update: window 1 gets a new pattern plus its old content (each of
        unit norm; the pattern alone where the two cancel), scaled to the mass of windows 1
        and 2 plus the slack to the radius; window 2 is zeroed; nothing else changes. Norms
        are over all channels together."""
        r1, c1, r2, c2 = self._positions(delta, side, 4)
        self._windows = (side, [(r1, c1), (r2, c2)])
        mask1, mask2 = self._mask(delta, r1, c1, side), self._mask(delta, r2, c2, side)
        window1 = torch.where(mask1, delta, 0.0)
        outside = torch.where(mask1 | mask2, 0.0, delta)
        # radius^2 - |outside|^2 = |windows 1 and 2|^2 + (radius^2 - |delta|^2): the new
        # window puts the perturbation back on the sphere, whatever rounding did before
        # (float64: small windows are not lost to the cancellation)
        mass = (self.radius(delta) ** 2 - image_norms(outside.double()) ** 2).clamp_min(0)
        mass = mass.sqrt().to(delta.dtype)
        pattern = self._pattern(delta, r1, c1, side)
        new = pattern + window1 / image_norms(window1).clamp_min(1e-12)
        # a block drawn opposite to the one the square holds cancels it (what is left is
        # rounding noise): the block alone then takes the mass
        new = torch.where(image_norms(new) > 1e-3, new, pattern)
        return outside + new / image_norms(new) * mass
