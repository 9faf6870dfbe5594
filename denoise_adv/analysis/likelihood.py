"""Typical-set summary and the log-likelihood histograms of the paper's Fig. 9-10."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import typical as ty
from ..noise import MIXED_PRESETS, gaussian_noise, mixed_noise, mixed_sigmas, ts_noise
from ..report import new_figure, save_figure

__all__ = ["nll_samples", "plot_nll_histograms", "typical_set_rows"]


def typical_set_rows(d: int, sigma: float, eps: float, eta_linf: float, eta_l2: float,
                     iterations: Sequence[float] = (1, 10, 100), t: float = 0.05
                     ) -> list[dict[str, Any]]:
    """The section-3.4 quantities for one setting, as ``{"quantity", "value"}`` rows.

    Args:
        d: values per sample (C*H*W).
        sigma: noise level ([0, 1] units).
        eps: typical-set width.
        eta_linf: L-inf budget per value (absolute).
        eta_l2: L2 radius (absolute).
        iterations: TS T values whose mean shift is listed.
        t: slack of the probabilistic L-inf bound (Lemma 3.16).

    Example:
        >>> rows = typical_set_rows(1600, 25 / 255, 0.05, 2 / 255, 2 / 255 * 40, (10,))
        >>> [r["value"] for r in rows if r["quantity"] == "TS T=10: mean shift E[e]"]
        ['0.0284']
    """
    h = ty.entropy(sigma)
    low, high = ty.norm_bounds(d, sigma, eps)
    exact, cheb = ty.typical_set_probability(d, eps)
    lower, upper = ty.log_volume_bounds(d, sigma, eps)
    shift_linf = ty.attack_shift(sigma, eta_linf, "linf", d)
    shift_l2 = ty.attack_shift(sigma, eta_l2, "l2", d)
    rows = [
        ("entropy h per component (nats)", f"{h:.4f}"),
        ("typical-set width eps", f"{eps:g}"),
        ("Thm 3.6: norm bounds of A_eps", f"[{low:.4f}, {high:.4f}]"),
        ("P(A_eps): exact (chi^2) / Chebyshev bound", f"{exact:.6f} / {cheb:.6f}"),
        ("log Vol(A_eps): lower / exact / upper", f"{lower:.1f} / "
         f"{ty.log_volume(d, sigma, eps):.1f} / {upper:.1f}"),
        ("hypercube edge sigma*sqrt(2 pi e)*e^eps", f"{ty.hypercube_edge(sigma, eps):.4f}"),
        ("Thm 3.10: eps' under L2 radius eta", f"{ty.perturbed_eps_l2(d, sigma, eps, eta_l2):.4f}"),
        ("Thm 3.20: eps' under L-inf eta (always)",
         f"{ty.perturbed_eps_linf(sigma, eps, eta_linf):.4f}"),
        (f"Thm 3.20: eps' under L-inf eta (t={t:g}, P >= "
         f"{ty.linf_slack_probability(d, t):.4f})",
         f"{ty.perturbed_eps_linf(sigma, eps, eta_linf, t):.4f}"),
        ("L-inf worst case: mean shift of e", f"{shift_linf:.4f}"),
        ("L2 worst case: mean shift of e", f"{shift_l2:.4f}"),
    ]
    rows += [(f"TS T={T:g}: mean shift E[e]", f"{ty.ts_expected_shift(d, T):.4f}")
             for T in iterations]
    for name, shift in (("L-inf", shift_linf), ("L2", shift_l2)):
        try:
            value = f"{ty.ts_iterations_for(d, shift):.4g}"
        except ValueError:
            value = "out of reach"
        rows.append((f"TS T covering the {name} shift", value))
    return [{"quantity": q, "value": v} for q, v in rows]


def nll_samples(shape: Sequence[int], sigma: float, eta_linf: float, eta_l2: float,
                iterations: Sequence[float] = (1, 10, 100),
                mixed: Sequence[float] | None = None,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-component negative log-likelihood ``-(1/d) log p(n) = h + e(n)`` under
    :math:`N(0, \\sigma^2 I)` for each kind of noise of the paper's Fig. 9-10.

    Kinds: Gaussian; TS for each T; Gaussian mixed 1:1 with each level of ``mixed``; Gaussian
    perturbed by the worst-case L2 (radius ``eta_l2``, parallel) and L-inf (``eta_linf * s``)
    perturbations. ``shape`` is (samples, C, H, W). ``mixed`` defaults to the second level of
    each mixed preset of the noise owner at ``sigma``
    (:func:`~denoise_adv.noise.mixed_sigmas`: 25.5/255 and 26/255 at sigma 25/255).

    Example:
        >>> kinds = nll_samples((8, 1, 4, 4), 25 / 255, 2 / 255, 2 / 255 * 4, (10,),
        ...                     generator=torch.Generator().manual_seed(0))
        >>> [name for name in kinds if name.startswith("mixed")]
        ['mixed 25/25.5', 'mixed 25/26']
    """
    if mixed is None:
        mixed = [mixed_sigmas(name, sigma)[1] for name in MIXED_PRESETS]
    g = gaussian_noise(shape, sigma, generator, dtype=torch.float64)
    kinds = {"Gaussian": g}
    for T in iterations:
        kinds[f"TS T={T:g}"] = ts_noise(shape, sigma, T, generator=generator, dtype=torch.float64)
    for level in mixed:
        kinds[f"mixed {sigma * 255:g}/{level * 255:g}"] = mixed_noise(
            shape, (sigma, level), generator=generator, dtype=torch.float64)
    flat = g.flatten(1)
    kinds["L2 worst case"] = g + (eta_l2 * flat / flat.norm(dim=1, keepdim=True)).view_as(g)
    kinds["L-inf worst case"] = g + ty.worst_linf_perturbation(g, eta_linf)
    h = ty.entropy(sigma)
    return {name: h + ty.aep_deviation(n, sigma) for name, n in kinds.items()}


def plot_nll_histograms(samples: dict[str, torch.Tensor], sigma: float,
                        path: str | os.PathLike, title: str = "") -> Path:
    """Histograms of per-component NLL with the entropy line (Fig. 9-10); writes a PNG."""
    fig, ax = new_figure(figsize=(8, 4.5))
    values = torch.cat(list(samples.values()))
    lo, hi = values.min().item(), values.max().item()
    bins = torch.linspace(lo, hi, 80).numpy()
    for name, nll in samples.items():
        ax.hist(nll.numpy(), bins=bins, histtype="step", linewidth=1.5, label=name, density=True)
    h = ty.entropy(sigma)
    ax.axvline(h, color="black", linestyle="--", linewidth=1, label=f"entropy h = {h:.4f}")
    ax.set_xlabel(r"$-\frac{1}{d}\log p(n)$ under $N(0,\sigma^2 I)$ (nats per component)")
    ax.set_ylabel("density")
    ax.set_title(title or f"Typical sets at sigma = {sigma * 255:g}/255")
    ax.legend(fontsize=8, loc="upper right")
    if math.isfinite(lo) and math.isfinite(hi):
        ax.set_xlim(lo, hi)
    return save_figure(fig, path)
