"""Merging rows into results: means with their intervals, sanity checks, the ranking.

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

Statistics (:mod:`denoise_adv.stats`: t-intervals, whose coverage at our sizes is tested by
simulation; the percentile and BCa bootstrap of schema 1 covered 86% at six images):

- each mean comes with its t-interval over the images (the images are what is resampled;
  the noise seed, the attacks' random starts and the weights are fixed);
- ``paired_vs_best``: a model's robust PSNR minus the best model's, with the paired
  t-interval of the per-image differences (:func:`paired_difference`);
- the ranking (:func:`rank_with_ties`): every pair of ranked models is compared by a paired
  t-test on the per-image robust PSNR, Holm-adjusted over all pairs (family-wise error
  ``1 - confidence``); a model's rank is 1 + the number of models significantly better
  (:func:`denoise_adv.stats.rank_groups`), shared ranks are ``"=k"``;
- ``results.json`` keeps each model's per-image values, every pair's test and the smallest
  difference the board detects at 80% power.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from .. import stats
from .protocol import BenchAttack, Protocol

__all__ = ["board_evidence", "build_results", "check_row", "image_interval",
           "paired_difference", "rank_with_ties", "sanity_checks", "summarize_model"]

#: Metrics of a row that get a mean and an interval.
METRICS = ("gaussian_psnr", "gaussian_ssim", "robust_psnr", "gap", "random_drop")


def image_interval(values: Sequence[float], protocol: Protocol) -> dict[str, Any]:
    """``{"mean", "low", "high", ...}``: the mean of ``values`` (one per image) and its
    t-interval at ``protocol.confidence`` (:func:`denoise_adv.stats.summarize`). One image:
    the interval is the value (``method`` ``"one image"``); a NaN among the values (the SSIM of
    images under 11 pixels, a protocol without random inputs): all NaN (``"undefined"``).

    Example:
        >>> from denoise_adv.benchmark import PROTOCOL_V1
        >>> {k: round(v, 3) for k, v in image_interval([29.0, 30.0, 31.0], PROTOCOL_V1).items()
        ...  if k in ("mean", "low", "high")}
        {'mean': 30.0, 'low': 27.516, 'high': 32.484}
    """
    x = [float(v) for v in values]
    if not x:
        raise ValueError("values must not be empty")
    if any(v != v for v in x):
        nan = float("nan")
        return {"mean": nan, "low": nan, "high": nan, "n": len(x), "method": "undefined"}
    if len(x) == 1:
        return {"mean": x[0], "low": x[0], "high": x[0], "n": 1, "method": "one image"}
    return stats.summarize(x, protocol.confidence)


def paired_difference(values: Sequence[float], best: Sequence[float], protocol: Protocol
                      ) -> dict[str, Any]:
    """The mean of ``values[i] - best[i]`` (one pair per image: a model's robust PSNR and the
    best model's on the same image) and its paired t-interval at ``protocol.confidence``
    (:func:`denoise_adv.stats.paired_interval`): ``{"mean", "low", "high", "method",
    "differences"}``. All differences equal: the interval is that point (``"exact"``); one
    image: the difference (``"one image"``).

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
    low, high = stats.paired_interval(a, b, protocol.confidence)
    return {**out, "low": low, "high": high, "method": "paired t"}


#: The PSNRs of a row: a NaN there is a broken model or row, never a number to average (a
#: NaN SSIM is legitimate: SSIM is undefined on images under 11 pixels).
PSNR_KEYS = ("gaussian_psnr", "robust_psnr", "psnr", "robust_psnr_by_budget")


def check_row(row: Mapping[str, Any], where: str) -> None:
    """Refuse a row whose PSNRs hold a NaN, in one line naming the row (``where``) and the
    entry, before it reaches a mean or an interval.

    Example:
        >>> check_row({"gaussian_psnr": float("nan")}, "m / camera / seed 0")
        Traceback (most recent call last):
        ...
        ValueError: row m / camera / seed 0: gaussian_psnr is NaN (a model that outputs NaN, or \
a damaged row); the statistics cannot use it
    """
    for key in PSNR_KEYS:
        value = row.get(key)
        values = value.items() if isinstance(value, Mapping) else [(None, value)]
        for name, v in values:
            if isinstance(v, float) and v != v:
                entry = key if name is None else f"{key}[{name!r}]"
                raise ValueError(f"row {where}: {entry} is NaN (a model that outputs NaN, or a "
                                 "damaged row); the statistics cannot use it")


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
    summary: dict[str, Any] = {"access": "black-box" if black_box else "white-box",
                               "upper_bound": black_box and not free,
                               "images": len({r["image"] for r in rows})}
    for metric in METRICS:
        summary[metric] = image_interval(_per_image(rows, metric), protocol)
    summary["robust_psnr_by_budget"] = {
        key: image_interval(_per_image(rows, "robust_psnr_by_budget", key), protocol)
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


def access_of(summary: Mapping[str, Any]) -> str:
    """A model's access under the protocol: ``"white-box"`` (its gradients are used) or
    ``"black-box"`` (forward passes only); summaries of schema 1 called it ``threat``.

    Example:
        >>> access_of({"access": "black-box"}), access_of({"threat": "white-box"})
        ('black-box', 'white-box')
    """
    return summary.get("access", summary.get("threat"))


def is_upper_bound(summary: Mapping[str, Any]) -> bool:
    """Whether a model summary's robust PSNR is only an upper bound (no white-box row);
    summaries written before ``upper_bound`` was recorded: black-box models."""
    return summary.get("upper_bound", access_of(summary) == "black-box")


def rank_models(summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The labels in leaderboard order: unflagged models with a white-box row by robust PSNR
    (best first), then flagged ones, then upper bounds (black-box models under v1)."""
    def key(label: str) -> tuple:
        s = summary[label]
        group = 2 if is_upper_bound(s) else int(s["flagged"])
        return (group, -s["robust_psnr"]["mean"])

    return sorted(summary, key=key)


def rank_with_ties(summary: dict[str, dict[str, Any]], robust: Mapping[str, Sequence[float]],
                   protocol: Protocol) -> list[str]:
    """Rank the models of ``summary`` in place and return the leaderboard order: the ranked
    models by ``(rank, -mean robust PSNR)``, then the unranked ones in :func:`rank_models`'
    order.

    ``robust``: per model, its per-image robust PSNR (the same images in the same order).
    Ranked models (unflagged, not upper bounds) get ``rank`` from
    :func:`denoise_adv.stats.rank_groups` (every pair by a paired t-test, Holm over all pairs
    at ``1 - protocol.confidence``; 1 + the number of models significantly better),
    ``rank_label`` (``"=k"`` for a shared rank) and ``paired_vs_best`` (the
    :func:`paired_difference` of its robust PSNR minus the best mean's). Ranks follow the
    evidence, so a model with the lower mean can share the better rank. Flagged models and
    upper bounds get ``rank`` ``None`` and ``rank_label`` ``"--"``.

    Example:
        >>> from denoise_adv.benchmark import PROTOCOL_V1
        >>> s = {m: {"flagged": False, "access": "white-box", "robust_psnr": {"mean": v}}
        ...      for m, v in (("a", 30.5), ("b", 30.4), ("c", 29.0))}
        >>> board = {"a": [31.0, 30.0, 29.5, 31.5], "b": [30.9, 29.9, 29.4, 31.4],
        ...          "c": [29.5, 28.4, 28.1, 30.0]}
        >>> rank_with_ties(s, board, PROTOCOL_V1), [s[m]["rank_label"] for m in "abc"]
        (['a', 'b', 'c'], ['1', '2', '3'])
    """
    order = rank_models(summary)
    ranked = [m for m in order if not summary[m]["flagged"]
              and not is_upper_bound(summary[m])]
    for label in order:
        summary[label].update(rank=None, rank_label="--")
    if not ranked:
        return order
    ranks = stats.rank_groups({m: robust[m] for m in ranked}, alpha=1 - protocol.confidence)
    labels = stats.rank_labels(ranks)
    for label in ranked:
        summary[label].update(rank=ranks[label], rank_label=labels[label], paired_vs_best={
            "best": ranked[0], **paired_difference(robust[label], robust[ranked[0]], protocol)})
    mean = {m: summary[m]["robust_psnr"]["mean"] for m in ranked}
    return sorted(ranked, key=lambda m: (ranks[m], -mean[m])) + [
        m for m in order if m not in ranks]


def board_evidence(robust: Mapping[str, Sequence[float]], ranked: Sequence[str],
                   protocol: Protocol) -> dict[str, Any]:
    """What the ranking rests on, for ``results.json``: every pair's paired t-test
    (Holm-adjusted) and the smallest difference the board detects at 80% power (``None``
    under two models or two images)."""
    board = {m: robust[m] for m in ranked}
    images = len(next(iter(board.values()), []))
    if len(board) < 2 or images < 2:
        return {"pairwise": [], "detectable_difference": None}
    return {"pairwise": stats.pairwise_tests(board, protocol.confidence),
            "detectable_difference": stats.board_detectable_difference(
                board, alpha=1 - protocol.confidence)}


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
    (:class:`~denoise_adv.evaluation.store.ResultsFolder`) for models ``info`` and ``images``.
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
                check_row(record["row"], f"{label} / {image} / seed {seed}")
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
    ranked = [m for m in order if summary[m]["rank"] is not None]
    return {"schema_version": SCHEMA_VERSION, "protocol": protocol.as_dict(),
            "seeds": {"noise_seeds": list(protocol.noise_seeds),
                      "attack_starts": "seeding stream 'attack' (noise seed, image, attack)",
                      "random_noise": "seeding stream 'baseline' (noise seed, image, attack)"},
            "statistics": {"resampled": "images (t-intervals over the per-image values)",
                           "fixed": ["noise seed", "attack random starts", "weights"],
                           "ranks": "paired t-tests of all pairs, Holm-adjusted",
                           "confidence": protocol.confidence,
                           **board_evidence(robust, ranked, protocol)},
            "per_image_values": {label: {"robust_psnr": robust[label], "gaussian_psnr":
                                         _per_image(by_model[label], "gaussian_psnr")}
                                 for label in info},
            "versions": _versions(), "device": _device(run), "images": list(images),
            "max_images": run.get("max_images"), "amp": run.get("amp"),
            "models": {k: dict(v) for k, v in info.items()},
            "reference": {"spec": protocol.reference,
                          "fingerprint": folder.meta["reference_fingerprint"]},
            "leaderboard": order, "summary": summary, "timing": timing,
            "per_image": [r for label in info for r in by_model[label]]}
