"""What the step-size-free attacks (:class:`DenoiseAPGD`, :class:`DenoiseSquare`) share: their
norm names (AutoAttack's spelling), the ball they search and the record of their last call."""

from __future__ import annotations

import math

import torch

__all__ = ["NORMS", "BallAttack", "check_norm", "image_norms"]

#: The norms of the step-size-free attacks, as AutoAttack and torchattacks spell them.
NORMS = ("Linf", "L2")


def check_norm(norm: object) -> str:
    """``"Linf"`` or ``"L2"`` (any case, so ``"linf"`` and ``"l2"`` as :class:`AttackSpec`
    writes them are accepted too).

    Example:
        >>> check_norm("linf"), check_norm("L2")
        ('Linf', 'L2')
    """
    if not isinstance(norm, str):
        raise TypeError(f"norm must be a string, 'Linf' or 'L2', got {type(norm).__name__}")
    canonical = {n.lower(): n for n in NORMS}.get(norm.lower())
    if canonical is None:
        raise ValueError(f"norm must be 'Linf' or 'L2', got {norm!r}")
    return canonical


def image_norms(x: torch.Tensor) -> torch.Tensor:
    """Per-image L2 norms, shaped (B, 1, ..., 1) to broadcast against ``x``."""
    return x.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))


class BallAttack:
    """Mixin (before :class:`DenoiseAttack` in the bases) of an attack with ``norm``, ``eps``,
    ``per_pixel``, ``seed`` and a ``_last_losses`` record."""

    norm: str
    eps: float
    per_pixel: bool
    seed: int | None
    n_restarts: int
    _last_losses: torch.Tensor | None

    @property
    def last_losses(self) -> torch.Tensor | None:
        """The last call's best loss so far after each step or query (the loss itself, not
        the objective: targeted mode's decreases), per restart and image, on the CPU:
        (n_restarts, steps + 1, B) for APGD, (n_restarts, n_queries, B) for Square; ``None``
        before the first call."""
        return self._last_losses

    @property
    def deterministic(self) -> bool:
        """Whether every call gives the same result (a fixed ``seed``)."""
        return self.seed is not None

    def radius(self, x: torch.Tensor) -> float:
        """The absolute radius of the ball for images shaped like ``x``."""
        scale = math.sqrt(x[0].numel()) if self.per_pixel and self.norm == "L2" else 1.0
        return self.eps * scale

    def _project_ball(self, delta: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            return delta.clamp(-self.eps, self.eps)
        norm, radius = image_norms(delta), self.radius(delta)
        return delta * torch.where(norm > radius, radius / norm.clamp_min(1e-30), 1.0)

    def _best_of_restarts(self, noisy: torch.Tensor, reference: torch.Tensor,
                          sign: float) -> torch.Tensor:
        """``n_restarts`` runs of ``_single_run`` (each ``(delta, objective (B,), history)``),
        the best delta kept per image; records the histories in :attr:`last_losses`."""
        best_delta = best = None
        history = []
        for _ in range(self.n_restarts):
            delta, loss, losses = self._single_run(noisy, reference, sign)
            history.append(losses)
            if best is None:
                best_delta, best = delta, loss
                continue
            better = loss > best
            best_delta = torch.where(better.view(-1, 1, 1, 1), delta, best_delta)
            best = torch.where(better, loss, best)
        self._last_losses = sign * torch.stack(history).cpu()
        return (noisy + best_delta).detach()
