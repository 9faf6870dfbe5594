"""Anatomy of the damage an adversarial perturbation does to a denoiser, and of the price a
denoiser pays for noise off its training shell.

TS sampling, in any norm-based reading, changes only the *length* of the training noise: it
trains on noise slightly outside the typical-set shell ``||n|| ~ sigma sqrt(d)``. It can
therefore only help against the part of an attack that moves the noisy input *along* its
noise, and only if the model pays a price for noise of the wrong length. The two functions
here measure both:

- :func:`decompose_perturbation` splits a perturbation ``delta`` of ``y = x + n`` into its
  *radial* part (along ``n``: the part that lengthens or shortens the noise) and its
  *orthogonal* part, and measures the PSNR drop each causes alone and both together;
- :func:`noise_level_sensitivity` measures the Gaussian PSNR while the noise level moves around
  the training level, with one noise draw per image scaled, and the *off-shell penalty*: the
  symmetric part of the loss at noise scaled by ``1 + s`` and ``1 - s``, minus the same
  quantity of a reference denoiser that is told the true level, so that the image content
  (which makes every PSNR curve bend) cancels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .._checks import check_image_batch, check_module, check_real, check_same_shape
from ..evaluation.inputs import Image, load_dataset, noisy_image
from ..metrics import psnr
from ..noise import DEFAULT_SIGMA

__all__ = ["decompose_perturbation", "noise_level_sensitivity", "radial_split"]

#: Default relative changes ``s`` of the noise norm of the off-shell penalty: TS with T = 10 on
#: 40x40 patches lengthens the noise by ~3%, an L-inf budget of 2/255 at sigma 25 by ~7%.
DEFAULT_SCALES = (0.02, 0.04, 0.08)


def radial_split(noise: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``delta`` into its component along ``noise`` and the rest, image by image.

    ``radial = (<delta, n> / ||n||^2) n`` and ``orthogonal = delta - radial`` for each image of
    the batch (inner products over C*H*W, computed in float64; the parts come back in
    ``delta``'s dtype), so ``<orthogonal, n> = 0`` and ``radial + orthogonal = delta``.

    Raises:
        ValueError: shapes differ, or an image's noise is zero (no direction).

    Example:
        >>> n = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
        >>> radial, orthogonal = radial_split(n, torch.tensor([3.0, 4.0]).view(1, 1, 1, 2))
        >>> radial.flatten().tolist(), orthogonal.flatten().tolist()
        ([3.0, 0.0], [0.0, 4.0])
    """
    check_image_batch(noise, "noise")
    check_image_batch(delta, "delta")
    check_same_shape(noise, delta, "noise", "delta")
    n, d = noise.double().flatten(1), delta.double().flatten(1)
    energy = n.pow(2).sum(1)
    if bool((energy == 0).any()):
        raise ValueError("noise is zero for an image: the radial direction is undefined")
    radial = ((d * n).sum(1) / energy)[:, None] * n
    return (radial.view_as(delta).to(delta.dtype),
            (d - radial).view_as(delta).to(delta.dtype))


@torch.no_grad()
def _psnrs(model: nn.Module, inputs: torch.Tensor, clean: torch.Tensor, clamp: bool
           ) -> list[float]:
    """PSNR (peak 1, float64) of the model's output on each image of ``inputs``."""
    device = next(model.parameters(), torch.empty(0)).device
    out = model(inputs.to(device)).detach().cpu().double()
    out = out.clamp(0, 1) if clamp else out
    return psnr(out, clean.detach().cpu().double()).tolist()


def decompose_perturbation(
    model: nn.Module,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    delta: torch.Tensor,
    names: Sequence[str] | None = None,
    clamp: bool = True,
) -> list[dict[str, Any]]:
    """The PSNR drop of the radial and the orthogonal part of ``delta``, alone and together.

    With ``n = noisy - clean`` and ``delta = radial + orthogonal`` (:func:`radial_split`), the
    model denoises ``noisy``, ``noisy + radial``, ``noisy + orthogonal`` and ``noisy + delta``;
    each drop is the PSNR of ``noisy``'s output minus that of the perturbed input's. The drops
    of the parts do not add up in general: ``interaction = drop_full - drop_radial -
    drop_orthogonal`` says by how much (for a linear denoiser the MSE increases add exactly,
    since the parts are orthogonal; the PSNR drops, being logarithms, nearly).

    Args:
        model: denoiser (noisy -> clean), on any device.
        noisy: noisy images ``clean + n``, (B, C, H, W).
        clean: clean images, same shape.
        delta: perturbations of ``noisy`` (an attack's ``adv - noisy``), same shape.
        names: one name per image for the rows (default ``"0"``, ``"1"``...).
        clamp: clamp the outputs to [0, 1] before scoring (the package's metric convention);
            ``False`` scores the raw output.

    Returns:
        One row per image: ``image``; ``psnr`` (of ``noisy``), ``psnr_full``, ``psnr_radial``,
        ``psnr_orthogonal``; ``drop_full``, ``drop_radial``, ``drop_orthogonal``,
        ``interaction`` (dB); ``energy_radial`` and ``energy_orthogonal``, the fractions of
        ``||delta||^2`` in each part (they sum to 1); ``angle_deg``, the angle between ``delta``
        and ``n`` (90 = orthogonal; below 90 ``delta`` lengthens the noise);
        ``radial_coefficient`` ``<delta, n> / ||n||^2`` (the relative change of the noise along
        itself); ``delta_l2`` and ``noise_l2``. With ``delta = 0`` the energies and the angle
        are NaN.

    Example:
        >>> clean = torch.full((1, 1, 8, 8), 0.5)
        >>> n = 0.1 * torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> row = decompose_perturbation(nn.Identity(), clean + n, clean, 0.5 * n)[0]
        >>> round(row["energy_radial"], 6), round(row["drop_orthogonal"], 6)
        (1.0, 0.0)
    """
    check_module(model)
    for value, name in ((noisy, "noisy"), (clean, "clean"), (delta, "delta")):
        check_image_batch(value, name)
    check_same_shape(noisy, clean, "noisy", "clean")
    check_same_shape(noisy, delta, "noisy", "delta")
    names = [str(i) for i in range(len(noisy))] if names is None else [str(n) for n in names]
    if len(names) != len(noisy):
        raise ValueError(f"names must have one entry per image ({len(noisy)}), got {len(names)}")
    noise = noisy - clean
    radial, orthogonal = radial_split(noise, delta)
    scores = {part: _psnrs(model, x, clean, clamp) for part, x in (
        ("psnr", noisy), ("psnr_full", noisy + delta), ("psnr_radial", noisy + radial),
        ("psnr_orthogonal", noisy + orthogonal))}
    return [_decomposition_row(names[i], {k: v[i] for k, v in scores.items()}, noise[i],
                               delta[i], radial[i]) for i in range(len(noisy))]


def _decomposition_row(name: str, scores: dict[str, float], noise: torch.Tensor,
                       delta: torch.Tensor, radial: torch.Tensor) -> dict[str, Any]:
    n, d = noise.double().flatten(), delta.double().flatten()
    n_l2, d_l2 = n.norm().item(), d.norm().item()
    energy = radial.double().pow(2).sum().item() / d_l2**2 if d_l2 > 0 else math.nan
    cosine = (d @ n).item() / (n_l2 * d_l2) if d_l2 > 0 else math.nan
    drops = {f"drop_{part}": scores["psnr"] - scores[f"psnr_{part}"]
             for part in ("full", "radial", "orthogonal")}
    return {"image": name, **scores, **drops,
            "interaction": drops["drop_full"] - drops["drop_radial"] - drops["drop_orthogonal"],
            "energy_radial": energy, "energy_orthogonal": 1.0 - energy,
            "angle_deg": math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
            if d_l2 > 0 else math.nan,
            "radial_coefficient": (d @ n).item() / n_l2**2, "delta_l2": d_l2, "noise_l2": n_l2}


#: A reference: a registered classical denoiser's name, or ``level -> denoiser``.
Reference = str | Callable[[float], nn.Module] | None


def _reference_factory(reference: Reference, channels: int
                       ) -> tuple[str | None, Callable[[float], nn.Module] | None]:
    """``(label, level -> denoiser)`` of a ``reference`` argument (``(None, None)`` for
    ``"none"``)."""
    if reference is None:
        reference = "nlmeans"
    if callable(reference) and not isinstance(reference, nn.Module):
        return getattr(reference, "__name__", "reference"), reference
    if reference == "none":
        return None, None
    if reference not in ("nlmeans", "bm3d"):
        raise ValueError(f"reference must be 'nlmeans', 'bm3d', 'none' or a function "
                         f"level -> denoiser, got {reference!r}")
    from ..models import build

    return reference, lambda level: build(reference, sigma=level, channels=channels)


def _as_images(clean: str | Sequence[Image] | torch.Tensor, channels: int) -> list[Image]:
    if isinstance(clean, torch.Tensor):
        batch = check_image_batch(clean if clean.dim() == 4 else clean[None], "clean")
        return [(str(i), image) for i, image in enumerate(batch)]
    return load_dataset(clean, channels)


def noise_level_sensitivity(
    model: nn.Module,
    clean: str | Sequence[Image] | torch.Tensor,
    sigmas: Sequence[float],
    reference: Reference = None,
    scales: Sequence[float] = DEFAULT_SCALES,
    seed: int = 0,
    *,
    sigma: float = DEFAULT_SIGMA,
    channels: int = 1,
    clamp: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Gaussian PSNR as the noise level moves around the training level ``sigma``, and the
    off-shell penalty.

    Every input of image ``name`` is ``x + t * g`` with one standard normal draw ``g``, the
    ``"noise"`` stream of ``name`` (:func:`~denoise_adv.analysis.noisy_image`), so at ``t =
    sigma`` it is exactly the evaluation protocol's Gaussian input and at other levels the same
    noise, longer or shorter. ``model`` is called as it is (a non-blind denoiser does not learn
    the level); the reference is *built at each level* (NL-means and BM3D are told the true
    level), so it shows how a denoiser that knows the level fares on the same inputs.

    Computed, per image:

    - sweep, for each level ``t`` of ``sigmas``: ``psnr`` = P(t), the model's PSNR;
      ``reference_psnr`` = R(t); ``gap`` = P(t) - R(t);
    - off-shell, for each ``s`` of ``scales``, with P+ = P(sigma(1+s)), P- = P(sigma(1-s)),
      P0 = P(sigma) (likewise R+, R-, R0):
      ``symmetric`` = P0 - (P+ + P-)/2, the symmetric part of the loss -PSNR around the
      training level (first-order effects of the level cancel; > 0 when the model does worse
      on both sides than the straight line through its neighbours);
      ``antisymmetric`` = (P- - P+)/2, the slope part;
      ``reference_symmetric`` = R0 - (R+ + R-)/2, the same for the reference;
      ``penalty`` = ``symmetric - reference_symmetric``, the off-shell penalty: what the model
      loses, beyond what the image content costs every denoiser, when its noise is ``s`` too
      long or too short. It is what a norm-based TS can remove.

    Args:
        model: denoiser (noisy -> clean) trained at ``sigma``.
        clean: images: a folder, ``builtin:test``, a list of ``(name, image)``, or a tensor
            (C, H, W) / (B, C, H, W) whose images are named ``"0"``, ``"1"``...
        sigmas: levels of the sweep in [0, 1] units (22/255 ... 28/255 at sigma 25/255).
        reference: ``"nlmeans"`` (default, also for ``None``), ``"bm3d"`` (needs the optional
            ``bm3d`` package), ``"none"`` (no reference columns) or a function ``level ->
            denoiser``.
        scales: relative changes ``s`` of the noise norm, each in (0, 1).
        seed: seed of the noise (``--seed``).
        sigma: the training level, in [0, 1] units.
        channels: image channels to load.
        clamp: clamp outputs to [0, 1] before scoring (the package's convention).
        progress: tqdm bar over the images.

    Returns:
        ``{"sigma", "seed", "reference", "sigmas", "scales", "sweep" (rows per image and
        level), "off_shell" (rows per image and scale), "sweep_mean" (per level),
        "off_shell_mean" (per scale)}``; without a reference the reference columns are absent.

    Example:
        >>> images = [("x", torch.rand(1, 16, 16))]
        >>> result = noise_level_sensitivity(nn.Identity(), images, [20 / 255, 30 / 255],
        ...                                  reference="none", scales=[0.1], clamp=False,
        ...                                  progress=False)
        >>> round(result["off_shell"][0]["symmetric"], 4)  # identity: 10 log10(1 - s^2)
        -0.0436
    """
    check_module(model)
    sigma = check_real(sigma, "sigma", minimum=0.0, strict=True)
    sigmas = [check_real(s, "sigmas", minimum=0.0, strict=True) for s in sigmas]
    scales = [check_real(s, "scales") for s in scales]
    if any(not 0 < s < 1 for s in scales):
        raise ValueError(f"scales must be in (0, 1), got {scales}")
    if not sigmas and not scales:
        raise ValueError("sigmas and scales must not both be empty")
    label, factory = _reference_factory(reference, channels)
    levels = sorted({*sigmas, sigma, *(sigma * (1 + s) for s in scales),
                     *(sigma * (1 - s) for s in scales)})
    sweep, off_shell = [], []
    for name, image in tqdm(_as_images(clean, channels), desc="noise levels",
                            disable=not progress):
        p, r = _level_psnrs(model, factory, name, image[None], levels, seed, clamp)
        sweep += [_sweep_row(name, t, p, r) for t in sigmas]
        off_shell += [_off_shell_row(name, s, sigma, p, r) for s in scales]
    return {"sigma": sigma, "seed": seed, "reference": label, "sigmas": sigmas,
            "scales": scales, "sweep": sweep, "off_shell": off_shell,
            "sweep_mean": _means(sweep, "sigma"), "off_shell_mean": _means(off_shell, "scale")}


def _level_psnrs(model: nn.Module, factory: Callable[[float], nn.Module] | None, name: str,
                 clean: torch.Tensor, levels: Sequence[float], seed: int, clamp: bool
                 ) -> tuple[dict[float, float], dict[float, float] | None]:
    """The model's (and the reference's, built at each level) PSNR at every level."""
    inputs = {t: noisy_image(clean, t, seed, name) for t in levels}
    model_psnr = {t: _psnrs(model, x, clean, clamp)[0] for t, x in inputs.items()}
    if factory is None:
        return model_psnr, None
    return model_psnr, {t: _psnrs(factory(t), x, clean, clamp)[0] for t, x in inputs.items()}


def _sweep_row(name: str, t: float, p: dict[float, float], r: dict[float, float] | None
               ) -> dict[str, Any]:
    row = {"image": name, "sigma": t, "psnr": p[t]}
    if r is not None:
        row |= {"reference_psnr": r[t], "gap": p[t] - r[t]}
    return row


def _off_shell_row(name: str, s: float, sigma: float, p: dict[float, float],
                   r: dict[float, float] | None) -> dict[str, Any]:
    plus, minus = sigma * (1 + s), sigma * (1 - s)
    row = {"image": name, "scale": s, "psnr": p[sigma], "psnr_plus": p[plus],
           "psnr_minus": p[minus], "symmetric": p[sigma] - (p[plus] + p[minus]) / 2,
           "antisymmetric": (p[minus] - p[plus]) / 2}
    if r is not None:
        reference = r[sigma] - (r[plus] + r[minus]) / 2
        row |= {"reference_symmetric": reference, "penalty": row["symmetric"] - reference}
    return row


def _means(rows: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Mean of every numeric column per value of ``key`` (in order of appearance)."""
    out = []
    for value in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == value]
        columns = [c for c in group[0] if c not in ("image", key)]
        out.append({key: value, **{c: sum(r[c] for r in group) / len(group) for c in columns},
                    "images": len(group)})
    return out
