"""Scoring one image, written once (:func:`score_image`), and running a protocol: per image
and model the Gaussian and attacked PSNR and the worst case; the results folder (resumable);
sharding images across processes.

:func:`score_image` is the package's one per-image scorer: the seeded noisy input, each
attack's input crafted from it (its random start from the ``"attack"`` stream of (seed, image,
attack)), every model scored on every input.
:func:`~denoise_adv.evaluation.evaluate_robustness` is a loop of it over images. A protocol
row (:func:`evaluate_image`) draws and scores its inputs with the same functions
(:func:`~denoise_adv.evaluation.score`, the same seeded streams), then takes the worst case
per budget (a test checks that the two agree on every shared number).

Per image, model and noise seed (one *row*):

- ``gaussian_psnr`` / ``gaussian_ssim``: the output on ``clean + sigma * n`` (the noise of
  :func:`denoise_adv.analysis.noisy_image`, the same for every model);
- ``psnr[attack]``: the output PSNR under each attack of the protocol. White-box attacks run
  through :class:`~denoise_adv.attacks.WorstCase`, one ensemble per budget (each attack
  ``restarts`` times, its random start from the ``"attack"`` stream of (seed, image, attack));
  transfer inputs are crafted once per image on the reference model and scored on every model;
  random inputs come from the ``"baseline"`` stream. Black-box models (``differentiable =
  False``: BM3D, NL-means) get the gradient-free white-box attacks (v2's Square), the
  transfer and the random rows only (under v1: transfer and random only). A model that
  declares itself randomized (:func:`~denoise_adv.models.contract.is_randomized`) is
  attacked with EOT (each gradient the mean of the attack's ``eot`` passes);
- ``robust_psnr_by_budget[b]``: the worst case over every input of budget <= b (L-inf inputs
  count at their eps: the L-inf ball lies inside the per-pixel L2 ball);
- ``robust_psnr``, ``worst_attack``: that worst case at the protocol's headline budget;
  ``gap`` = ``gaussian_psnr - robust_psnr``; ``random_drop`` = ``gaussian_psnr`` minus the
  lowest random-noise PSNR at the headline budget;
- ``loss_increased[attack]``: whether each multi-step white-box attack's loss rose from its
  first to its last step, in every restart (a sanity check against gradient masking; for
  Auto-PGD and Square: whether the best loss rose above the starting point's).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import seeding
from .._amp import check_amp
from .._checks import check_int, check_module
from ..attacks import AttackSpec, WorstCase
from ..data import center_crop
from ..metrics import psnr
from ..models import is_differentiable
from ..models.contract import channels_of, is_randomized
from .inputs import Image, attack_generator, attacked_input, load_dataset, noisy_image, score
from .protocol import PROTOCOL_V1, SEARCH_KINDS, BenchAttack, Protocol, budget_key, get_protocol
from .report import write_outputs
from .results import build_results
from .store import ResultsFolder

__all__ = ["distributed", "evaluate_image", "fingerprint", "is_black_box", "is_randomized",
           "load_images", "run_benchmark", "score_image", "transfer_inputs"]

#: The set name of the noisy input itself (no attack may take it).
GAUSSIAN = "gaussian"


def load_images(protocol: Protocol, max_images: int | None = None) -> list[Image]:
    """The protocol's test images ``[(name, clean (C, H, W))]``, optionally the first
    ``max_images`` only."""
    images = load_dataset(protocol.data, protocol.channels)
    if protocol.images is not None:
        by_name = dict(images)
        missing = [n for n in protocol.images if n not in by_name]
        if missing:
            raise ValueError(f"protocol {protocol.version} names images that {protocol.data} "
                             f"does not hold: {missing}")
        images = [(n, by_name[n]) for n in protocol.images]
    if protocol.crop is not None:
        images = [(n, center_crop(img, protocol.crop)) for n, img in images]
    return _first(images, max_images)


def _first(images: list[Image], max_images: int | None) -> list[Image]:
    if max_images is None:
        return images
    return images[:check_int(max_images, "max_images", minimum=1)]


def is_black_box(model: nn.Module) -> bool:
    """Whether ``model`` is, or wraps, a module with ``differentiable = False`` (see
    :func:`denoise_adv.models.is_differentiable`)."""
    return not is_differentiable(model)


def _channels(model: nn.Module) -> int | None:
    """The channels the model, or the first of its modules that declares them, declares."""
    return next((c for m in model.modules() if (c := channels_of(m)) is not None), None)


def fingerprint(model: nn.Module) -> str:
    """A short hash of a model's ``repr`` (its modules and their settings: a baseline's
    sigma, an adapter's noise level) and weights: a results folder keeps finished rows only
    for the very same model."""
    digest = hashlib.sha256(repr(model).encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
                      .numpy().tobytes())
    return digest.hexdigest()[:16]


class _LossRecorder:
    """The attacks' default loss (MSE, mean) that also keeps its value at every step."""

    def __init__(self) -> None:
        self.values: list[torch.Tensor] = []

    def __call__(self, output: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        cost = F.mse_loss(output, reference)
        self.values.append(cost.detach())
        return cost

    def increased(self, steps: int, passes: int = 1) -> bool:
        """Whether the loss rose from the first to the last step of every run (``passes``
        values a step, with EOT: their mean)."""
        values = torch.stack(self.values).cpu().view(-1, steps, passes).mean(dim=2).tolist()
        return all(run[-1] > run[0] for run in values)


def _search_increased(atk) -> bool:
    """Auto-PGD's and Square's check: in every restart, the best loss rose above the
    starting point's (their :attr:`last_losses` are the best so far)."""
    losses = atk.last_losses
    return bool((losses[:, -1] > losses[:, 0]).all())


def _db(mse: torch.Tensor) -> float:
    """PSNR (peak 1) of an MSE, as :func:`denoise_adv.metrics.psnr` computes it."""
    return (10.0 * torch.log10(1.0 / mse)).item()


@torch.no_grad()
def _psnr(model: nn.Module, inputs: torch.Tensor, clean: torch.Tensor) -> float:
    return psnr(model(inputs).float().clamp(0, 1), clean.float()).item()


# ------------------------------------------------------------------ the one per-image scorer
def _check_attacks(attacks: object) -> Mapping[str, AttackSpec]:
    if not isinstance(attacks, Mapping):
        raise TypeError(f"attacks must be a mapping {{name: AttackSpec}}, got "
                        f"{type(attacks).__name__}")
    for name, spec in attacks.items():
        if not isinstance(name, str) or not isinstance(spec, AttackSpec):
            raise TypeError(f"attacks must map names (str) to AttackSpec values, got "
                            f"{name!r}: {type(spec).__name__}")
    if GAUSSIAN in attacks:
        raise ValueError(f"attacks may not be named {GAUSSIAN!r}: that set is the noisy input")
    return attacks


def _craft(model: nn.Module, start: torch.Tensor, clean: torch.Tensor, image: str, seed: int,
           attacks: Mapping[str, AttackSpec], amp: str | None = None) -> dict[str, torch.Tensor]:
    """Each attack's input ``{name: (1, C, H, W)}``, crafted on ``model`` from ``start`` (the
    noisy input), its random start from the ``"attack"`` stream of (seed, image, name)."""
    crafted = {}
    for name, spec in attacks.items():
        spec = spec if amp is None else replace(spec, amp=amp)  # amp overrides the spec's own
        crafted[name] = spec.build(model, attack_generator(seed, image, name))(start, clean)
    return crafted


def _score_inputs(models: Mapping[str, nn.Module], inputs: Mapping[str, torch.Tensor],
                  clean: torch.Tensor, image: str, tagged: bool) -> list[dict[str, Any]]:
    """One row per model and input, model by model: ``{("model",) "image", "set", "psnr",
    "ssim", "mae"}`` (:func:`~denoise_adv.evaluation.score`)."""
    return [{**({"model": label} if tagged else {}), "image": image, "set": name,
             **score(denoiser, x, clean)}
            for label, denoiser in models.items() for name, x in inputs.items()]


def score_image(model: nn.Module, clean: torch.Tensor, image: str, seed: int, sigma: float,
                attacks: Mapping[str, AttackSpec],
                references: Mapping[str, nn.Module] | None = None, amp: str | None = None
                ) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """Score one image: its noisy input, each attack's input crafted on ``model`` from it, and
    every model on every input (the package's one per-image scorer).

    Args:
        model: the attacked denoiser (noisy -> clean).
        clean: the clean image, (1, C, H, W).
        image: its name (keys its noise and the attacks' random starts).
        seed: seed of the noise (:func:`~denoise_adv.evaluation.noisy_image`) and of each
            attack's random start (:func:`~denoise_adv.evaluation.attack_generator` of
            (seed, image, name)).
        sigma: noise level, [0, 1] units.
        attacks: ``{name: AttackSpec}``, each crafted from the noisy input with ``model``'s
            own gradients (``{}``: the Gaussian input only).
        references: ``{name: denoiser}`` also scored on every input (transfer); with them
            every row has ``"model"`` (``"model"`` for ``model``).
        amp: crafts every attack under this precision (overriding the specs' own ``amp``);
            ``None`` keeps each spec's. Scores are float32 forwards either way.

    Returns:
        The rows, model by model and input by input: ``{("model",) "image", "set", "psnr",
        "ssim", "mae"}`` with ``set`` ``"gaussian"`` or an attack's name; and the inputs
        ``{set: (1, C, H, W)}``.

    Raises:
        TypeError: ``attacks`` is not a mapping of names to :class:`AttackSpec` values.
        ValueError: an attack named ``"gaussian"``, or a reference named ``"model"``.

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> rows, inputs = score_image(DnCNN(depth=3, features=4).eval(),
        ...                            torch.rand(1, 1, 16, 16), "x", 0, 25 / 255,
        ...                            {"linf": AttackSpec("linf", steps=2)})
        >>> [r["set"] for r in rows], sorted(inputs)
        (['gaussian', 'linf'], ['gaussian', 'linf'])
    """
    attacks = _check_attacks(attacks)
    if references and "model" in references:
        raise ValueError("references may not be named 'model': that label is the attacked "
                         "model's")
    noisy = noisy_image(clean, sigma, seed, image)
    inputs = {GAUSSIAN: noisy, **_craft(model, noisy, clean, image, seed, attacks, amp)}
    scored = {"model": model, **(references or {})}
    return _score_inputs(scored, inputs, clean, image, tagged=bool(references)), inputs


def _white_box(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, image: str,
               seed: int, protocol: Protocol, amp: str | None) -> tuple[dict, dict, list]:
    """White-box PSNR per attack, loss increase per multi-step attack, and per budget the
    worst ``(eps, attack, psnr, input)`` of one :class:`WorstCase` ensemble. Black-box models
    get the gradient-free attacks only; randomized ones get EOT."""
    psnrs, increased, worst = {}, {}, []
    black_box, randomized = is_black_box(model), is_randomized(model)
    for eps in protocol.budgets:
        group = [a for a in protocol.attacks_of("white-box")
                 if a.eps == eps and (a.gradient_free or not black_box)]
        if not group:
            continue
        members, owners, built, recorders = [], [], {}, {}
        for attack in group:
            search = attack.kind in SEARCH_KINDS
            recorders[attack.name] = None if search else _LossRecorder()
            atk = attack.build(model, attack_generator(seed, image, attack.seed_key),
                               loss=recorders[attack.name], amp=amp, randomized=randomized)
            runs = attack.runs if atk.random_start else 1
            members += [atk] * runs
            owners += [attack.name] * runs
            built[attack.name] = atk
        result = WorstCase(members).detailed(noisy, clean)
        for attack in group:
            mine = [result.member_mse[i, 0] for i, o in enumerate(owners) if o == attack.name]
            psnrs[attack.name] = _db(torch.stack(mine).max())
            if attack.kind in SEARCH_KINDS:
                increased[attack.name] = _search_increased(built[attack.name])
            elif attack.steps > 1:
                passes = getattr(built[attack.name], "eot_iter", 1)
                increased[attack.name] = recorders[attack.name].increased(attack.steps, passes)
        worst.append((eps, owners[int(result.winner[0])], _db(result.mse[0]), result.adv))
    return psnrs, increased, worst


def transfer_inputs(reference: nn.Module, clean: torch.Tensor, image: str, seed: int,
                    protocol: Protocol, amp: str | None = None) -> dict[str, torch.Tensor]:
    """The transfer attacks' adversarial inputs of one image (1, C, H, W), crafted on
    ``reference`` (CPU tensors, keyed by attack name)."""
    noisy = attacked_input(clean, protocol.sigma, seed, image, protocol.task)
    return {a.name: a.build(reference, attack_generator(seed, image, a.seed_key), amp=amp)(
        noisy, clean).cpu() for a in protocol.attacks_of("transfer")}


def _random_input(attack: BenchAttack, noisy: torch.Tensor, image: str, seed: int
                  ) -> torch.Tensor:
    generator = seeding.generator(seed, "baseline", image, attack.seed_key)
    return noisy + attack.random_delta(noisy, generator)


def evaluate_image(model: nn.Module, clean: torch.Tensor, image: str, seed: int,
                   protocol: Protocol, transfer: Mapping[str, torch.Tensor],
                   amp: str | None = None) -> tuple[dict[str, Any], torch.Tensor]:
    """One row (see the module docstring) and the denoised worst-case output (1, C, H, W) at
    the headline budget, for image ``image`` (``clean``: (1, C, H, W) on the model's device)
    under noise seed ``seed``; ``transfer``: :func:`transfer_inputs` of that image; ``amp``:
    the white-box attacks' mixed precision (every score is a float32 forward)."""
    noisy = attacked_input(clean, protocol.sigma, seed, image, protocol.task)
    gauss = score(model, noisy, clean)
    psnrs, increased, candidates = _white_box(model, noisy, clean, image, seed, protocol, amp)
    for attack in protocol.attacks:
        if attack.threat == "white-box":
            continue
        inputs = (transfer[attack.name].to(clean.device) if attack.threat == "transfer"
                  else _random_input(attack, noisy, image, seed))
        psnrs[attack.name] = _psnr(model, inputs, clean)
        candidates.append((attack.eps, attack.name, psnrs[attack.name], inputs))
    by_budget = {budget_key(b): min(c[2] for c in candidates if c[0] <= b + 1e-12)
                 for b in protocol.budgets}
    headline = min((c for c in candidates if c[0] <= protocol.headline_budget + 1e-12),
                   key=lambda c: c[2])
    random = [psnrs[a.name] for a in protocol.attacks_of("random")
              if abs(a.eps - protocol.headline_budget) < 1e-12]
    row = {"image": image, "noise_seed": seed, "gaussian_psnr": gauss["psnr"],
           "gaussian_ssim": gauss["ssim"],
           "psnr": {a.name: psnrs[a.name] for a in protocol.attacks if a.name in psnrs},
           "robust_psnr": headline[2], "worst_attack": headline[1],
           "robust_psnr_by_budget": by_budget, "gap": gauss["psnr"] - headline[2],
           "random_drop": gauss["psnr"] - min(random) if random else float("nan"),
           "loss_increased": increased}
    with torch.no_grad():
        output = model(headline[3]).float().clamp(0, 1).cpu()
    return row, output


# ------------------------------------------------------------------------------ the run
def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextlib.contextmanager
def distributed() -> Iterator[tuple[int, int]]:
    """Join the process group when started by ``torchrun`` (gloo on the CPU, nccl on CUDA)
    and leave it afterwards; yields ``(rank, world size)`` ((0, 1) otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    started = world > 1 and not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo",
                                timeout=datetime.timedelta(hours=24))
    try:
        yield _rank_world()
    finally:
        if started:
            dist.destroy_process_group()


def _check_models(models: Mapping[str, nn.Module], protocol: Protocol) -> None:
    if not models:
        raise ValueError("models must hold at least one model")
    for label, model in models.items():
        check_module(model, f"models[{label!r}]")
        channels = _channels(model)
        if channels is not None and channels != protocol.channels:
            raise ValueError(f"model {label} takes {channels}-channel images but protocol "
                             f"{protocol.version} uses {protocol.channels}-channel images")


def _check_images(images: Sequence[Image], protocol: Protocol) -> None:
    names = [name for name, _ in images]
    if len(set(names)) != len(names):
        raise ValueError(f"images must have distinct names (they key the noise and the rows), "
                         f"got {names}")
    for name, image in images:
        if image.dim() != 3 or image.shape[0] != protocol.channels:
            raise ValueError(f"image {name} has shape {tuple(image.shape)}, but protocol "
                             f"{protocol.version} uses ({protocol.channels}, H, W) images")


def _load_reference(protocol: Protocol, device: torch.device) -> nn.Module:
    from ..models import as_denoiser, load_model_spec

    if protocol.task is not None:  # the transfer source is the task's pipeline around it
        from ..restoration import load_pipeline

        return load_pipeline(protocol.reference, protocol.task, protocol.channels,
                             protocol.sigma, device).model.eval()
    model, _ = load_model_spec(protocol.reference, protocol.sigma, map_location=device,
                               channels=protocol.channels)
    return as_denoiser(model, protocol.sigma).to(device).eval()


def run_benchmark(
    models: Mapping[str, nn.Module],
    out: str | os.PathLike,
    protocol: Protocol | str = PROTOCOL_V1,
    *,
    reference: nn.Module | None = None,
    images: Sequence[Image] | None = None,
    max_images: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    model_info: Mapping[str, Mapping[str, Any]] | None = None,
    docs: str | os.PathLike | None = None,
    figures: bool = True,
    amp: str | None = None,
) -> dict[str, Any] | None:
    """Run ``protocol`` on ``models`` and write the results folder ``out``.

    Finished (model, image, seed) rows are kept in ``out`` as they finish and skipped by a
    rerun; under ``torchrun`` (see :func:`distributed`) each process takes every
    ``world``-th image and process 0 merges the rows. Process 0 then writes ``results.json``,
    ``leaderboard.md`` and the figures (and ``docs``: the leaderboard as reStructuredText).

    Models and the reference are moved to ``device`` and put in eval mode (in place).

    Args:
        models: ``{label: denoiser}`` (noisy -> clean, fixed at the protocol's sigma).
        out: the results folder.
        protocol: a :class:`Protocol` or a version name (``"v1"``).
        reference: the transfer source (default: the protocol's ``reference`` spec).
        images: ``[(name, clean)]`` instead of the protocol's images (tests, custom sets).
        max_images: use the first images only (a smoke run; results say so).
        device: where models and images run.
        progress: tqdm bar.
        model_info: ``{label: {...}}`` recorded with each model (its spec, metadata).
        docs: also write the leaderboard table (reStructuredText) to this file.
        figures: write the figures.
        amp: ``"bf16"``: attacks craft under bfloat16 autocast (scores stay float32); the
            folder records it and refuses rows of another precision.

    Returns:
        The results (as in ``results.json``) on process 0, ``None`` on the others.

    Example:
        >>> import tempfile
        >>> from denoise_adv.models import DnCNN
        >>> from denoise_adv.benchmark import PROTOCOL_V1_QUICK
        >>> model = DnCNN(depth=3, features=4).eval()
        >>> res = run_benchmark({"tiny": model}, tempfile.mkdtemp(), PROTOCOL_V1_QUICK,
        ...                     reference=model, max_images=1, progress=False, figures=False)
        >>> res["per_image"][0]["robust_psnr"] <= res["per_image"][0]["psnr"]["fgsm-2"]
        True
    """
    protocol, device, amp = get_protocol(protocol), torch.device(device), check_amp(amp)
    _check_models(models, protocol)
    rank, world = _rank_world()
    images = load_images(protocol, max_images) if images is None else _first(list(images),
                                                                               max_images)
    _check_images(images, protocol)
    if reference is None:
        reference = _load_reference(protocol, device)
    _check_models({f"reference {protocol.reference}": reference}, protocol)
    models = {label: m.to(device).eval() for label, m in models.items()}
    reference = reference.to(device).eval()
    folder = ResultsFolder(out, protocol, fingerprint(reference), amp)
    prints = {label: fingerprint(m) for label, m in models.items()}
    folder.open(prints, write=rank == 0, images=images)  # locks out until close()
    try:
        _run_shard(folder, models, images[rank::world], reference, protocol, device, progress,
                   amp)
        if world > 1:
            dist.barrier()
        if rank != 0:
            return None
        info = {label: {"fingerprint": prints[label], "black_box": is_black_box(m),
                        "randomized": is_randomized(m), **dict((model_info or {}).get(label, {}))}
                for label, m in models.items()}
        results = build_results(folder, info, [n for n, _ in images], protocol,
                                {"device": str(device), "world_size": world,
                                 "max_images": max_images, "amp": amp})
        write_outputs(results, folder, images, docs=docs, figures=figures)
        return results
    finally:
        folder.close()


def _run_shard(folder: ResultsFolder, models: Mapping[str, nn.Module], images: list[Image],
               reference: nn.Module, protocol: Protocol, device: torch.device,
               progress: bool, amp: str | None) -> None:
    """This process's images: every missing row, transfer inputs crafted (or read) once."""
    todo = [(name, clean, seed, [lb for lb in models if not folder.has_row(lb, name, seed)])
            for name, clean in images for seed in protocol.noise_seeds]
    todo = [t for t in todo if t[3]]
    bar = tqdm(total=sum(len(t[3]) for t in todo), desc=f"benchmark {protocol.version}",
               disable=not progress)
    for name, clean, seed, labels in todo:
        clean = clean[None].to(device)
        transfer = folder.load_transfer(name, seed)
        if transfer is None:
            start = time.perf_counter()
            transfer = transfer_inputs(reference, clean, name, seed, protocol, amp)
            folder.save_transfer(name, seed, transfer, time.perf_counter() - start)
        for label in labels:
            bar.set_postfix_str(f"{label} / {name}")
            start = time.perf_counter()
            row, output = evaluate_image(models[label], clean, name, seed, protocol, transfer,
                                         amp)
            folder.save_row(label, name, seed, {"model": label, **row}, output,
                            time.perf_counter() - start)
            bar.update()
    bar.close()
