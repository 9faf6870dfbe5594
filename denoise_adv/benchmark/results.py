"""Merging rows into results: means with bootstrap intervals, sanity checks, the ranking.

Sanity checks against gradient masking (Athalye et al. 2018; Carlini et al. 2019, "On
evaluating adversarial robustness"), on mean PSNR drops with the protocol's ``tolerance_db``
of slack; a model failing any of them is *flagged*: listed, with its warnings, but not ranked.

- ``eps``: the drop grows (weakly) with the budget, for each attack family (same threat, kind,
  norm and iterations);
- ``steps``: it grows (weakly) with the gradient iterations at one budget and norm (FGSM = 1
  step, PGD 10, PGD 20; under v2 Auto-PGD's steps times restarts, so Auto-PGD must do at
  least as well as the PGD runs it outspends);
- ``order``: at each budget and norm, the strongest gradient (white-box) attack >= transfer >=
  random, and, where the protocol has Square (v2): white-box >= Square >= random (a
  score-based search that beats the gradients means masked gradients; one that does not
  beat random noise is broken). Black-box models: transfer >= random, Square >= random;
- ``loss``: every multi-step white-box attack's loss rose over its iterations on every image
  (Auto-PGD, Square: the best loss rose above the start's).

The ranking (:func:`rank_with_ties`): models are ordered by mean robust PSNR, and a model's
rank is shared with the models above it that the images cannot tell apart: the paired
bootstrap interval of the difference of robust PSNRs (the same image resamples for both
models, :func:`paired_difference`) contains 0.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from .. import seeding
from .protocol import BenchAttack, Protocol

__all__ = ["bootstrap_interval", "build_results", "paired_difference", "rank_with_ties",
           "sanity_checks", "summarize_model"]

#: Metrics of a row that get a mean and an interval.
METRICS = ("gaussian_psnr", "gaussian_ssim", "robust_psnr", "gap", "random_drop")


def bootstrap_interval(values: Sequence[float], protocol: Protocol) -> dict[str, float]:
    """``{"mean", "low", "high"}``: the mean of ``values`` (one per image) and its percentile
    bootstrap interval (``protocol.bootstrap`` resamples of the images with replacement, from
    the ``"bootstrap"`` stream of ``protocol.bootstrap_seed``: the same resamples for every
    model and metric, so intervals are paired).

    Example:
        >>> from denoise_adv.benchmark import PROTOCOL_V1
        >>> bootstrap_interval([1.0, 1.0], PROTOCOL_V1)
        {'mean': 1.0, 'low': 1.0, 'high': 1.0}
    """
    x = torch.tensor(list(values), dtype=torch.float64)
    if x.numel() == 0:
        raise ValueError("values must not be empty")
    generator = seeding.generator(protocol.bootstrap_seed, "bootstrap", x.numel())
    index = torch.randint(x.numel(), (protocol.bootstrap, x.numel()), generator=generator)
    means = x[index].mean(dim=1)
    tail = (1 - protocol.confidence) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return {"mean": x.mean().item(), "low": low.item(), "high": high.item()}


def paired_difference(values: Sequence[float], best: Sequence[float], protocol: Protocol
                      ) -> dict[str, Any]:
    """The mean of ``values[i] - best[i]`` (one pair per image: a model's robust PSNR and the
    best model's on the same image) and its paired bootstrap interval: ``{"mean", "low",
    "high", "method", "differences"}``.

    :func:`scipy.stats.bootstrap` with ``paired=True`` resamples the images, the same for both
    models, ``protocol.bootstrap`` times at ``protocol.confidence``, BCa (bias-corrected and
    accelerated) intervals, from a NumPy generator seeded by the ``"bootstrap"`` stream of
    ``protocol.bootstrap_seed`` and the number of images: every comparison of a run uses the
    same image resamples. Where BCa cannot be computed it says so in ``method``:

    - all differences equal (a model against itself, or identical per-image PSNRs): the
      bootstrap distribution is one point, so the interval is that point (``"exact"``);
    - one image: no resampling is possible; the interval is the difference (``"one image"``);
    - BCa undefined (its acceleration divides by zero when the jackknife values are equal,
      as on some two- or three-image sets): the percentile interval of the same resamples
      (``"percentile"``).

    Example:
        >>> from denoise_adv.benchmark import PROTOCOL_V1
        >>> d = paired_difference([30.0, 31.0, 29.0], [30.5, 31.5, 29.5], PROTOCOL_V1)
        >>> d["mean"], d["low"], d["high"], d["method"]
        (-0.5, -0.5, -0.5, 'exact')
    """
    a, b = np.asarray(values, dtype=np.float64), np.asarray(best, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"values and best must be non-empty lists of equal length, got "
                         f"{a.shape} and {b.shape}")
    diff = a - b
    out = {"mean": float(diff.mean()), "differences": diff.tolist()}
    if np.all(diff == diff[0]) or diff.size == 1:
        method = "exact" if diff.size > 1 else "one image"
        return {**out, "low": out["mean"], "high": out["mean"], "method": method}
    for method in ("BCa", "percentile"):
        low, high = _scipy_interval(a, b, protocol, method)
        if np.isfinite(low) and np.isfinite(high):
            return {**out, "low": low, "high": high, "method": method}
    raise RuntimeError("the bootstrap interval of the differences is not finite")  # unreachable


def _scipy_interval(a: np.ndarray, b: np.ndarray, protocol: Protocol, method: str
                    ) -> tuple[float, float]:
    from scipy.stats import bootstrap

    rng = np.random.default_rng(seeding.seed_of(protocol.bootstrap_seed, "bootstrap", a.size))
    with warnings.catch_warnings():  # an undefined BCa interval is NaN: the caller falls back
        warnings.simplefilter("ignore")
        result = bootstrap((a, b), _difference_of_means, paired=True, vectorized=True,
                           n_resamples=protocol.bootstrap, confidence_level=protocol.confidence,
                           method=method, random_state=rng)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _difference_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return x.mean(axis=axis) - y.mean(axis=axis)


def _per_image(rows: Sequence[dict[str, Any]], *path: str) -> list[float]:
    """One value per image (in the rows' order): ``row[path[0]][path[1]]...`` averaged over
    the image's noise seeds."""
    by_image: dict[str, list[float]] = {}
    for row in rows:
        value = row
        for key in path:
            value = value[key]
        by_image.setdefault(row["image"], []).append(value)
    return [sum(v) / len(v) for v in by_image.values()]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def summarize_model(rows: Sequence[dict[str, Any]], protocol: Protocol, black_box: bool
                    ) -> dict[str, Any]:
    """A model's summary: means and intervals of :data:`METRICS` and of the robust PSNR per
    budget, the mean PSNR and drop of each attack, how often each attack was the worst case,
    and the sanity-check warnings. ``upper_bound``: a black-box model under a protocol
    without gradient-free white-box attacks (v1) has no white-box row, so its robust PSNR is
    an upper bound (not ranked)."""
    free = any(a.gradient_free for a in protocol.attacks_of("white-box"))
    summary: dict[str, Any] = {"threat": "black-box" if black_box else "white-box",
                               "upper_bound": black_box and not free,
                               "images": len({r["image"] for r in rows})}
    for metric in METRICS:
        summary[metric] = bootstrap_interval(_per_image(rows, metric), protocol)
    summary["robust_psnr_by_budget"] = {
        key: bootstrap_interval(_per_image(rows, "robust_psnr_by_budget", key), protocol)
        for key in rows[0]["robust_psnr_by_budget"]}
    names = list(rows[0]["psnr"])
    summary["attack_psnr"] = {n: _mean(_per_image(rows, "psnr", n)) for n in names}
    gaussian = _mean(_per_image(rows, "gaussian_psnr"))
    summary["attack_drop"] = {n: gaussian - summary["attack_psnr"][n] for n in names}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["worst_attack"]] = counts.get(row["worst_attack"], 0) + 1
    summary["worst_attack_counts"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    failed = {n: sum(not r["loss_increased"][n] for r in rows) for n in rows[0]["loss_increased"]}
    summary["warnings"] = sanity_checks(summary["attack_drop"], failed, len(rows), protocol)
    summary["flagged"] = bool(summary["warnings"])
    return summary


def _warning(check: str, message: str) -> dict[str, str]:
    return {"check": check, "message": message}


def _monotone(drop: Mapping[str, float], chain: Sequence[BenchAttack], check: str, tol: float,
              what: str) -> list[dict[str, str]]:
    """A warning for each neighbour pair of ``chain`` whose mean drop falls by more than tol."""
    out = []
    for a, b in pairwise(chain):
        if drop[b.name] < drop[a.name] - tol:
            out.append(_warning(check, f"the drop falls with {what}: {b.name} "
                                f"{drop[b.name]:.3f} dB < {a.name} {drop[a.name]:.3f} dB"))
    return out


def sanity_checks(drop: Mapping[str, float], loss_failures: Mapping[str, int], runs: int,
                  protocol: Protocol) -> list[dict[str, str]]:
    """The warnings of one model (see the module docstring): ``drop`` is the mean PSNR drop
    per attack (only the attacks the model was scored on), ``loss_failures`` per multi-step
    white-box attack the number of rows (of ``runs``) where its loss did not rise."""
    tol, attacks = protocol.tolerance_db, [a for a in protocol.attacks if a.name in drop]
    warnings = []
    families: dict[tuple, list[BenchAttack]] = {}
    for a in attacks:
        families.setdefault((a.threat, a.kind, a.norm, a.iterations), []).append(a)
    for chain in families.values():
        warnings += _monotone(drop, sorted(chain, key=lambda a: a.eps), "eps", tol, "eps")
    lengths: dict[tuple, list[BenchAttack]] = {}
    for a in attacks:
        if a.threat == "white-box" and a.kind in ("pgd", "fgsm", "apgd"):
            lengths.setdefault((a.norm, a.eps), []).append(a)
    for chain in lengths.values():
        warnings += _monotone(drop, sorted(chain, key=lambda a: a.iterations), "steps", tol,
                              "steps")
    warnings += _order_checks(drop, attacks, tol)
    for name, failed in loss_failures.items():
        if failed:
            warnings.append(_warning("loss", f"the loss of {name} did not rise over its "
                                     f"iterations on {failed} of {runs} images"))
    return warnings


#: The pairs of the ``order`` check: (stronger, weaker) sides of one budget and norm.
ORDER = (("white-box", "transfer"), ("transfer", "random"), ("white-box", "random"),
         ("white-box", "square"), ("square", "random"))


def _side(attack: BenchAttack) -> str:
    """The side of the ``order`` check: Square apart from the gradient (white-box) attacks."""
    return "square" if attack.kind == "square" else attack.threat


def _order_checks(drop: Mapping[str, float], attacks: Sequence[BenchAttack], tol: float
                  ) -> list[dict[str, str]]:
    """:data:`ORDER` at each (norm, eps); each side is its strongest attack of that norm and
    budget (white-box: the gradient attacks)."""
    warnings = []
    for norm, eps in dict.fromkeys((a.norm, a.eps) for a in attacks):
        best = {}
        for side in ("white-box", "square", "transfer", "random"):
            same = [a for a in attacks if (_side(a), a.norm, a.eps) == (side, norm, eps)]
            if same:
                best[side] = max(same, key=lambda a: drop[a.name])
        for strong, weak in ORDER:
            if strong in best and weak in best:
                s, w = best[strong].name, best[weak].name
                if drop[s] < drop[w] - tol:
                    warnings.append(_warning("order", f"{strong} weaker than {weak}: {s} drops "
                                             f"{drop[s]:.3f} dB < {w} {drop[w]:.3f} dB"))
    return warnings


def is_upper_bound(summary: Mapping[str, Any]) -> bool:
    """Whether a model summary's robust PSNR is only an upper bound (no white-box row);
    summaries written before ``upper_bound`` was recorded: black-box models."""
    return summary.get("upper_bound", summary["threat"] == "black-box")


def rank_models(summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The labels in leaderboard order: unflagged models with a white-box row by robust PSNR
    (best first), then flagged ones, then upper bounds (black-box models under v1)."""
    def key(label: str) -> tuple:
        s = summary[label]
        group = 2 if is_upper_bound(s) else int(s["flagged"])
        return (group, -s["robust_psnr"]["mean"])

    return sorted(summary, key=key)


def _contains_zero(interval: Mapping[str, float]) -> bool:
    return interval["low"] <= 0.0 <= interval["high"]


def rank_with_ties(summary: dict[str, dict[str, Any]], robust: Mapping[str, Sequence[float]],
                   protocol: Protocol) -> list[str]:
    """Rank the models of ``summary`` in place and return the leaderboard order: the rank
    groups in rank order (each by robust PSNR, best first), then the unranked models in
    :func:`rank_models`' order. (A group's member can have a lower mean than a model of the
    next group: ties need not be transitive, and the board keeps each group together.)

    ``robust``: per model, its per-image robust PSNR (the same images in the same order).
    Ranked models (unflagged, not upper bounds) each get ``paired_vs_best``: the
    :func:`paired_difference` of its robust PSNR minus the best model's. Ranks are assigned
    group by group: the best model not yet ranked leads a group, and every model not yet
    ranked whose paired interval against that leader contains 0 joins it; they all get the
    competition rank of the leader (``rank``, an int) and, in a group of two or more,
    ``rank_label`` ``"=k"`` (``"k"`` alone otherwise). A member that is not the best model
    records its interval against its leader in ``paired_vs_leader``. Flagged models and
    upper bounds get ``rank`` ``None`` and ``rank_label`` ``"--"``.
    """
    order = rank_models(summary)
    ranked = [m for m in order if not summary[m]["flagged"]
              and not is_upper_bound(summary[m])]
    for label in order:
        summary[label].update(rank=None, rank_label="--", rank_leader=None)
    if not ranked:
        return order
    for label in ranked:
        summary[label]["paired_vs_best"] = {
            "best": ranked[0], **paired_difference(robust[label], robust[ranked[0]], protocol)}
    remaining, rank = list(ranked), 1
    while remaining:
        leader = remaining[0]
        group = [leader]
        for label in remaining[1:]:
            versus = (summary[label]["paired_vs_best"] if leader == ranked[0] else
                      {"leader": leader, **paired_difference(robust[label], robust[leader],
                                                             protocol)})
            if _contains_zero(versus):
                group.append(label)
                if leader != ranked[0]:
                    summary[label]["paired_vs_leader"] = versus
        for label in group:
            summary[label].update(rank=rank, rank_leader=leader,
                                  rank_label=f"={rank}" if len(group) > 1 else str(rank))
        rank += len(group)
        remaining = [m for m in remaining if m not in group]
    unranked = len(order)
    return sorted(order, key=lambda m: (summary[m]["rank"] or unranked, order.index(m)))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("denoise-adv", "torch", "torchattacks", "numpy", "scikit-image", "bm3d"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device(run: Mapping[str, Any]) -> dict[str, Any]:
    device = torch.device(run["device"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {"device": str(device), "name": name, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "world_size": run["world_size"]}


def build_results(folder, info: Mapping[str, Mapping[str, Any]], images: Sequence[str],
                  protocol: Protocol, run: Mapping[str, Any]) -> dict[str, Any]:
    """The content of ``results.json`` from the rows kept in ``folder``
    (:class:`~denoise_adv.benchmark.store.ResultsFolder`) for models ``info`` and ``images``.
    """
    from .store import SCHEMA_VERSION

    by_model: dict[str, list[dict[str, Any]]] = {}
    timing: dict[str, Any] = {}
    for label in info:
        seconds, mine = 0.0, by_model.setdefault(label, [])
        for image in images:
            for seed in protocol.noise_seeds:
                record = folder.load_row(label, image, seed)
                if record is None:
                    raise RuntimeError(f"row of {label} / {image} / seed {seed} is missing")
                mine.append(record["row"])
                seconds += record["seconds"]
        timing[label] = {"seconds": seconds, "rows": len(mine), "images_per_s": len(mine) /
                         seconds if seconds > 0 else float("nan")}
    transfer = [folder.transfer_seconds(i, s) for i in images for s in protocol.noise_seeds]
    timing["transfer_inputs"] = {"seconds": sum(t for t in transfer if t is not None),
                                 "images": sum(t is not None for t in transfer)}
    summary = {label: summarize_model(by_model[label], protocol, info[label]["black_box"])
               for label in info}
    # rows were read image by image, so _per_image gives the images in the same order
    robust = {label: _per_image(by_model[label], "robust_psnr") for label in info}
    order = rank_with_ties(summary, robust, protocol)
    return {"schema_version": SCHEMA_VERSION, "protocol": protocol.as_dict(),
            "seeds": {"noise_seeds": list(protocol.noise_seeds),
                      "attack_starts": "seeding stream 'attack' (noise seed, image, attack)",
                      "random_noise": "seeding stream 'baseline' (noise seed, image, attack)",
                      "bootstrap": f"seeding stream 'bootstrap' (seed "
                                   f"{protocol.bootstrap_seed}, number of images)"},
            "versions": _versions(), "device": _device(run), "images": list(images),
            "max_images": run.get("max_images"), "amp": run.get("amp"),
            "models": {k: dict(v) for k, v in info.items()},
            "reference": {"spec": protocol.reference,
                          "fingerprint": folder.meta["reference_fingerprint"]},
            "leaderboard": order, "summary": summary, "timing": timing,
            "per_image": [r for label in info for r in by_model[label]]}
