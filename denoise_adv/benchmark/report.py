"""The benchmark's outputs: ``results.json``, the leaderboard (Markdown, reStructuredText for
the docs) and the figures (robust PSNR versus budget, the per-image worst-case strip)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_open
from ..analysis.common import Image
from ..data import load_image
from ..report import new_figure, save_figure
from .runner import budget_key

__all__ = ["headline_column", "leaderboard_rows", "plot_robust_vs_budget", "plot_worst_case_strip",
           "write_leaderboard_md", "write_leaderboard_rst", "write_outputs"]

STRIP_IMAGES = 6


def _ci(stat: Mapping[str, float], digits: int = 2) -> str:
    return f"{stat['mean']:.{digits}f} [{stat['low']:.{digits}f}, {stat['high']:.{digits}f}]"


def headline_column(headline_budget: float) -> str:
    """The leaderboard's column of the robust PSNR at the protocol's headline budget.

    Example:
        >>> headline_column(2 / 255)
        'robust PSNR @2/255'
    """
    return f"robust PSNR @{budget_key(headline_budget)}/255"


def leaderboard_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row of text cells per model, in leaderboard order (means with their bootstrap
    intervals in brackets)."""
    headline = budget_key(results["protocol"]["headline_budget"])
    rows = []
    for label in results["leaderboard"]:
        s = results["summary"][label]
        worst = next(iter(s["worst_attack_counts"]))
        rows.append({
            "rank": str(s["rank"]) if s["rank"] else "--",
            "model": label,
            "threat": s["threat"],
            "Gaussian PSNR": _ci(s["gaussian_psnr"]),
            headline_column(results["protocol"]["headline_budget"]): _ci(s["robust_psnr"]),
            "gap": _ci(s["gap"]),
            "random drop": f"{s['random_drop']['mean']:.3f}",
            **{f"robust @{k}": f"{v['mean']:.2f}" for k, v in s["robust_psnr_by_budget"].items()
               if k != headline},
            "SSIM": f"{s['gaussian_ssim']['mean']:.4f}",
            "strongest attack": worst,
            "flags": ", ".join(dict.fromkeys(w["check"] for w in s["warnings"])) or "--",
        })
    return rows


def _describe(results: Mapping[str, Any]) -> str:
    p = results["protocol"]
    n, partial = len(results["images"]), results.get("max_images") is not None
    return (f"Protocol {p['version']}: {p['data']} ({n} images"
            f"{', a partial run' if partial else ''}), sigma {p['sigma'] * 255:g}/255, "
            f"noise seeds {p['noise_seeds']}, transfer from "
            f"{p['reference']}; means over images with {p['confidence']:.0%} bootstrap "
            f"intervals ({p['bootstrap']} resamples). Black-box models get transfer and random "
            "inputs only (their robust PSNR is an upper bound); flagged models failed a sanity "
            "check and are not ranked.")


def _warnings(results: Mapping[str, Any]) -> list[str]:
    return [f"{label}: {w['message']}" for label in results["leaderboard"]
            for w in results["summary"][label]["warnings"]]


def _time_lines(results: Mapping[str, Any]) -> list[str]:
    """What each part of the run cost, as list items, with the machine and the precision."""
    device, amp = results["device"], results.get("amp") or "float32"
    lines = [f"- merged on: {device['name']} ({device['device']}, {device['torch_threads']} "
             f"torch threads, {device['world_size']} process(es)); attacks in {amp}"]
    for label, t in results["timing"].items():
        if "images_per_s" in t:
            lines.append(f"- {label}: {t['seconds']:.1f} s for {t['rows']} image rows "
                         f"({t['images_per_s']:.4f} images/s)")
    t = results["timing"]["transfer_inputs"]
    lines.append(f"- transfer inputs: {t['seconds']:.1f} s for {t['images']} images")
    return lines


def write_leaderboard_md(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """The leaderboard as Markdown (table, warnings, timing), atomically."""
    rows = leaderboard_rows(results)
    columns = list(rows[0])
    lines = [f"# Robustness leaderboard, protocol {results['protocol']['version']}", "",
             _describe(results), "", "| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    lines += ["", "## Warnings", ""]
    lines += [f"- {w}" for w in _warnings(results)] or ["none"]
    lines += ["", "## Time", ""] + _time_lines(results)
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return Path(path)


def write_leaderboard_rst(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """The leaderboard as a reStructuredText list-table (for ``docs/_generated``),
    atomically."""
    rows = leaderboard_rows(results)
    columns = list(rows[0])
    lines = [".. Generated by denoise-adv benchmark --docs; do not edit by hand.", "",
             _describe(results), "",
             f".. list-table:: protocol {results['protocol']['version']}",
             "   :header-rows: 1", ""]
    for cells in [columns] + [[r[c] for c in columns] for r in rows]:
        lines += [f"   * - {cells[0]}"] + [f"     - {c}" for c in cells[1:]]
    warnings = _warnings(results)
    lines += ["", "Sanity-check warnings:" if warnings else "Sanity-check warnings: none.", ""]
    lines += [f"- {w}" for w in warnings]
    lines += ["", "Time (each row's own wall time, kept from the run that computed it):", ""]
    lines += _time_lines(results)
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return Path(path)


def plot_robust_vs_budget(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Mean robust PSNR (with its bootstrap interval) against the budget, one line per model;
    budget 0 is the Gaussian PSNR; black-box models dashed (upper bounds)."""
    fig, ax = new_figure(figsize=(6, 4))
    labels = results["leaderboard"]
    for i, label in enumerate(labels):
        s = results["summary"][label]
        points = [(0.0, s["gaussian_psnr"])] + [
            (float(k), v) for k, v in s["robust_psnr_by_budget"].items()]
        dodge = 0.04 * (i - (len(labels) - 1) / 2)  # keep the interval bars apart
        x = [p[0] + dodge for p in points]
        y = [p[1]["mean"] for p in points]
        err = [[p[1]["mean"] - p[1]["low"] for p in points],
               [p[1]["high"] - p[1]["mean"] for p in points]]
        style = "--" if s["threat"] == "black-box" else "-"
        ax.errorbar(x, y, yerr=err, fmt=style + "o", capsize=3, ms=4,
                    label=label + (" (flagged)" if s["flagged"] else "") +
                    (" (black-box: upper bound)" if s["threat"] == "black-box" else ""))
    ax.set_xlabel("budget (8-bit levels per pixel; 0 = Gaussian noise only)")
    ax.set_ylabel("robust PSNR (dB)")
    ax.set_title(f"protocol {results['protocol']['version']}: worst case per image", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_worst_case_strip(results: Mapping[str, Any], folder, images: Sequence[Image],
                          path: str | os.PathLike) -> Path:
    """Per model (rows) and image (columns, the first few): the denoised worst case at the
    headline budget, titled with its PSNR and attack; the first row shows the clean images."""
    from ..analysis.figures import plot_comparison_strip

    seed = results["protocol"]["noise_seeds"][0]
    shown = list(images)[:STRIP_IMAGES]
    channels = results["protocol"]["channels"]
    rows = {(r["model"], r["image"]): r for r in results["per_image"]
            if r["noise_seed"] == seed}
    strip = [("clean", [(name, clean) for name, clean in shown])]
    for label in results["leaderboard"]:
        panels = []
        for name, _ in shown:
            row = rows[label, name]
            image = load_image(folder.worst_path(label, name, seed), channels)
            panels.append((f"{row['robust_psnr']:.2f} dB {row['worst_attack']}", image))
        strip.append((label, panels))
    return plot_comparison_strip(strip, path)


def write_outputs(results: Mapping[str, Any], folder, images: Sequence[Image], *,
                  docs: str | os.PathLike | None = None, figures: bool = True) -> None:
    """``results.json``, ``leaderboard.md``, the figures and (``docs``) the reST table."""
    with atomic_open(folder.path / "results.json", "w") as f:
        json.dump(results, f, indent=1)
    write_leaderboard_md(results, folder.path / "leaderboard.md")
    if docs is not None:
        write_leaderboard_rst(results, docs)
    if figures:
        plot_robust_vs_budget(results, folder.path / "robust_vs_budget.png")
        plot_worst_case_strip(results, folder, images, folder.path / "worst_case_strip.png")
