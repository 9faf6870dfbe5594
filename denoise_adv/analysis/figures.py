"""Figures of the analyses (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..report import image_array, new_figure, plot_comparison_strip, save_figure

__all__ = [
    "plot_anatomy",
    "plot_comparison_strip",
    "plot_noise_levels",
    "plot_patch_attack",
    "plot_polar",
    "plot_sphere",
    "plot_transfer",
]


def _outline(ax, box: Sequence[int], colour: str = "red") -> None:
    """Draw the rectangle ``box = (top, left, height, width)`` (pixels) on an image axes."""
    from matplotlib.patches import Rectangle

    top, left, h, w = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor=colour,
                           lw=1.2))


def plot_patch_attack(result: dict[str, Any], noisy: torch.Tensor,
                      denoised: dict[str, torch.Tensor], path: str | os.PathLike,
                      title: str = "") -> Path:
    """The patch attack of Fig. 8, one row per method, with the patch outlined in red.

    Columns: the adversarial input, its denoised output, the perturbation (adversarial input
    minus the noisy one) and the difference panel, the change of the denoised output (denoised
    adversarial minus denoised Gaussian). The last two are in 8-bit levels on a diverging scale
    shared by both rows (white = 0): the perturbation lives only inside the patch, and the
    difference panel shows where the output is damaged. Row titles give the local PSNR drops
    inside and outside the patch.

    Args:
        result: the output of :func:`~denoise_adv.analysis.patch_attack` (``"box"``,
            ``"method1"``/``"method2"`` with their drops and ``"method1_input"``/
            ``"method2_input"``).
        noisy: the Gaussian noisy image the attacks started from, (1, C, H, W).
        denoised: the model's outputs, ``{"gaussian": f(noisy), "method1": f(input 1),
            "method2": f(input 2)}``.
        path: PNG file to write.
        title: figure title.

    Returns:
        ``path``.
    """
    methods = ("method1", "method2")
    missing = [k for k in ("gaussian", *methods) if k not in denoised]
    if missing:
        raise ValueError(f"denoised must hold the outputs {missing} too")
    box = result["box"]
    perturbation = {m: (result[f"{m}_input"] - noisy).detach().float().cpu() * 255
                    for m in methods}
    change = {m: (denoised[m] - denoised["gaussian"]).detach().float().cpu() * 255
              for m in methods}
    p_max = max(float(v.abs().max()) for v in perturbation.values()) or 1.0
    c_max = max(float(v.abs().max()) for v in change.values()) or 1.0
    fig, axes = new_figure(2, 4, figsize=(11.5, 6.2), squeeze=False)
    for row, method in enumerate(methods):
        r = result[method]
        panels = [("adversarial input", image_array(result[f"{method}_input"]), "gray", 0, 1),
                  ("denoised", image_array(denoised[method].clamp(0, 1)), "gray", 0, 1),
                  ("perturbation (8-bit levels)", _mean_channel(perturbation[method]), "RdBu_r",
                   -p_max, p_max),
                  ("output change (8-bit levels)", _mean_channel(change[method]), "RdBu_r",
                   -c_max, c_max)]
        for col, (name, image, cmap, low, high) in enumerate(panels):
            ax = axes[row][col]
            shown = ax.imshow(image, cmap=cmap, vmin=low, vmax=high)
            _outline(ax, box, "red" if cmap == "gray" else "black")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=8)
            if col >= 2:
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        axes[row][0].set_ylabel(f"{method}\ndrop inside {r['drop_inside']:.2f} dB\n"
                                f"outside {r['drop_outside']:.3f} dB", fontsize=8)
    fig.suptitle(title or "patch attack: noise confined to the outlined patch", fontsize=10)
    return save_figure(fig, path)


def _mean_channel(image: torch.Tensor) -> np.ndarray:
    """(H, W) of a (1, C, H, W) or (C, H, W) signed image: the mean over channels."""
    x = image[0] if image.dim() == 4 else image
    return x.mean(dim=0).numpy()


def _ring_edges(radii: np.ndarray) -> np.ndarray:
    """Edges of the rings of a polar heat map centred on ``radii`` (the first ring starts at
    0 or halfway below the first radius)."""
    if len(radii) == 1:
        return np.array([0.0, radii[0] * 1.1 + 1e-12])
    inner = max(0.0, radii[0] - (radii[1] - radii[0]) / 2)
    return np.concatenate([[inner], (radii[:-1] + radii[1:]) / 2,
                           [radii[-1] + (radii[-1] - radii[-2]) / 2]])


def _radius_scale(ax, radii: np.ndarray, outer: float, unit: float | None,
                  unit_name: str) -> None:
    """A radial scale beside the polar axes, clear of the data: a vertical axis from the
    centre to the top of the circle, ticked at the rings' radii, in units of ``unit`` (or
    absolute L2 distances in [0, 1] units when ``unit`` is ``None``)."""
    ax.set_yticklabels([])  # no labels over the heat map
    ax.set_ylim(0, outer)
    scale = ax.inset_axes([-0.17, 0.5, 0.0, 0.5])  # centre to top edge, left of the circle
    scale.set_ylim(0, outer)
    scale.set_xticks([])
    for side in ("top", "right", "bottom"):
        scale.spines[side].set_visible(False)
    factor = unit if unit else 1.0
    scale.set_yticks(radii, [f"{r / factor:.3g}" for r in radii], fontsize=7)
    label = (f"radius (x {unit_name} = {unit:.3g})" if unit
             else "radius: L2 distance, [0, 1] units")
    scale.set_ylabel(label, fontsize=8)


def plot_polar(result: dict[str, Any], path: str | os.PathLike, title: str = "", *,
               radius_unit: float | None = None, unit_name: str = "||delta||") -> Path:
    """Polar heat map of a 2-D neighbourhood sweep (Fig. 4-5).

    Angle = direction in the plane of the noise and the attack (0 degrees = the Gaussian noise,
    counter-clockwise towards the attack, whose direction is the red dashed line); radius = L2
    distance from the noisy image; colour = PSNR of the denoised sample. The radial scale
    stands to the left of the circle, clear of the data, with its unit in its label; thin
    white circles mark the sampled radii.

    Args:
        result: the output of :func:`~denoise_adv.analysis.neighborhood_2d`.
        path: PNG file to write.
        title: figure title.
        radius_unit: a length to express the radii in (for example the attack's
            ``||delta||_2``, named by ``unit_name``); ``None``: absolute L2 distances in
            [0, 1] units.
        unit_name: the name of ``radius_unit`` in the scale's label.

    Returns:
        ``path``.
    """
    if radius_unit is not None and not radius_unit > 0:
        raise ValueError(f"radius_unit must be > 0, got {radius_unit}")
    fig, ax = new_figure(subplot_kw={"projection": "polar"}, figsize=(6, 5))
    angles = np.radians(np.array(result["angles_deg"], dtype=float))
    step = 2 * np.pi / len(angles)
    theta = np.concatenate([angles - step / 2, [angles[-1] + step / 2]])  # cell edges
    radii = np.array(result["radii"], dtype=float)
    edges = _ring_edges(radii)
    mesh = ax.pcolormesh(theta, edges, np.array(result["psnr"], dtype=float), shading="flat",
                         cmap="viridis")
    ax.set_theta_zero_location("N")
    ax.set_yticks(radii)
    ax.grid(True, axis="y", color="white", lw=0.5, alpha=0.6)
    ax.grid(True, axis="x", color="white", lw=0.3, alpha=0.3)
    ax.set_xticks(np.radians([0, 90, 180, 270]),
                  ["0\N{DEGREE SIGN}\nnoise", "90\N{DEGREE SIGN}", "180\N{DEGREE SIGN}",
                   "270\N{DEGREE SIGN}"], fontsize=8)
    ax.plot([math.radians(result["delta_angle_deg"])] * 2, [0, edges[-1]], "r--", lw=1,
            label="attack direction")
    _radius_scale(ax, radii, edges[-1], radius_unit, unit_name)
    fig.colorbar(mesh, ax=ax, label="PSNR of the denoised sample (dB)", pad=0.12)
    ax.set_title(title or "neighbourhood of the noisy sample", fontsize=10, pad=14)
    ax.legend(loc="lower left", fontsize=7, bbox_to_anchor=(-0.25, -0.12))
    return save_figure(fig, path)


def plot_sphere(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Azimuth-elevation map of a 3-D sphere sweep (Fig. 6)."""
    fig, ax = new_figure(figsize=(7, 3.8))
    mesh = ax.pcolormesh(result["azimuth_deg"], result["elevation_deg"],
                         np.array(result["psnr"]), shading="auto", cmap="viridis")
    ax.set_xlabel("azimuth in span(n1, n2) (deg, 0 = n1)")
    ax.set_ylabel("elevation towards the attack (deg)")
    fig.colorbar(mesh, ax=ax, label="PSNR (dB)")
    ax.set_title(title or "sphere around x + n1", fontsize=10)
    return save_figure(fig, path)


def plot_transfer(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Heat map of a transfer matrix: rows = source, columns = target, cells = PSNR drop, with
    the random-perturbation baseline as the last row; successful transfers are starred. The
    colour scale starts at 0 dB (no damage, the lightest colour) and ends at the largest drop,
    so a cell's colour reads as its drop: a 0.75 dB drop is not shown as pale as a random
    perturbation's 0.02 dB. Negative drops (the model did better) take the lightest colour."""
    names = result["names"]
    sources = result.get("sources", names)
    rows = [[result["drop"][s][t] for t in names] for s in sources]
    rows.append([result["baseline"][t] for t in names])
    data = np.array(rows)
    fig, ax = new_figure(figsize=(1.6 + 1.3 * len(names), 1.2 + 0.8 * len(rows)))
    finite = data[np.isfinite(data)]
    low, high = 0.0, max(float(finite.max()) if finite.size else 0.0, 1e-9)
    mesh = ax.imshow(data, cmap="magma_r", vmin=low, vmax=high)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [*sources, "random (same size)"])
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    for i in range(len(rows)):
        for j in range(len(names)):
            star = "*" if i < len(sources) and result["success"][sources[i]][names[j]] else ""
            ax.text(j, i, f"{data[i, j]:.2f}{star}", ha="center", va="center", fontsize=8,
                    color="white" if data[i, j] > (low + high) / 2 else "black")
    fig.colorbar(mesh, ax=ax, label="PSNR drop (dB)")
    ax.set_title(f"transfer (* = drop > {result['threshold']:g} dB)", fontsize=10)
    return save_figure(fig, path)


def plot_anatomy(summary: Sequence[dict[str, Any]], path: str | os.PathLike,
                 title: str = "") -> Path:
    """Bars of the mean PSNR drop of each attack's whole perturbation, its radial part (along
    the noise) and its orthogonal part (rows of
    :func:`~denoise_adv.analysis.decompose_perturbation` averaged per ``"attack"``), with the
    radial share of the energy written under each group."""
    parts = (("drop_full", "whole", "tab:gray"), ("drop_radial", "radial", "tab:red"),
             ("drop_orthogonal", "orthogonal", "tab:blue"))
    fig, ax = new_figure(figsize=(1.8 + 2.2 * len(summary), 3.8))
    width = 0.8 / len(parts)
    for k, (key, label, colour) in enumerate(parts):
        xs = [i + (k - 1) * width for i in range(len(summary))]
        ax.bar(xs, [row[key] for row in summary], width, label=label, color=colour)
    ax.set_xticks(range(len(summary)), [f"{row['attack']}\nradial energy "
                                        f"{row['energy_radial']:.0%}" for row in summary])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("PSNR drop (dB)")
    ax.legend(fontsize=8)
    ax.set_title(title or "which part of the perturbation does the damage", fontsize=10)
    return save_figure(fig, path)


def plot_noise_levels(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Two panels of :func:`~denoise_adv.analysis.noise_level_sensitivity`: the mean PSNR of
    the model (and of the reference) against the noise level, the training level dashed; and
    the symmetric part of the loss against the relative change ``s`` of the noise norm, with
    the off-shell penalty (model minus reference)."""
    fig, (left, right) = new_figure(1, 2, figsize=(10, 3.8))
    sweep, shell = result["sweep_mean"], result["off_shell_mean"]
    levels = [row["sigma"] * 255 for row in sweep]
    left.plot(levels, [row["psnr"] for row in sweep], "o-", label="model")
    if result.get("reference"):
        left.plot(levels, [row["reference_psnr"] for row in sweep], "s--",
                  label=f"{result['reference']} (told the level)")
    left.axvline(result["sigma"] * 255, color="gray", ls=":", lw=1, label="training level")
    left.set_xlabel("noise level (8-bit)")
    left.set_ylabel("PSNR (dB)")
    left.legend(fontsize=8)
    scales = [100 * row["scale"] for row in shell]
    right.plot(scales, [row["symmetric"] for row in shell], "o-", label="model, symmetric")
    if result.get("reference"):
        right.plot(scales, [row["reference_symmetric"] for row in shell], "s--",
                   label="reference, symmetric")
        right.plot(scales, [row["penalty"] for row in shell], "^-", color="tab:red",
                   label="off-shell penalty")
    right.axhline(0, color="black", lw=0.8)
    right.set_xlabel("noise norm changed by +-s (%)")
    right.set_ylabel("dB")
    right.legend(fontsize=8)
    fig.suptitle(title or "sensitivity to the noise level", fontsize=10)
    return save_figure(fig, path)
