"""The per-image worst case of several denoising attacks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch

from .._amp import check_amp
from .._checks import check_iterations
from .base import DenoiseAttack

__all__ = ["WorstCase", "WorstCaseResult"]


class WorstCaseResult(NamedTuple):
    """What :meth:`WorstCase.detailed` returns (also :attr:`WorstCase.last_result`).

    Its fields:

    - ``adv``: (B, C, H, W) the adversarial noisy images kept, one per input image;
    - ``winner``: (B,) index into ``attacks`` of the member that produced each kept image;
    - ``restart``: (B,) the restart (0-based) of that member that produced it;
    - ``mse``: (B,) per-image score of the kept image (see :class:`WorstCase`);
    - ``member_mse``: (M, B) each member's best score over its restarts, per image.
    """

    adv: torch.Tensor
    winner: torch.Tensor
    restart: torch.Tensor
    mse: torch.Tensor
    member_mse: torch.Tensor


def _check_attacks(attacks: object) -> tuple[DenoiseAttack, ...]:
    if isinstance(attacks, DenoiseAttack) or not isinstance(attacks, Sequence):
        raise TypeError("attacks must be a list of denoising attacks (DenoisePGD, DenoiseFGSM, "
                        f"...), got {type(attacks).__name__}")
    if len(attacks) == 0:
        raise ValueError("attacks must hold at least one denoising attack, got an empty list")
    for index, member in enumerate(attacks):
        if not isinstance(member, DenoiseAttack):
            raise TypeError(f"attacks[{index}] must be a denoise_adv DenoiseAttack (DenoisePGD, "
                            f"DenoisePGDL2, DenoiseFGSM, ...), got {type(member).__name__}")
    return tuple(attacks)


def _score(output: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image MSE of outputs and reference, both clamped to [0, 1] as metrics are."""
    return (output.clamp(0, 1) - reference.clamp(0, 1)).pow(2).flatten(1).mean(dim=1)


class WorstCase(DenoiseAttack):
    r"""The per-image worst case of several denoising attacks on one denoiser: every member runs
    (each ``restarts`` times), and for each image the adversarial input whose denoised output has
    the lowest PSNR is kept. The ensemble counterpart of :class:`torchattacks.MultiAttack`,
    whose first-success rule (argmax == label) only fits classifiers.

    Distance Measure : each member's own (an image's result lies in the budget of its winner)

    Score: the per-image mean squared error between ``model(adv)`` and the reference, both
    clamped to [0, 1] -- the PSNR that :func:`denoise_adv.metrics.psnr` reports on
    ``model(adv).clamp(0, 1)``. The reference is the clean image for ``atk(noisy, clean)``,
    ``model(noisy).detach()`` for ``atk(noisy)`` (computed once per call and shared by all
    members, which then all need a random start), and the target in targeted mode
    (``set_mode_targeted_by_label()``), where the lowest score wins. Ties keep the earlier
    candidate, so one member with ``restarts=1`` returns exactly what that member returns.

    Members run in order, each ``restarts`` times in a row; a restart draws a fresh random start
    from the member's ``generator`` (or the global RNG). Members without a random start (FGSM,
    BIM, ``random_start=False``) and members with a fixed ``seed`` (DenoiseAPGD, DenoiseSquare:
    every call repeats the same starts; give them ``n_restarts`` instead) are deterministic and
    run once. When no member needs gradients (all are
    :class:`~denoise_adv.attacks.DenoiseSquare`), the ensemble runs on any model,
    differentiable or not. The ensemble drives its members itself: its own mode
    (default/targeted), model train/eval handling and reference apply; the members' own modes
    are ignored.

    Cost, in units of one forward+backward pass of the model: the sum over members of
    ``steps * runs`` (``runs = restarts``, or 1 without a random start), plus one forward
    (no_grad; measured at 0.43 of a unit for DnCNN-17 on the CPU) per candidate to score it, plus
    one forward for the reference in the ``atk(noisy)`` form. Example: L-inf PGD and L2 PGD of
    10 steps and FGSM cost 21 units + 3 forwards, about 1.06 times their members' 21 passes.

    Per image, which member (and restart) won is kept in :attr:`last_result` /
    :attr:`last_winner`; :meth:`detailed` returns it with the images.

    With ``amp="bf16"`` every member crafts under bfloat16 autocast while the ensemble runs (the
    members' own ``amp`` is restored afterwards); ``None`` leaves each member's own setting.
    Candidates are always scored in float32, so the image kept is the worst one at full
    precision.

    Arguments:
        attacks (list of DenoiseAttack): the members, all attacking the same model object.
        restarts (int): runs of each member that has a random start. (Default: 1)
        amp (str or None): ``"bf16"`` or ``None`` (each member's own). (Default: None)

    Shape:
        - noisy: :math:`(N, C, H, W)`.
        - clean (optional): :math:`(N, C, H, W)`, the clean images (targets in targeted mode).
        - output: :math:`(N, C, H, W)`, the adversarial noisy images.

    Examples::
        >>> import torch
        >>> from denoise_adv import DenoiseFGSM, DenoisePGD, DenoisePGDL2, WorstCase
        >>> from denoise_adv.models import DnCNN
        >>> model = DnCNN(depth=5, features=16).eval()
        >>> clean = torch.rand(2, 1, 32, 32)
        >>> noisy = clean + 25 / 255 * torch.randn_like(clean)
        >>> atk = WorstCase([DenoisePGD(model, steps=5),
        ...                  DenoisePGDL2(model, eps=2 / 255, alpha=0.5 / 255, steps=5,
        ...                               per_pixel=True),
        ...                  DenoiseFGSM(model)], restarts=2)
        >>> adv = atk(noisy, clean)
        >>> atk.last_winner.shape
        torch.Size([2])
    """

    def __init__(self, attacks: Sequence[DenoiseAttack], restarts: int = 1,
                 amp: str | None = None) -> None:
        members = _check_attacks(attacks)
        self._init_attack("WorstCase", members[0].model)
        self.amp = check_amp(amp)
        # A tuple: torchattacks registers attacks held in lists and forwards mode changes to
        # them, but the ensemble drives its members itself.
        self.attacks = members
        self._check_models()
        # members with a random start run once per restart (checked against the time budget)
        per_restart = sum(m._passes for m in members if not m.deterministic)
        self.restarts = check_iterations("restarts", restarts, passes_each=per_restart)
        self.supported_mode = ["default", "targeted"]
        self._last: WorstCaseResult | None = None

    @property
    def _needs_gradients(self) -> bool:  # type: ignore[override]
        return any(member._needs_gradients for member in self.attacks)

    @property
    def _passes(self) -> int:
        return sum(m._passes * (1 if m.deterministic else self.restarts) for m in self.attacks)

    @property
    def random_start(self) -> bool:
        """Whether every member starts at random (needed by the ``atk(noisy)`` form)."""
        return all(member.random_start for member in self.attacks)

    @property
    def params(self) -> dict[str, Any]:
        """The ensemble's hyperparameters and its members' as plain values."""
        return {"attack": self.attack, "mode": self.attack_mode, "restarts": self.restarts,
                "amp": self.amp, "attacks": [member.params for member in self.attacks]}

    @property
    def last_result(self) -> WorstCaseResult | None:
        """The details of the last call (``None`` before the first)."""
        return self._last

    @property
    def last_winner(self) -> torch.Tensor | None:
        """Per image, the index into ``attacks`` of the member that won the last call."""
        return None if self._last is None else self._last.winner

    def detailed(self, noisy: torch.Tensor, clean: torch.Tensor | None = None) -> WorstCaseResult:
        """Run the attack like ``atk(noisy, clean)`` and return the images with the details."""
        self(noisy, clean)
        return self._last

    def _check_models(self) -> None:
        for index, member in enumerate(self.attacks):
            if member.model is not self.model:
                raise ValueError(f"attacks[{index}] ({member.attack}) attacks a different model "
                                 "than the ensemble: every member must attack the same model "
                                 "object")

    def _reference(
        self, noisy: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, float]:
        if labels is None and not self.targeted:
            for index, member in enumerate(self.attacks):
                if not member.random_start:
                    raise ValueError(
                        f"WorstCase was called without a clean image, but attacks[{index}] "
                        f"({member.attack}) has no random start and would return its input "
                        "unchanged: pass the clean image, atk(noisy, clean), or drop it")
        return super()._reference(noisy, labels)

    @contextlib.contextmanager
    def _members_amp(self) -> Iterator[None]:
        """The ensemble's ``amp`` on every member for the duration of a call."""
        saved = [member.amp for member in self.attacks]
        if self.amp is not None:
            for member in self.attacks:
                member.amp = self.amp
        try:
            yield
        finally:
            for member, amp in zip(self.attacks, saved, strict=True):
                member.amp = amp

    def _run(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float) -> torch.Tensor:
        self._check_models()
        with self._members_amp():
            return self._run_members(noisy, reference, sign)

    def _run_members(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float
                     ) -> torch.Tensor:
        best_adv = best = winner = restart = None
        member_best = []
        for index, member in enumerate(self.attacks):
            runs = 1 if member.deterministic else self.restarts
            mine = None
            for run in range(runs):
                adv = member._run(noisy, reference, sign)
                with torch.no_grad():
                    score = sign * _score(self.get_logits(adv), reference)
                mine = score if mine is None else torch.maximum(mine, score)
                if best is None:
                    best_adv, best = adv, score
                    winner = torch.full_like(score, index, dtype=torch.long)
                    restart = torch.full_like(score, run, dtype=torch.long)
                    continue
                better = score > best
                best_adv = torch.where(better.view(-1, 1, 1, 1), adv, best_adv)
                best = torch.where(better, score, best)
                winner = torch.where(better, index, winner)
                restart = torch.where(better, run, restart)
            member_best.append(mine)
        self._last = WorstCaseResult(best_adv, winner, restart, sign * best,
                                     sign * torch.stack(member_best))
        return best_adv
