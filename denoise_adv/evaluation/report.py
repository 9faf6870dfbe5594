"""The benchmark's outputs: ``results.json``, the leaderboard (Markdown, a self-contained HTML
page, reStructuredText for the docs) and the figures (robust PSNR versus budget, the
per-image worst-case strip)."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_open, write_json
from ..data import load_image, png_bytes
from ..report import new_figure, plot_comparison_strip, rst_list_table, save_figure
from .inputs import Image
from .protocol import budget_key
from .results import access_of, is_upper_bound

__all__ = ["headline_column", "leaderboard_rows", "plot_robust_vs_budget", "plot_worst_case_strip",
           "write_leaderboard_html", "write_leaderboard_md", "write_leaderboard_rst",
           "write_outputs"]

#: The leaderboard column of the paired interval against the best model.
PAIRED_COLUMN = "vs best (paired)"

STRIP_IMAGES = 6


def _ci(stat: Mapping[str, float], digits: int = 2) -> str:
    return f"{stat['mean']:.{digits}f} [{stat['low']:.{digits}f}, {stat['high']:.{digits}f}]"


def _paired(s: Mapping[str, Any]) -> str:
    """The paired difference to the best model, signed, with its interval (``--`` unranked)."""
    d = s.get("paired_vs_best")
    if d is None:
        return "--"
    return f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def _rank(s: Mapping[str, Any]) -> str:
    """``"=1"`` for a tie, ``"2"``, ``"--"`` unranked (results of earlier versions: the int)."""
    if "rank_label" in s:
        return s["rank_label"]
    return str(s["rank"]) if s["rank"] else "--"


def headline_column(headline_budget: float) -> str:
    """The leaderboard's column of the robust PSNR at the protocol's headline budget.

    Example:
        >>> headline_column(2 / 255)
        'robust PSNR @2/255'
    """
    return f"robust PSNR @{budget_key(headline_budget)}/255"


def leaderboard_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row of text cells per model, in leaderboard order (means with their t-intervals
    over the images in brackets)."""
    headline = budget_key(results["protocol"]["headline_budget"])
    rows = []
    for label in results["leaderboard"]:
        s = results["summary"][label]
        worst = next(iter(s["worst_attack_counts"]))
        rows.append({
            "rank": _rank(s),
            "model": label,
            "access": access_of(s),
            "Gaussian PSNR": _ci(s["gaussian_psnr"]),
            headline_column(results["protocol"]["headline_budget"]): _ci(s["robust_psnr"]),
            PAIRED_COLUMN: _paired(s),
            "gap": _ci(s["gap"]),
            "random drop": f"{s['random_drop']['mean']:.3f}",
            **{f"robust @{k}": f"{v['mean']:.2f}" for k, v in s["robust_psnr_by_budget"].items()
               if k != headline},
            "SSIM": f"{s['gaussian_ssim']['mean']:.4f}",
            "strongest attack": worst,
            "flags": ", ".join(dict.fromkeys(w["check"] for w in s["warnings"])) or "--",
        })
    return rows


def _noise_words(protocol: Mapping[str, Any]) -> str:
    """The protocol's noise, in words: a denoising level in 8-bit units, or a restoration
    task's measurement (its estimate is what is scored)."""
    if protocol.get("task") is None:
        return f"sigma {protocol['sigma'] * 255:g}/255"
    return (f"restoration task {protocol['task']} (the measurement y = A(x) + noise of "
            f"sigma {protocol['sigma']:g} is attacked; the estimate of x is scored; models "
            "are DPIR around the named prior, or the task's classical baseline)")


def _describe(results: Mapping[str, Any]) -> str:
    p = results["protocol"]
    n, partial = len(results["images"]), results.get("max_images") is not None
    square = any(a["kind"] == "square" for a in p["attacks"])
    black = ("Black-box models are attacked by the Square Attack (forward passes only), their "
             "white-box row, and ranked with the others" if square else
             "Black-box models get transfer and random inputs only (their robust PSNR is an "
             "upper bound)")
    found = (results.get("statistics") or {}).get("detectable_difference")
    power = ("" if found is None else f" Differences under {found:.2f} dB may go undetected "
             "(80% power at this number of images).")
    return (f"Protocol {p['version']}: {p['data']} ({n} images"
            f"{', a partial run' if partial else ''}), {_noise_words(p)}, "
            f"noise seeds {p['noise_seeds']}, transfer from {p['reference']}; means over "
            f"images with {p['confidence']:.0%} t-intervals (the images are what is "
            "resampled; the noise seed, the attacks' random starts and the weights are "
            f"fixed). {black}; flagged models failed a sanity check and are not ranked. "
            f"'{PAIRED_COLUMN}': robust PSNR minus the best model's, with its paired "
            "t-interval, unadjusted (one comparison: an interval that excludes 0 may still "
            "share the best rank, which is adjusted for all of them). Ranks: every pair of "
            "models is compared by a paired t-test on the per-image robust PSNR, "
            "Holm-adjusted over all pairs (family-wise error "
            f"{1 - p['confidence']:.0%}); a model's rank is 1 + the number of models "
            "significantly better, '=k' a shared rank, so a lower mean can share the better "
            f"rank.{power}")


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
             *rst_list_table(f"protocol {results['protocol']['version']}", columns,
                             [[r[c] for c in columns] for r in rows])]
    warnings = _warnings(results)
    lines += ["", "Sanity-check warnings:" if warnings else "Sanity-check warnings: none.", ""]
    lines += [f"- {w}" for w in warnings]
    lines += ["", "Time (each row's own wall time, kept from the run that computed it):", ""]
    lines += _time_lines(results)
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return Path(path)


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")


def plot_robust_vs_budget(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Left: mean robust PSNR (with its t-interval) against the budget, one line per
    model, budget 0 being the Gaussian PSNR. Right: the same as a drop from each model's own
    Gaussian PSNR, without intervals, where models of similar PSNR no longer sit on each other.
    Each model has its own marker (lines that coincide stay apart); black-box models dashed;
    the legend stands outside the axes."""
    fig, (ax, drops) = new_figure(1, 2, figsize=(11, 4.2))
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
        bound = is_upper_bound(s)
        style = "--" if access_of(s) == "black-box" else "-"
        marker = _MARKERS[i % len(_MARKERS)]
        line = ax.errorbar(x, y, yerr=err, fmt=style + marker, capsize=3, ms=5,
                           label=label + (" (flagged)" if s["flagged"] else "") +
                           (" (black-box: upper bound)" if bound else
                            " (black-box: Square)" if access_of(s) == "black-box" else ""))
        drops.plot(x, [y[0] - v for v in y], style + marker, ms=5, color=line[0].get_color())
    ax.set_xlabel("budget (8-bit levels per pixel; 0 = Gaussian noise only)")
    ax.set_ylabel("robust PSNR (dB)")
    ax.set_title(f"protocol {results['protocol']['version']}: worst case per image", fontsize=10)
    drops.set_xlabel("budget (8-bit levels per pixel)")
    drops.set_ylabel("drop from the Gaussian PSNR (dB)")
    drops.set_title("the same, as each model's drop (means)", fontsize=10)
    for axis in (ax, drops):
        axis.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="center left",
               bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_worst_case_strip(results: Mapping[str, Any], folder, images: Sequence[Image],
                          path: str | os.PathLike) -> Path:
    """Per model (rows) and image (columns, the first few): the denoised worst case at the
    headline budget, titled with its PSNR and attack; the first row shows the clean images."""
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


# ------------------------------------------------------------------------------- HTML
#: Captions of the figures the page embeds, by file name (a figure it does not know is
#: captioned by its name, escaped like every other string).
FIGURE_CAPTIONS = {
    "robust_vs_budget.png": "Robust PSNR against the attack budget (left: means with their "
                            "intervals; right: each model's drop from its own Gaussian PSNR).",
}

#: The page: a jinja2 template with autoescaping on, so every string that reaches it (model
#: labels and image names come from file names) is text, never markup. Images are ``data:``
#: URIs the code made itself (:func:`_data_uri`).
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Robustness leaderboard, protocol {{ version }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 78em; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.tie td:first-child { font-weight: bold; }
tr.upper-bound td { color: #666; font-style: italic; background: #fafafa; }
figure { margin: 1em 0; }
img.figure { max-width: 100%; }
img.thumb { width: 128px; image-rendering: pixelated; display: block; }
.note { color: #555; font-size: 0.9em; }
</style>
</head>
<body>
<h1>Robustness leaderboard, protocol {{ version }}</h1>
<p>{{ description }}</p>
<div class="scroll"><table>
<tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr{% if row.css %} class="{{ row.css }}"{% endif %}>
{%- for c in row.cells %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table></div>
{% if bounds %}<p class="note">Rows in grey italics are upper bounds, not ranks: {{ bounds }}
</p>{% endif %}
{% for f in figures %}<figure><img class="figure" alt="{{ f.caption }}" src="{{ f.uri }}">
<figcaption>{{ f.caption }}</figcaption></figure>
{% endfor %}<h2>Per-image worst cases</h2>
<p class="note">The denoised worst case of each image at the headline budget, its PSNR and
the attack that produced it (first noise seed).</p>
<div class="scroll"><table>
<tr><th>image</th><th>clean</th>{% for m in models %}<th>{{ m }}</th>{% endfor %}</tr>
{% for image in worst %}<tr><td>{{ image.name }}</td>
<td><img class="thumb" alt="{{ image.name }}, clean" src="{{ image.uri }}"></td>
{%- for cell in image.cells %}<td>{% if cell %}<img class="thumb" alt="{{ cell.alt }}"
 src="{{ cell.uri }}">{{ cell.text }}{% else %}--{% endif %}</td>{% endfor %}</tr>
{% endfor %}</table></div>
<h2>Warnings</h2>
<ul>{% for w in warnings %}<li>{{ w }}</li>{% else %}<li>none</li>{% endfor %}</ul>
<h2>Time</h2>
<ul>{% for t in times %}<li>{{ t }}</li>{% endfor %}</ul>
</body>
</html>
"""

UPPER_BOUND_REASON = ("the model has no white-box row under this protocol (it is not "
                      "differentiable and the protocol runs no score-based attack), so its "
                      "robust PSNR comes from transfer and random inputs only: an attack that "
                      "could use its own outputs would do at least as much damage.")


def _data_uri(png: bytes) -> str:
    """A PNG as an inline ``data:`` URI (the page references no file)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _worst_cases(results: Mapping[str, Any], folder, images: Sequence[Image]) -> list[dict]:
    """Per image: its clean thumbnail and, per model, the denoised worst case at the headline
    budget with its PSNR and attack (first noise seed; ``None`` where there is none)."""
    seed = results["protocol"]["noise_seeds"][0]
    rows = {(r["model"], r["image"]): r for r in results["per_image"] if r["noise_seed"] == seed}
    out = []
    for name, clean in images:
        cells = []
        for label in results["leaderboard"]:
            row, path = rows.get((label, name)), folder.worst_path(label, name, seed)
            cells.append(None if row is None or not path.is_file() else {
                "alt": f"{label} on {name}", "uri": _data_uri(path.read_bytes()),
                "text": f"{row['robust_psnr']:.2f} dB, {row['worst_attack']}"})
        out.append({"name": name, "uri": _data_uri(png_bytes(clean)), "cells": cells})
    return out


def render_leaderboard_html(results: Mapping[str, Any], folder, images: Sequence[Image],
                            figures: Sequence[str | os.PathLike] = ()) -> str:
    """The page :func:`write_leaderboard_html` writes, as a string (see there)."""
    import jinja2

    rows = leaderboard_rows(results)
    bounds = [is_upper_bound(results["summary"][label]) for label in results["leaderboard"]]
    css = ["upper-bound" if bound else "tie" if r["rank"].startswith("=") else ""
           for r, bound in zip(rows, bounds)]
    shown = [Path(f) for f in figures if Path(f).is_file()]
    page = jinja2.Environment(autoescape=True).from_string(_PAGE)
    return page.render(
        version=str(results["protocol"]["version"]), description=_describe(results),
        columns=list(rows[0]), rows=[{"css": c, "cells": list(r.values())}
                                     for r, c in zip(rows, css)],
        bounds=UPPER_BOUND_REASON if any(bounds) else "",
        figures=[{"caption": FIGURE_CAPTIONS.get(f.name, f.name),
                  "uri": _data_uri(f.read_bytes())} for f in shown],
        models=list(results["leaderboard"]), worst=_worst_cases(results, folder, images),
        warnings=_warnings(results), times=[t.removeprefix("- ") for t in _time_lines(results)])


def write_leaderboard_html(results: Mapping[str, Any], folder, images: Sequence[Image],
                           path: str | os.PathLike,
                           figures: Sequence[str | os.PathLike] = ()) -> Path:
    """One self-contained page (inline CSS, every image a base64 ``data:`` URI the code made
    itself, no link to anything outside it): the leaderboard table (upper bounds set apart,
    with the reason), the figures (``figures``: PNG files, captioned), each image's worst case
    once and the warnings and timing; written atomically. It is rendered by jinja2 with
    autoescaping on: a model or image name is text, never markup (names come from files).

    A reader opens it in a browser; it travels as one file."""
    with atomic_open(path, "w") as f:
        f.write(render_leaderboard_html(results, folder, images, figures))
    return Path(path)


def write_outputs(results: Mapping[str, Any], folder, images: Sequence[Image], *,
                  docs: str | os.PathLike | None = None, figures: bool = True) -> None:
    """``results.json``, ``leaderboard.md``, the figures, ``leaderboard.html`` (which embeds
    them) and (``docs``) the reST table."""
    write_json(folder.path / "results.json", results, indent=1)
    write_leaderboard_md(results, folder.path / "leaderboard.md")
    if docs is not None:
        write_leaderboard_rst(results, docs)
    made = []
    if figures:  # the strip stays a file of its own; the page shows each worst case once
        made.append(plot_robust_vs_budget(results, folder.path / "robust_vs_budget.png"))
        plot_worst_case_strip(results, folder, images, folder.path / "worst_case_strip.png")
    write_leaderboard_html(results, folder, images, folder.path / "leaderboard.html", made)
