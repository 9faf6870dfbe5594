"""Figures of the analyses (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..report import new_figure, save_figure

__all__ = [
    "plot_anatomy",
    "plot_comparison_strip",
    "plot_noise_levels",
    "plot_polar",
    "plot_sphere",
    "plot_transfer",
]


def _gray(image: torch.Tensor) -> np.ndarray:
    x = image.detach().float().cpu().clamp(0, 1)
    x = x[0] if x.dim() == 4 else x
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def plot_comparison_strip(rows: Sequence[tuple[str, Sequence[tuple[str, torch.Tensor]]]],
                          path: str | os.PathLike) -> Path:
    """A grid of images: one row per image, one column per panel (clean, noisy, adversarial,
    denoised ...). ``rows`` = ``[(row title, [(panel title, image), ...]), ...]``."""
    n_rows, n_cols = len(rows), max(len(panels) for _, panels in rows)
    fig, axes = new_figure(n_rows, n_cols, figsize=(2.4 * n_cols, 2.5 * n_rows), squeeze=False)
    for r, (title, panels) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(panels):
                name, image = panels[c]
                ax.imshow(_gray(image), cmap="gray", vmin=0, vmax=1)
                ax.set_title(name, fontsize=8)
        axes[r][0].text(-0.05, 0.5, title, transform=axes[r][0].transAxes, rotation=90,
                        ha="right", va="center", fontsize=9)
    return save_figure(fig, path)


def plot_polar(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Polar heat map of a 2-D neighbourhood sweep (Fig. 4-5): angle = direction (0 degrees =
    the Gaussian noise, counter-clockwise towards the attack), radius = distance, colour = PSNR
    of the denoised sample."""
    fig, ax = new_figure(subplot_kw={"projection": "polar"}, figsize=(5.5, 5))
    angles = np.radians(np.array(result["angles_deg"], dtype=float))
    step = 2 * np.pi / len(angles)
    theta = np.concatenate([angles - step / 2, [angles[-1] + step / 2]])  # cell edges
    radii = np.array(result["radii"], dtype=float)
    psnr = np.array(result["psnr"], dtype=float)
    inner = radii[0] - (radii[1] - radii[0]) / 2 if len(radii) > 1 else 0.0
    edges = np.concatenate([[max(0.0, inner)], (radii[:-1] + radii[1:]) / 2,
                            [radii[-1] + (radii[-1] - radii[-2]) / 2 if len(radii) > 1
                             else radii[-1] * 1.1 + 1e-12]])
    mesh = ax.pcolormesh(theta, edges, psnr, shading="flat", cmap="viridis")
    ax.set_theta_zero_location("N")
    ax.plot([math.radians(result["delta_angle_deg"])] * 2, [0, radii[-1]], "r--", lw=1,
            label="attack direction")
    fig.colorbar(mesh, ax=ax, label="PSNR (dB)", pad=0.1)
    ax.set_title(title or "neighbourhood of the noisy sample", fontsize=10)
    ax.legend(loc="lower left", fontsize=7, bbox_to_anchor=(-0.15, -0.12))
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
    colour scale spans the attacks' rows only (the random row, near 0, would flatten it; it
    takes the lightest colour)."""
    names = result["names"]
    sources = result.get("sources", names)
    rows = [[result["drop"][s][t] for t in names] for s in sources]
    rows.append([result["baseline"][t] for t in names])
    data = np.array(rows)
    attacks = data[:-1]
    fig, ax = new_figure(figsize=(1.6 + 1.3 * len(names), 1.2 + 0.8 * len(rows)))
    low, high = attacks.min(), attacks.max()  # the random row, far below, is clipped to low
    mesh = ax.imshow(data, cmap="magma_r", vmin=low, vmax=high if high > low else low + 1e-9)
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
