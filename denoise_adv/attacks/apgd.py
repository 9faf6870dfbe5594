"""Auto-PGD (L-inf and L2) for denoisers: PGD without a step size to tune."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_flag, check_int, check_iterations, check_real
from ._ball import BallAttack, check_norm, image_norms
from .base import DenoiseAttack, Loss, _check_finite, check_steps, mse_per_image

__all__ = ["DenoiseAPGD", "apgd_checkpoints", "check_apgd_counts", "check_norm"]

def apgd_checkpoints(steps: int) -> tuple[int, ...]:
    r"""The iterations at which Auto-PGD may halve its step size (Croce & Hein, 2020, sec. 3.2):
    :math:`w_j = \lceil p_j N \rceil` for ``N = steps``, with :math:`p_0 = 0`,
    :math:`p_1 = 0.22` and :math:`p_{j+1} = p_j + \max(p_j - p_{j-1} - 0.03, 0.06)`, every
    :math:`p_j \le 1`; repeated values (small ``N``) are listed once. The ``p_j`` are exact
    multiples of 0.01, so they are computed in integer hundredths (no rounding error pushes a
    ceiling up).

    Example:
        >>> apgd_checkpoints(100)
        (0, 22, 41, 57, 70, 80, 87, 93, 99)
    """
    steps = check_int(steps, "steps", minimum=1)
    hundredths, previous, points = 22, 0, [0]
    while hundredths <= 100:
        point = -(-hundredths * steps // 100)  # ceil(p_j * N)
        if point != points[-1]:
            points.append(point)
        hundredths, previous = hundredths + max(hundredths - previous - 3, 6), hundredths
    return tuple(points)



def check_apgd_counts(steps: object, eot_iter: object = 1, n_restarts: object = 1
                      ) -> tuple[int, int, int]:
    """``(steps, eot_iter, n_restarts)`` of Auto-PGD, checked against the time budget: a run
    costs ``(steps + 1) * eot_iter`` passes (the last point is scored), see
    :func:`~denoise_adv._checks.check_iterations`.

    Example:
        >>> check_apgd_counts(20, 20, 2)  # protocol v2's, with EOT
        (20, 20, 2)
    """
    steps, eot_iter = check_steps(steps, eot_iter)
    return steps, eot_iter, check_iterations("n_restarts", n_restarts,
                                             passes_each=(steps + 1) * eot_iter)


class DenoiseAPGD(BallAttack, DenoiseAttack):
    r"""Auto-PGD from 'Reliable Evaluation of Adversarial Robustness with an Ensemble of Diverse
    Parameter-free Attacks' (Croce & Hein, ICML 2020) [https://arxiv.org/abs/2003.01690] with
    the regression loss of the denoising attacks: no step size to tune.

    Distance Measure : Linf, L2

    Maximises ``loss(model(noisy + delta), clean)`` (per-image MSE by default) over the ball.
    Each image keeps its own step size ``eta``, starting at ``2 * eps`` (L2: twice the
    radius), and its best point. A step is a projected gradient step with momentum 0.75,
    :math:`z = P(x + \eta\,s(g))`, :math:`x' = P(x + 0.75(z - x) + 0.25(x - x_{prev}))`
    (``s`` the sign of the gradient for L-inf, the gradient over its L2 norm for L2; the first
    step has no momentum). At the checkpoints of :func:`apgd_checkpoints` an image halves its
    step size and restarts from its best point when fewer than ``rho`` of the steps since the
    last checkpoint increased its loss, or when its step size was not halved at the last
    checkpoint and its best loss has not improved since. The best point found is returned.

    ``steps`` is the number of steps (moves), as for :class:`DenoisePGD`. Cost per restart, in
    the model's forward+backward passes: ``steps * eot_iter``, plus one forward (``eot_iter``
    with EOT) to score the last point; DenoisePGD with ``steps`` costs ``steps * eot_iter``.

    Each restart starts from a random point of the ball (uniform per pixel for L-inf, as
    DenoisePGD; a random direction and radius for L2, as DenoisePGDL2), so the ``atk(noisy)``
    form (no clean image) works. The per-image best over restarts is returned; the best loss
    after each step is kept in :attr:`last_losses`.

    ``per_pixel=True`` (L2 only) reads ``eps`` as RMS per pixel: radius ``eps * sqrt(C*H*W)``,
    as :class:`DenoisePGDL2` and the evaluation protocol do.

    Arguments:
        model (nn.Module): denoiser mapping noisy -> clean.
        norm (str): ``"Linf"`` or ``"L2"`` (any case). (Default: "Linf")
        eps (float): budget (L2: radius, see ``per_pixel``), [0, 1] units. (Default: 2/255)
        steps (int): number of steps per restart. (Default: 10)
        n_restarts (int): runs from fresh random starts; the best per image is kept.
            (Default: 1)
        eot_iter (int): gradients averaged over this many passes (EOT) for randomized
            models. (Default: 1)
        per_pixel (bool): L2 only: ``eps`` is RMS per pixel. (Default: False)
        seed (int or None): seed of the random starts; each call then draws the same starts
            (same seed, same result). ``None`` draws from ``generator``. (Default: None)
        rho (float): the fraction of successful steps below which the step size halves.
            (Default: 0.75)
        clip (tuple or None): bounds for the adversarial image, or ``None``. (Default: None)
        loss (callable or None): ``loss(output, reference)`` with one value per image (or a
            scalar for a batch of one); ``None`` for MSE. (Default: None)
        generator (torch.Generator or None): RNG of the random starts when ``seed`` is
            ``None`` (global RNG when both are ``None``). (Default: None)
        amp (str or None): ``"bf16"`` runs the model's forward/backward under bfloat16 autocast
            (delta, projection and loss stay float32); ``None`` for float32. (Default: None)

    Shape:
        - noisy: :math:`(N, C, H, W)`, any real values (noisy images are not clipped).
        - clean (optional): :math:`(N, C, H, W)`, the clean images (or targets in targeted mode).
        - output: :math:`(N, C, H, W)`, the adversarial noisy images ``noisy + delta``.

    Examples::
        >>> import torch
        >>> from denoise_adv import DenoiseAPGD
        >>> from denoise_adv.models import DnCNN
        >>> model = DnCNN(depth=5, features=16).eval()
        >>> clean = torch.rand(2, 1, 32, 32)
        >>> noisy = clean + 25 / 255 * torch.randn_like(clean)
        >>> atk = DenoiseAPGD(model, norm="Linf", eps=2 / 255, steps=10, seed=0)
        >>> adv = atk(noisy, clean)
        >>> bool((adv - noisy).abs().max() <= 2 / 255 + 1e-7)
        True
        >>> torch.equal(adv, atk(noisy, clean))  # same seed, same result
        True
    """

    _param_names = ("norm", "eps", "steps", "n_restarts", "eot_iter", "per_pixel", "rho", "seed",
                    "clip")

    def __init__(
        self,
        model: nn.Module,
        norm: str = "Linf",
        eps: float = 2 / 255,
        steps: int = 10,
        n_restarts: int = 1,
        eot_iter: int = 1,
        per_pixel: bool = False,
        seed: int | None = None,
        rho: float = 0.75,
        clip: tuple[float, float] | None = None,
        loss: Loss | None = None,
        generator: torch.Generator | None = None,
        *,
        amp: str | None = None,
    ) -> None:
        # no alpha: the step size is automatic
        self._init_ball("DenoiseAPGD", model, eps, clip,
                        loss if loss is not None else mse_per_image, generator, amp)
        self.steps, self.eot_iter, self.n_restarts = check_apgd_counts(steps, eot_iter, n_restarts)
        self.random_start = True
        self.norm = check_norm(norm)
        self.per_pixel = check_flag(per_pixel, "per_pixel")
        self.rho = check_real(rho, "rho", minimum=0.0, maximum=1.0)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
            if generator is not None:
                raise ValueError("give seed or generator, not both")
        self.seed = seed
        self._last_losses: torch.Tensor | None = None

    @property
    def _passes(self) -> int:
        return self.n_restarts * (self.steps + 1) * self.eot_iter

    # ----------------------------------------------------------------------------- geometry
    def _random_delta(self, noisy: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            return (2 * self._random(noisy, "uniform") - 1) * self.eps
        direction = self._random(noisy, "normal")
        direction = direction / image_norms(direction).clamp_min(1e-12)
        return direction * self._random(noisy[:, :1, :1, :1], "uniform") * self.radius(noisy)

    def _direction(self, grad: torch.Tensor) -> torch.Tensor:
        """The steepest-ascent direction of the norm (zero where the gradient is zero)."""
        if self.norm == "Linf":
            return grad.sign()
        norm = image_norms(grad)
        return torch.where(norm > 0, grad / norm.clamp_min(torch.finfo(grad.dtype).tiny), 0.0)

    def _step(self, x: torch.Tensor, previous: torch.Tensor, grad: torch.Tensor,
              eta: torch.Tensor, noisy: torch.Tensor, momentum: float) -> torch.Tensor:
        """One Auto-PGD move from ``x`` (the iterate before it: ``previous``)."""
        z = self._project(x + eta * self._direction(grad), noisy)
        return self._project(x + momentum * (z - x) + (1 - momentum) * (x - previous), noisy)

    # ---------------------------------------------------------------------------- the attack
    def _score(self, noisy: torch.Tensor, delta: torch.Tensor, reference: torch.Tensor,
               sign: float, step: int) -> torch.Tensor:
        """Per-image objective at the last point (forward only; EOT: mean of the passes)."""
        with torch.no_grad():
            total = None
            for _ in range(self.eot_iter):
                output = self._forward(noisy + delta)
                cost = self.loss(output, reference)
                if not bool(torch.isfinite(cost).all()):
                    _check_finite(output, step)
                total = cost if total is None else total + cost
        return sign * self._per_image(total / self.eot_iter, len(noisy))

    def _run(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float) -> torch.Tensor:
        with self._seeded(self.seed):
            return self._best_of_restarts(noisy, reference, sign)

    def _single_run(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One run from a random start: ``(best delta, its objective (B,), the best objective
        after each step (steps + 1, B))``."""
        batch, checkpoints = len(noisy), set(apgd_checkpoints(self.steps)[1:])
        x = self._project(self._random_delta(noisy), noisy)
        cost, grad = self._gradient(noisy, x, reference, sign, 0)
        loss = sign * self._per_image(cost, batch)
        state = _State(x, loss, grad, 2 * self.radius(noisy))
        previous, since_check, history = x, 0, [loss]
        for i in range(self.steps):
            x, previous = self._step(x, previous, grad, state.eta, noisy,
                                     1.0 if i == 0 else 0.75), x
            if i + 1 < self.steps:
                cost, grad = self._gradient(noisy, x, reference, sign, i + 1)
                loss = sign * self._per_image(cost, batch)
            else:  # the last point needs its score only
                loss = self._score(noisy, x, reference, sign, i + 1)
            state.record(x, loss, grad)
            since_check += 1
            history.append(state.best.clone())
            if i + 1 in checkpoints and i + 1 < self.steps:
                x, grad = state.checkpoint(x, grad, since_check, self.rho)
                since_check = 0
        return state.best_delta, state.best, torch.stack(history)


class _State:
    """Auto-PGD's per-image bookkeeping: step size, best point, successes since the last
    checkpoint."""

    def __init__(self, x: torch.Tensor, loss: torch.Tensor, grad: torch.Tensor,
                 eta: float) -> None:
        shape = (-1, *([1] * (x.dim() - 1)))
        self.view = lambda t: t.view(shape)
        self.eta = torch.full_like(loss, eta).view(shape)
        self.best_delta, self.best, self.best_grad = x, loss, grad
        self.last = loss  # objective at the current iterate
        self.successes = torch.zeros_like(loss)
        self.best_at_check = loss
        self.reduced_at_check = torch.ones_like(loss, dtype=torch.bool)

    def record(self, x: torch.Tensor, loss: torch.Tensor, grad: torch.Tensor) -> None:
        """A new iterate and its objective: count a success, keep the best point."""
        self.successes = self.successes + (loss > self.last).to(loss.dtype)
        self.last = loss
        better = loss > self.best
        self.best = torch.where(better, loss, self.best)
        self.best_delta = torch.where(self.view(better), x, self.best_delta)
        self.best_grad = torch.where(self.view(better), grad, self.best_grad)

    def checkpoint(self, x: torch.Tensor, grad: torch.Tensor, span: int, rho: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """The conditions at a checkpoint ``span`` steps after the last one: halve the step
        size of the images that stalled and restart them from their best point."""
        stalled = self.successes < rho * span
        stalled |= ~self.reduced_at_check & (self.best <= self.best_at_check)
        self.eta = torch.where(self.view(stalled), self.eta / 2, self.eta)
        self.reduced_at_check, self.best_at_check = stalled, self.best
        self.successes = torch.zeros_like(self.successes)
        self.last = torch.where(stalled, self.best, self.last)
        mask = self.view(stalled)
        return torch.where(mask, self.best_delta, x), torch.where(mask, self.best_grad, grad)
