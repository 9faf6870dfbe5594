"""Robustness evaluation (paper Tables 2-3) and fixed adversarial sets (Set12-Adv)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks import AttackSpec, load_adversarial_set, save_adversarial_set
from ..noise import DEFAULT_SIGMA
from .inputs import Image, attack_generator, load_dataset, noisy_image, score
from .runner import score_image

__all__ = [
    "evaluate_adversarial_set",
    "evaluate_robustness",
    "make_adversarial_set",
    "summarize",
]

METRICS = ("psnr", "ssim", "mae")


def evaluate_robustness(
    model: nn.Module,
    dataset: str | Sequence[Image],
    sigma: float = DEFAULT_SIGMA,
    attacks: Mapping[str, AttackSpec] | Sequence[str] = ("linf", "l2"),
    seed: int = 0,
    channels: int = 1,
    progress: bool = True,
    references: Mapping[str, nn.Module] | None = None,
    keep_inputs: dict[tuple[str, str], torch.Tensor] | None = None,
    amp: str | None = None,
) -> list[dict[str, Any]]:
    """Score ``model`` per image on Gaussian noise and on white-box adversarial versions of it.

    For image ``i`` the noisy input is ``clean + sigma * n_i`` with ``n_i`` drawn from
    ``(seed, i)``; each attack starts from that input (its random start drawn from
    ``(seed, i, attack)``) with the model's own gradients. A loop of
    :func:`~denoise_adv.evaluation.score_image` (the one per-image scorer) over the images.

    Args:
        model: denoiser (noisy -> clean).
        dataset: images (folder, ``builtin:test``...) or a list of ``(name, clean)``.
        sigma: noise level, [0, 1] units.
        attacks: names ``"linf"`` / ``"l2"`` (protocol defaults; also ``"apgd-linf"``,
            ``"square-l2"``... see :meth:`AttackSpec.named`) or ``{name: AttackSpec}``.
        seed: seed of noise and random starts.
        channels: image channels to load.
        progress: tqdm bar over the images.
        references: ``{name: denoiser}`` scored on the same inputs: the Gaussian ones and the
            adversarial ones crafted on ``model`` (transfer), e.g. BM3D and NL-means.
        keep_inputs: a dict to fill with every input scored, ``{(image, set): (1, C, H, W)}``
            (for figures that show them without crafting them again).
        amp: ``"bf16"`` crafts every attack under bfloat16 autocast (overriding the specs'
            own ``amp``); ``None`` keeps each spec's. The scores are float32 forwards either way.

    Returns:
        One row per image and input set: ``{"image", "set", "psnr", "ssim", "mae"}`` with
        ``set`` in ``"gaussian"`` and the attack names; with ``references`` every row also has
        ``"model"`` (``"model"`` for ``model``, else the reference's name).

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> rows = evaluate_robustness(DnCNN(depth=3, features=4).eval(),
        ...                            [("x", torch.rand(1, 16, 16))], progress=False)
        >>> [r["set"] for r in rows]
        ['gaussian', 'linf', 'l2']
    """
    if not isinstance(attacks, Mapping):
        attacks = {name: AttackSpec.named(name) for name in attacks}
    images = load_dataset(dataset, channels)
    rows = []
    for name, clean in tqdm(images, desc="evaluate", disable=not progress):
        found, inputs = score_image(model, clean[None], name, seed, sigma, attacks, references,
                                    amp)
        if keep_inputs is not None:
            keep_inputs.update({(name, s): x.detach() for s, x in inputs.items()})
        rows += found
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean metrics per input set (and per model, when rows have a ``"model"`` key), with the
    drop from the same model's Gaussian set (the paper's RES).

    Returns one row per (model,) set: ``{("model",) "set", "psnr", "ssim", "mae", "psnr_drop",
    "ssim_drop"}``.
    """
    keys = list(dict.fromkeys((r.get("model"), r["set"]) for r in rows))
    means = {}
    for key in keys:
        selected = [r for r in rows if (r.get("model"), r["set"]) == key]
        means[key] = {m: sum(r[m] for r in selected) / len(selected) for m in METRICS}
    out = []
    for model, s in keys:
        row = ({"model": model} if model is not None else {}) | {"set": s, **means[model, s]}
        base = means.get((model, "gaussian"))
        if base is not None:
            row["psnr_drop"] = base["psnr"] - means[model, s]["psnr"]
            row["ssim_drop"] = base["ssim"] - means[model, s]["ssim"]
        out.append(row)
    return out


def make_adversarial_set(
    model: nn.Module,
    dataset: str | Sequence[Image],
    path: str | os.PathLike,
    sigma: float = DEFAULT_SIGMA,
    attack: AttackSpec | None = None,
    seed: int = 0,
    channels: int = 1,
    meta: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> Path:
    """Craft the adversarial set of ``dataset`` once on a source ``model`` and save it.

    ``attack`` defaults to the protocol's L-inf :class:`AttackSpec`. The file (format of
    :mod:`denoise_adv.attacks.io`, written atomically) holds the adversarial noisy images, the
    clean images and the Gaussian noisy inputs they started from (``clean_inputs``), with a
    manifest in ``meta``: image names, sigma, attack parameters, seed, and whatever ``meta``
    adds (the source checkpoint, say). All images must share one size.
    """
    attack = attack if attack is not None else AttackSpec()
    images = load_dataset(dataset, channels)
    if len({tuple(img.shape) for _, img in images}) != 1:
        raise ValueError("an adversarial set needs images of one size; crop or resize them")
    advs, cleans, noisies = [], [], []
    for name, clean in tqdm(images, desc="make-adv", disable=not progress):
        clean = clean[None]
        noisy = noisy_image(clean, sigma, seed, name)
        adv = attack.build(model, attack_generator(seed, name, attack.key))(noisy, clean)
        advs.append(adv.cpu())
        cleans.append(clean)
        noisies.append(noisy)
    manifest = {"images": [n for n, _ in images], "sigma": sigma, "seed": seed,
                "attack_protocol": attack.as_dict(), "shape": list(images[0][1].shape),
                **(meta or {})}
    return save_adversarial_set(path, torch.cat(advs), torch.cat(cleans), manifest,
                                clean_inputs=torch.cat(noisies))


def evaluate_adversarial_set(
    model: nn.Module,
    path: str | os.PathLike,
    sigma: float | None = None,
    shape: Sequence[int] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Score ``model`` on a saved adversarial set (the fixed-set / transfer protocol).

    Rows as :func:`evaluate_robustness`: the set's Gaussian inputs (``"gaussian"``) and its
    adversarial inputs (named by the set's attack norm).

    The set is checked (:func:`~denoise_adv.attacks.load_adversarial_set`: every field, one
    entry per image, the perturbation within its recorded budget); it must record the
    ``sigma`` it was made for, and its Gaussian inputs must carry noise of that level.

    Raises:
        ValueError: a damaged or edited set, or one made for another ``sigma`` or another
            image ``shape`` (C, H, W) than the caller expects.
    """
    payload = load_adversarial_set(path)
    meta = payload["meta"]
    if "clean_inputs" not in payload:
        raise ValueError(f"{path} has no Gaussian inputs (clean_inputs); make it with make-adv")
    _check_noise_level(payload, path)
    if sigma is not None and abs(meta["sigma"] - sigma) > 1e-9:
        raise ValueError(f"{path} was made for sigma {meta['sigma'] * 255:g}/255, not "
                         f"{sigma * 255:g}/255")
    got = tuple(payload["adv_inputs"].shape[1:])
    if shape is not None and tuple(shape) != got:
        raise ValueError(f"{path} holds images of shape {got}, not {tuple(shape)}")
    recorded = meta.get("attack_protocol", {})
    name = recorded.get("norm", "adversarial")
    if recorded.get("kind", "pgd") != "pgd":  # apgd-linf, square-l2...
        name = f"{recorded['kind']}-{name}"
    names = meta.get("images") or [str(i) for i in range(len(payload["adv_inputs"]))]
    rows = []
    triples = zip(names, payload["clean_inputs"], payload["adv_inputs"], payload["labels"],
                  strict=True)
    for image, noisy, adv, clean in tqdm(list(triples), desc="score", disable=not progress):
        rows.append({"image": image, "set": "gaussian",
                     **score(model, noisy[None], clean[None])})
        rows.append({"image": image, "set": name, **score(model, adv[None], clean[None])})
    return rows


def _check_noise_level(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """The set records its sigma, and the noise of its Gaussian inputs has that level (RMS
    within six standard errors: a relative error of 6/sqrt(2n) over n values)."""
    meta = payload["meta"]
    if "sigma" not in meta:
        raise ValueError(f"{path} records no sigma (meta 'sigma'); make it with make-adv")
    noise = (payload["clean_inputs"].double() - payload["labels"].double())
    rms, n = noise.pow(2).mean().sqrt().item(), noise.numel()
    if abs(rms - meta["sigma"]) > 6 * meta["sigma"] / math.sqrt(2 * n) + 1e-6:
        raise ValueError(f"{path} records sigma {meta['sigma'] * 255:.4g}/255 but its Gaussian "
                         f"inputs carry noise of RMS {rms * 255:.4g}/255; the file was edited")
