"""Transferability between models (paper section 2.7, eq. 9).

Eq. 9 was lost from our copy of the paper; the reading here: adversarial noisy images crafted
white-box on a *source* model transfer to a *target* model when the target's output PSNR drops
by more than ``threshold`` dB compared with the same Gaussian noisy input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn
from tqdm.auto import tqdm

from .. import seeding
from .._checks import check_real
from ..attacks import AttackSpec
from ..evaluation.inputs import (
    Image,
    attack_generator,
    load_dataset,
    noisy_image,
    random_perturbation,
    random_perturbation_like,
    score,
)
from ..models import is_differentiable
from ..noise import DEFAULT_SIGMA

__all__ = ["random_perturbation", "random_perturbation_like", "transfer_matrix"]


def transfer_matrix(
    models: Mapping[str, nn.Module],
    dataset: str | Sequence[Image],
    attack: AttackSpec | None = None,
    threshold: float = 0.1,
    sigma: float = DEFAULT_SIGMA,
    seed: int = 0,
    channels: int = 1,
    progress: bool = True,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Craft adversarial samples on each source model and score them on every target.

    Black-box models (``differentiable = False``: BM3D, NL-means) cannot be attacked with their
    own gradients: they are targets only.

    Args:
        models: ``{name: denoiser}``, every one a target.
        dataset: images or ``(name, clean)`` pairs.
        attack: the attack protocol (default L-inf, 2/255, 10 steps).
        threshold: PSNR drop (dB) above which a transfer counts as successful.
        sigma: noise level.
        seed: seed of noise, random starts and the random baseline.
        channels: image channels.
        progress: tqdm bar.
        sources: the names of the models to craft on (default: every differentiable model).

    Returns:
        A dict: ``names`` (the targets); ``sources``; ``drop[source][target]``, the mean PSNR
        drop in dB; ``success``, the same indices, whether the drop exceeds ``threshold``;
        ``baseline[target]``, the mean drop under random perturbations of the attacks' size;
        ``clean_psnr[target]``, the mean PSNR on Gaussian noise; ``threshold``; ``attack``.
        ``drop[m][m]`` is model ``m``'s white-box drop.
    """
    attack = attack if attack is not None else AttackSpec()
    threshold = check_real(threshold, "threshold")  # a NaN threshold would count nothing
    images = load_dataset(dataset, channels)
    names = list(models)
    sources = _sources(models, sources)
    noisy_inputs = [noisy_image(clean[None], sigma, seed, name) for name, clean in images]
    gauss = [{t: score(models[t], noisy, clean[None])["psnr"] for t in names}
             for noisy, (_, clean) in zip(noisy_inputs, images)]
    drop = {s: {t: 0.0 for t in names} for s in sources}
    baseline = {t: 0.0 for t in names}
    pairs = [(s, i) for s in sources for i in range(len(images))]
    for source, index in tqdm(pairs, desc="transfer", disable=not progress):
        (image, clean), noisy = (images[index][0], images[index][1][None]), noisy_inputs[index]
        adv = attack.build(models[source], attack_generator(seed, image, attack.norm))(
            noisy, clean).cpu()
        for t in names:
            drop[source][t] += (gauss[index][t] - score(models[t], adv, clean)["psnr"]) / len(
                images)
        if source == sources[0]:  # one random baseline per image, sized like the attack
            rand = noisy + random_perturbation_like(adv - noisy, attack.norm,
                                       seeding.generator(seed, "baseline", image, attack.norm))
            for t in names:
                baseline[t] += (gauss[index][t] - score(models[t], rand, clean)["psnr"]) / len(
                    images)
    base = {t: sum(g[t] for g in gauss) / len(images) for t in names}
    success = {s: {t: drop[s][t] > threshold for t in names} for s in sources}
    return {"names": names, "sources": sources, "drop": drop, "success": success,
            "baseline": baseline, "clean_psnr": base, "threshold": threshold,
            "attack": attack.as_dict()}


def _sources(models: Mapping[str, nn.Module], sources: Sequence[str] | None) -> list[str]:
    if sources is None:
        sources = [name for name, model in models.items() if is_differentiable(model)]
        if not sources:
            raise ValueError("transfer needs at least one differentiable model to craft on; "
                             f"{', '.join(models)} are black-box (targets only)")
        return sources
    unknown = [s for s in sources if s not in models]
    black_box = [s for s in sources if s in models and not is_differentiable(models[s])]
    if unknown or black_box or not sources:
        raise ValueError(f"sources must name differentiable models of models; unknown "
                         f"{unknown}, black-box {black_box}" if sources else
                         "sources must name at least one model")
    return list(sources)
