"""An attack as plain values: Denoising-PGD (the protocol's), Auto-PGD or Square, L-inf or
per-pixel L2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._amp import check_amp
from .._checks import check_clip, check_flag, check_iterations
from .apgd import DenoiseAPGD
from .base import DenoiseAttack, Loss, check_budget
from .fgsm import DenoiseFGSM
from .obsatk import ObsAtk
from .pgd import DenoisePGD
from .pgdl2 import DenoisePGDL2
from .square import DenoiseSquare

__all__ = ["KINDS", "AttackSpec"]

#: The attack kinds a spec builds: Denoising-PGD, Auto-PGD, the Square Attack, FGSM (L-inf,
#: one step of the budget's size) and ObsAtk (zero-mean per-pixel L2).
KINDS = ("pgd", "apgd", "square", "fgsm", "obsatk")
#: The one norm of the kinds that have one.
_NORM_OF = {"fgsm": "linf", "obsatk": "l2"}


@dataclass(frozen=True)
class AttackSpec:
    """An attack as plain values: the one attack value of the package (written into reports,
    adversarial sets, training configs and, through the benchmark's protocol records, every
    leaderboard; rebuilt with :meth:`build`).

    ``kind`` picks the attack: ``"pgd"`` (:class:`DenoisePGD` / :class:`DenoisePGDL2`, the
    default), ``"apgd"`` (:class:`DenoiseAPGD`: ``steps``, ``restarts``, ``eot_iter``; no
    ``alpha``, its step size is automatic), ``"square"`` (:class:`DenoiseSquare`:
    ``queries`` forward passes per restart, ``restarts``; no gradients, so it attacks BM3D
    and NL-means), ``"fgsm"`` (:class:`DenoiseFGSM`: L-inf, one step of size ``eps``, no
    random start) or ``"obsatk"`` (:class:`ObsAtk`: per-pixel L2, zero-mean perturbation).
    ``eot_iter`` (the gradient kinds) averages gradients over a randomized model's randomness.
    A ``"pgd"`` spec's record (:meth:`as_dict`) is what it always was; the other kinds record
    their own fields. The benchmark's protocol attacks are (name, access, spec) records whose
    :meth:`~denoise_adv.evaluation.BenchAttack.spec` is one of these.

    ``clip=(low, high)`` bounds the adversarial image (default: unclipped, as noisy images are).
    ``eps`` and ``alpha`` are per pixel in [0, 1] units (L2: RMS per pixel, radius
    ``eps * sqrt(C*H*W)``). The defaults (2/255, 0.5/255, 10 steps, random start) cost about
    1 dB on a small DnCNN at sigma 25, the size of the paper's drops. ``amp="bf16"`` crafts
    under bfloat16 autocast (see :class:`~denoise_adv.attacks.DenoiseAttack`).

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> atk = AttackSpec("l2", steps=2).build(DnCNN(depth=3, features=4))
        >>> type(atk).__name__, atk.per_pixel
        ('DenoisePGDL2', True)
        >>> AttackSpec.named("square-linf").build(DnCNN(depth=3, features=4)).attack
        'DenoiseSquare'
    """

    norm: str = "linf"
    eps: float = 2 / 255
    alpha: float = 0.5 / 255
    steps: int = 10
    random_start: bool = True
    clip: tuple[float, float] | None = None
    amp: str | None = None
    kind: str = "pgd"
    restarts: int = 1
    eot_iter: int = 1
    queries: int = 1000

    def __post_init__(self) -> None:
        # Checked when the spec is made, not when the first image is attacked.
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {self.norm!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if _NORM_OF.get(self.kind, self.norm) != self.norm:
            raise ValueError(f"kind {self.kind!r} is {_NORM_OF[self.kind]} only, got norm "
                             f"{self.norm!r}")
        if self.kind == "fgsm" and (self.steps, self.random_start) != (1, False):
            raise ValueError("kind 'fgsm' is one step from the noisy image: steps=1, "
                             f"random_start=False, got steps={self.steps}, "
                             f"random_start={self.random_start}")
        check_budget(self.eps, "eps")
        check_budget(self.alpha, "alpha", strict=True)
        self._check_counts()
        check_flag(self.random_start, "random_start")
        if self.kind in ("apgd", "square") and not self.random_start:
            raise ValueError(f"random_start=False is for kinds pgd, obsatk and fgsm; "
                             f"{self.kind} always starts from a random point")
        check_clip(self.clip)
        check_amp(self.amp)
        if self.kind not in ("apgd", "square") and self.restarts != 1:
            raise ValueError("restarts is for kinds 'apgd' and 'square' (run pgd several times "
                             "through WorstCase(restarts=...))")
        if self.kind == "square" and self.eot_iter != 1:
            raise ValueError("eot_iter is for gradient attacks (pgd, apgd), not square")

    def _check_counts(self) -> None:
        """Each iteration count >= 1, and the attack :meth:`build` makes within the time
        budget (:func:`~denoise_adv._checks.check_iterations`, nested as the attacks nest
        them: a step costs ``eot_iter`` passes, a restart ``queries`` (square) or
        ``steps + 1`` steps (apgd))."""
        eot_iter = check_iterations("eot_iter", self.eot_iter)
        queries = check_iterations("queries", self.queries)
        steps = check_iterations("steps", self.steps, passes_each=eot_iter)
        run = queries if self.kind == "square" else (steps + 1) * eot_iter
        check_iterations("restarts", self.restarts, passes_each=run)

    @classmethod
    def named(cls, name: str, **changes: Any) -> AttackSpec:
        """The spec of an attack name: ``"linf"``/``"l2"`` (Denoising-PGD, the protocol's),
        ``"apgd-linf"``, ``"apgd-l2"``, ``"square-linf"``, ``"square-l2"``; ``changes`` set
        other fields.

        Example:
            >>> AttackSpec.named("apgd-l2", steps=20).kind
            'apgd'
        """
        if not isinstance(name, str):
            raise TypeError(f"an attack name must be a string, got {type(name).__name__}")
        kind, _, norm = name.rpartition("-")
        if kind not in ("", *KINDS) or norm not in ("linf", "l2"):
            raise ValueError(f"unknown attack {name!r}: expected linf, l2, apgd-linf, apgd-l2, "
                             "square-linf or square-l2")
        return cls(norm=norm, kind=kind or "pgd", **changes)

    @property
    def key(self) -> str:
        """The attack's name (and the key of its random stream): the norm for pgd (as it
        always was), ``kind-norm`` otherwise."""
        return self.norm if self.kind == "pgd" else f"{self.kind}-{self.norm}"

    def build(self, model: nn.Module, generator: torch.Generator | None = None,
              loss: Loss | None = None) -> DenoiseAttack:
        """The attack on ``model`` (random start from ``generator``; ``loss``: the gradient
        kinds' loss, default MSE; Auto-PGD and Square keep their per-image MSE)."""
        common = dict(eps=self.eps, clip=self.clip, generator=generator, amp=self.amp)
        per_pixel = self.norm == "l2"
        if self.kind == "fgsm":
            return DenoiseFGSM(model, eps=self.eps, clip=self.clip, loss=loss, amp=self.amp,
                               eot_iter=self.eot_iter)
        if self.kind == "apgd":
            return DenoiseAPGD(model, norm=self.norm, steps=self.steps, n_restarts=self.restarts,
                               eot_iter=self.eot_iter, per_pixel=per_pixel, **common)
        if self.kind == "square":
            return DenoiseSquare(model, norm=self.norm, n_queries=self.queries,
                                 n_restarts=self.restarts, per_pixel=per_pixel, **common)
        common.update(alpha=self.alpha, steps=self.steps, random_start=self.random_start,
                      eot_iter=self.eot_iter, loss=loss)
        if self.kind == "obsatk":
            return ObsAtk(model, per_pixel=True, **common)
        if self.norm == "linf":
            return DenoisePGD(model, **common)
        return DenoisePGDL2(model, per_pixel=True, **common)

    def as_dict(self) -> dict[str, Any]:
        """The values, JSON-ready (``per_pixel`` is implied by the norm); a ``"pgd"`` spec
        without EOT gives the keys it always gave."""
        clip = list(self.clip) if self.clip else None
        if self.kind == "apgd":
            return {"kind": "apgd", "norm": self.norm, "eps": self.eps, "steps": self.steps,
                    "restarts": self.restarts, "eot_iter": self.eot_iter,
                    "per_pixel": self.norm == "l2", "clip": clip, "amp": self.amp}
        if self.kind == "square":
            return {"kind": "square", "norm": self.norm, "eps": self.eps,
                    "queries": self.queries, "restarts": self.restarts,
                    "p_init": DenoiseSquare.P_INIT, "per_pixel": self.norm == "l2",
                    "clip": clip, "amp": self.amp}
        values = {"norm": self.norm, "eps": self.eps, "alpha": self.alpha, "steps": self.steps,
                  "random_start": self.random_start, "per_pixel": self.norm == "l2",
                  "clip": clip, "amp": self.amp}
        if self.kind != "pgd":  # fgsm, obsatk: the pgd record and their kind
            values = {"kind": self.kind, **values}
        if self.eot_iter != 1:
            values["eot_iter"] = self.eot_iter
        return values
