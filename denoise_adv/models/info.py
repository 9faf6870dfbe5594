"""RobustBench-style model entries: one dict per model of the zoo, shipped or published.

:func:`model_info` is the one source of what the package says about a zoo model: the docs'
model cards (``docs/_model_cards.py``) and the ``zoo:`` listing (:func:`zoo_listing`) are
written from it. An entry holds

- ``paper`` (citation and link), ``authors``, ``venue``: the publication the model comes from
  (for the shipped zoo, the training strategy's paper: the models themselves were trained by
  this project, ``trained_by``);
- ``architecture`` (its paper and constructor arguments) and ``parameters``, counted from the
  module the name builds (``sum(p.numel() for p in model.parameters())``);
- ``reported``: numbers published by others, with their source (``None``, and
  ``reported_note`` saying why, where there are none);
- ``measured``: our own numbers under the benchmark's protocol v1 (v1-color for colour models):
  Gaussian and robust PSNR with their 95% intervals, read from the package file
  ``zoo/measured.json`` that :func:`write_measured` writes from a benchmark's
  ``results.json``. ``None`` (and ``measured_note``) where that file holds no row for it.

Regenerate ``measured.json`` after a benchmark run (``tools/benchmark_zoo.py``, protocol
v1 and v1-color)::

    from denoise_adv.models.info import write_measured
    write_measured(["runs/bench-v1/results.json", "runs/bench-v1-color/results.json"])
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from .._io import file_sha256, read_json, write_json
from .published import PUBLISHED, published_info
from .registry import build
from .zoo import ZOO_DIR, zoo_manifest, zoo_names

__all__ = ["MEASURED", "PAPERS", "model_info", "model_names", "write_measured", "zoo_listing"]

#: The package file of our measured numbers (written by :func:`write_measured`).
MEASURED = ZOO_DIR / "measured.json"

#: The publications the entries cite: citation, link, authors, venue.
PAPERS: dict[str, dict[str, str | None]] = {
    "dncnn": {"citation": "Zhang, Zuo, Chen, Meng, Zhang: Beyond a Gaussian Denoiser: Residual "
                          "Learning of Deep CNN for Image Denoising, IEEE TIP 26(7), 2017",
              "url": "https://arxiv.org/abs/1608.03981",
              "authors": "Kai Zhang, Wangmeng Zuo, Yunjin Chen, Deyu Meng, Lei Zhang",
              "venue": "IEEE Transactions on Image Processing 2017"},
    "ffdnet": {"citation": "Zhang, Zuo, Zhang: FFDNet: Toward a Fast and Flexible Solution for "
                           "CNN-Based Image Denoising, IEEE TIP 27(9), 2018",
               "url": "https://arxiv.org/abs/1710.04026",
               "authors": "Kai Zhang, Wangmeng Zuo, Lei Zhang",
               "venue": "IEEE Transactions on Image Processing 2018"},
    "ipol-ffdnet": {"citation": "Tassano, Delon, Veit: An Analysis and Implementation of the "
                                "FFDNet Image Denoising Method, IPOL 9, 2019",
                    "url": "https://doi.org/10.5201/ipol.2019.231",
                    "authors": "Matias Tassano, Julie Delon, Thomas Veit",
                    "venue": "Image Processing On Line (IPOL) 2019"},
    "ts": {"citation": "Ning, Sun, Shi, Guo, Li, Li, Wu: Adversarial Transferability in Deep "
                       "Denoising Models: Theoretical Insights and Robustness Enhancement via "
                       "Out-of-Distribution Typical Set Sampling (preprint); predecessor: Ning, "
                       "Li, Guo, arXiv:2306.16050, 2023",
           "url": "https://arxiv.org/abs/2306.16050",
           "authors": "J. Ning, J. Sun, S. Shi, Z. Guo, Y. Li, H. Li, B. Wu",
           "venue": "preprint (the link is its predecessor's: our copy names no address)"},
    "madry": {"citation": "Madry, Makelov, Schmidt, Tsipras, Vladu: Towards Deep Learning Models "
                          "Resistant to Adversarial Attacks, ICLR 2018",
              "url": "https://arxiv.org/abs/1706.06083",
              "authors": "Aleksander Madry, Aleksandar Makelov, Ludwig Schmidt, Dimitris Tsipras, "
                         "Adrian Vladu",
              "venue": "ICLR 2018"},
}

#: The paper of each shipped strategy (the recipe the zoo's model follows).
STRATEGY_PAPER = {"normal": "dncnn", "ts-def": "ts", "ts-pres": "ts", "mixed-26": "ts",
                  "adversarial": "madry"}

#: Numbers others published, per published model. IPOL's own table (Tassano et al. 2019) could
#: not be read where this was written (no copy of the article was reachable offline); the
#: FFDNet paper's BSD68 numbers are those of *its authors' own weights*, so they are labelled so.
REPORTED: dict[str, dict[str, Any] | None] = {
    "ffdnet-ipol-gray": {
        "source": "Zhang, Zuo, Zhang, IEEE TIP 2018 (FFDNet), gray BSD68 results as listed by "
                  "Papers with Code: https://paperswithcode.com/paper/"
                  "ffdnet-toward-a-fast-and-flexible-solut2",
        "of_these_weights": False,
        "weights": "the FFDNet authors' own (MatConvNet) weights; the weights loaded here are "
                   "IPOL's retraining (Tassano et al.), whose own table is not recorded",
        "data": "BSD68, gray, additive white Gaussian noise", "metric": "PSNR (dB)",
        "psnr_by_sigma": {"15": 31.63, "25": 29.19, "35": 27.73, "50": 26.29, "75": 24.79},
    },
    "ffdnet-ipol-color": None,
}
_REPORTED_NOTES = {
    "shipped": "none: trained by this project; its only numbers are ours (measured)",
    "ffdnet-ipol-color": "none recorded: IPOL's table (Tassano et al. 2019) could not be read "
                         "where this entry was written, and the FFDNet paper's CBSD68 numbers "
                         "are for other weights",
}

_NOT_MEASURED = {
    "file": "not measured in this release: no benchmark results are recorded "
            "(zoo/measured.json is absent; run tools/benchmark_zoo.py for protocols v1 and "
            "v1-color, then denoise_adv.models.info.write_measured on their results.json)",
    "row": "not measured: the recorded benchmark runs (zoo/measured.json) did not score it",
}


def model_names() -> list[str]:
    """Every name ``zoo:NAME`` accepts (shipped, then published), each with an entry.

    Example:
        >>> "dncnn-s25-normal" in model_names() and "ffdnet-ipol-gray" in model_names()
        True
    """
    names = zoo_names()
    return [*names["shipped"], *names["published"]]


def count_parameters(registry_name: str, kwargs: Mapping[str, Any]) -> int:
    """The parameters of ``build(registry_name, **kwargs)``, counted on the ``meta`` device
    (nothing is allocated).

    Example:
        >>> count_parameters("dncnn", {"channels": 1, "depth": 3, "features": 4})
        228
    """
    with torch.device("meta"):
        module = build(registry_name, **kwargs)
    return sum(p.numel() for p in module.parameters())


def model_info(name: str) -> dict[str, Any]:
    """The entry of zoo model ``name`` (``"zoo:"`` optional): a new dict, safe to edit.

    Keys: ``name``, ``spec``, ``source`` (``"shipped"`` or ``"published"``), ``paper``
    (``citation``, ``url``), ``authors``, ``venue``, ``trained_by``, ``architecture`` (``name``,
    ``paper``, ``config``: the constructor arguments), ``parameters``, ``channels``, ``sigma``
    (its level, [0, 1] units), ``takes_sigma``, ``licence``, ``file`` and ``sha256``,
    ``training``, ``gaussian_builtin_test`` (the manifest's PSNR/SSIM at sigma 25, noise seed
    0), ``reported`` and ``reported_note``, ``measured`` and ``measured_note`` (see the
    module's docstring).

    Raises:
        ValueError: ``name`` is not a zoo name (the message lists them).

    Example:
        >>> info = model_info("zoo:dncnn-s25-normal")
        >>> info["architecture"]["name"], info["parameters"], info["reported"]
        ('DnCNN', 74848, None)
        >>> model_info("ffdnet-ipol-gray")["paper"]["url"]
        'https://doi.org/10.5201/ipol.2019.231'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.removeprefix("zoo:")
    if key in zoo_manifest()["models"]:
        entry = _shipped(key)
    elif key in PUBLISHED:
        entry = _published(key)
    else:
        raise ValueError(f"name must be a zoo model, got {name!r}; known: {model_names()}")
    measured = _measured()["models"].get(key)
    entry["measured"] = copy.deepcopy(measured)
    entry["measured_note"] = _measured_source(measured) if measured else _NOT_MEASURED[
        "row" if _measured()["sources"] else "file"]
    return entry


def _paper(key: str) -> dict[str, str | None]:
    paper = PAPERS[key]
    return {"citation": paper["citation"], "url": paper["url"]}


def _architecture(arch: Mapping[str, Any], paper: str) -> dict[str, Any]:
    config = {k: v for k, v in arch.items() if k != "model"}
    return {"name": {"dncnn": "DnCNN", "ffdnet": "FFDNet"}.get(arch["model"], arch["model"]),
            "registry_name": arch["model"], "paper": _paper(paper), "config": config}


def _shipped(name: str) -> dict[str, Any]:
    manifest = zoo_manifest()
    entry, protocol = manifest["models"][name], manifest["protocol"]
    config, strategy = entry["config"], entry["strategy"]
    paper = STRATEGY_PAPER.get(strategy, "ts")
    architecture = _architecture(entry["architecture"], "dncnn")
    return {
        "name": name, "spec": f"zoo:{name}", "source": "shipped",
        "paper": _paper(paper), "authors": PAPERS[paper]["authors"],
        "venue": PAPERS[paper]["venue"], "trained_by": "the denoise-adv project",
        "architecture": architecture,
        "parameters": count_parameters(architecture["registry_name"], architecture["config"]),
        "channels": entry["architecture"]["channels"], "sigma": config["sigma"],
        "takes_sigma": False, "licence": "MIT (with the package)",
        "file": entry["file"], "sha256": entry["sha256"],
        "training": {"strategy": strategy, "data": entry["data"], "steps": entry["steps"],
                     "stage1_steps": entry["stage1_steps"], "stage2_steps": entry["stage2_steps"],
                     "seed": entry["seed"], "train_seconds": entry["train_seconds"],
                     "machine": manifest["machine"], "config": config},
        "gaussian_builtin_test": _scores(entry["builtin_test"], protocol,
                                         manifest.get("references", {})),
        "reported": None, "reported_note": _REPORTED_NOTES["shipped"],
    }


def _published(name: str) -> dict[str, Any]:
    info, record = published_info(name), _published_record()
    architecture = _architecture(info["architecture"], "ffdnet")
    reported = copy.deepcopy(REPORTED.get(name))
    return {
        "name": name, "spec": f"zoo:{name}", "source": "published",
        "paper": _paper("ipol-ffdnet"), "authors": PAPERS["ipol-ffdnet"]["authors"],
        "venue": PAPERS["ipol-ffdnet"]["venue"], "trained_by": "the authors (IPOL)",
        "architecture": architecture,
        "parameters": count_parameters(architecture["registry_name"], architecture["config"]),
        "channels": info["channels"], "sigma": None, "takes_sigma": True,
        "licence": f"{info['licence']} (read from the {info['package']!r} package, never shipped)",
        "file": f"{info['package']} {info['version']}: {info['file']}",
        "sha256": info["sha256"],
        "training": {"by": "the authors: see their paper", "blind": "non-blind (takes sigma)"},
        "gaussian_builtin_test": _scores(
            info["builtin_test"], record["protocol"],
            record["references"]["color" if info["channels"] == 3 else "gray"], info.get("data")),
        "reported": reported,
        "reported_note": ("the source and weights are named in it" if reported else
                          _REPORTED_NOTES.get(name, "none recorded")),
    }


def _published_record() -> dict[str, Any]:
    return json.loads((ZOO_DIR / "published.json").read_text())


def _scores(test: Mapping[str, Any], protocol: Mapping[str, Any],
            references: Mapping[str, Any], data: str | None = None) -> dict[str, Any]:
    """The manifest's Gaussian scores, with the classical references on the same images."""
    return {"psnr": test["psnr"], "ssim": test["ssim"],
            "per_image_psnr": dict(test["per_image_psnr"]),
            "data": data or protocol.get("data", "builtin:test"), "sigma": protocol["sigma"],
            "noise_seed": protocol["noise_seed"],
            "references": {k: {"psnr": v["psnr"], "ssim": v["ssim"]}
                           for k, v in references.items()}}


def _measured_source(measured: Mapping[str, Any]) -> str:
    source = _measured()["sources"][measured["source"]]
    return (f"protocol {measured['protocol']}, {measured['images']} image(s), noise seeds "
            f"{source['noise_seeds']}, {source['confidence']:.0%} {interval_kind(measured)}; "
            f"results.json sha256 {source['sha256'][:12]}..., "
            f"torch {source['versions'].get('torch', '?')} on {source['device'].get('name', '?')}")


def interval_kind(measured: Mapping[str, Any]) -> str:
    """What the measured intervals are: t-intervals over the images (results schema 2), or
    the bootstrap of earlier results."""
    if measured["robust_psnr"].get("method") == "t":
        return "t-intervals over the images"
    return "bootstrap intervals over the images"


@lru_cache(maxsize=1)
def _measured() -> dict[str, Any]:
    if not MEASURED.is_file():
        return {"sources": [], "models": {}}
    return read_json(MEASURED)


#: The summary metrics :func:`write_measured` keeps (each a ``{"mean", "low", "high"}``).
MEASURED_METRICS = ("gaussian_psnr", "robust_psnr", "gap", "random_drop", "gaussian_ssim")


def measured_from_results(results: Mapping[str, Any], source: int = 0) -> dict[str, Any]:
    """The ``measured`` rows of a benchmark ``results.json`` (its parsed content): one per
    model scored under a ``zoo:NAME`` spec, with the metrics of :data:`MEASURED_METRICS`, the
    robust PSNR per budget, the access its robust PSNR came from (white-box, or black-box: an
    upper bound), whether a sanity check flagged it, and ``source`` (an index into the
    ``sources`` of ``measured.json``).

    Raises:
        ValueError: ``results`` is not a benchmark results dict (no ``summary``/``models``).

    Example:
        >>> row = {"mean": 30.0, "low": 29.0, "high": 31.0}
        >>> results = {"protocol": {"version": "v1", "headline_budget": 2 / 255},
        ...            "models": {"normal": {"spec": "zoo:dncnn-s25-normal"}},
        ...            "summary": {"normal": {**{m: row for m in MEASURED_METRICS},
        ...                        "robust_psnr_by_budget": {"2": row}, "images": 6,
        ...                        "threat": "white-box", "upper_bound": False,
        ...                        "flagged": False}}}
        >>> measured_from_results(results)["dncnn-s25-normal"]["robust_psnr"]["mean"]
        30.0
    """
    if not isinstance(results, Mapping) or not {"summary", "models", "protocol"} <= set(results):
        raise ValueError("results must be the content of a benchmark results.json (with "
                         "'protocol', 'models' and 'summary')")
    protocol, names, rows = results["protocol"], set(model_names()), {}
    for label, model in results["models"].items():
        name = str(model.get("spec", "")).removeprefix("zoo:")
        if not str(model.get("spec", "")).startswith("zoo:") or name not in names:
            continue
        summary = results["summary"][label]
        rows[name] = {"protocol": protocol["version"], "source": source,
                      "images": summary["images"],
                      "headline_budget": protocol["headline_budget"],
                      **{m: dict(summary[m]) for m in MEASURED_METRICS},
                      "robust_psnr_by_budget": copy.deepcopy(summary["robust_psnr_by_budget"]),
                      "access": summary.get("access", summary.get("threat")),
                      "upper_bound": summary["upper_bound"], "flagged": summary["flagged"]}
    return rows


def write_measured(paths: Iterable[str | os.PathLike], out: str | os.PathLike = MEASURED
                   ) -> Path:
    """Write ``measured.json`` (package data, read by :func:`model_info`) from benchmark
    ``results.json`` files; a model in several keeps the first file's row. Each file is
    recorded under ``sources``: its path as given, sha256, protocol, images, noise seeds,
    interval settings, package versions, device and precision.

    Raises:
        ValueError: no path, a file that is not a benchmark's results, or no zoo model in any.

    Example:
        >>> import tempfile, os
        >>> write_measured([])
        Traceback (most recent call last):
        ...
        ValueError: paths must name at least one benchmark results.json
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths must name at least one benchmark results.json")
    sources, models = [], {}
    for path in paths:
        results = read_json(path)
        for name, row in measured_from_results(results, len(sources)).items():
            models.setdefault(name, row)
        sources.append(_source(path, results))
    if not models:
        raise ValueError(f"paths: no zoo model (zoo:NAME) was scored in {[str(p) for p in paths]}")
    written = write_json(out, {"generated_by": "denoise_adv.models.info.write_measured",
                               "sources": sources, "models": dict(sorted(models.items()))})
    _measured.cache_clear()
    return written


def _source(path: Path, results: Mapping[str, Any]) -> dict[str, Any]:
    protocol = results["protocol"]
    return {"results": str(path), "sha256": file_sha256(path), "protocol": protocol["version"],
            "images": results.get("images"), "noise_seeds": protocol.get("noise_seeds"),
            "bootstrap": protocol.get("bootstrap"), "confidence": protocol.get("confidence"),
            "versions": results.get("versions", {}), "device": results.get("device", {}),
            "amp": results.get("amp")}


def _interval(value: Mapping[str, float] | None) -> str:
    if not value:
        return "--"
    return f"{value['mean']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"


def zoo_listing() -> str:
    """The ``zoo:`` listing as text: one line per model with its source, architecture,
    parameters, level, our Gaussian and robust PSNR (protocol v1 / v1-color, 95% intervals)
    and its paper; every value from :func:`model_info`.

    Example:
        >>> print(zoo_listing().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
        name source architecture parameters sigma Gaussian PSNR robust PSNR protocol paper
    """
    header = ("name", "source", "architecture", "parameters", "sigma", "Gaussian PSNR",
              "robust PSNR", "protocol", "paper")
    rows = [header]
    for name in model_names():
        info = model_info(name)
        measured = info["measured"] or {}
        rows.append((f"zoo:{name}", info["source"], _arch_summary(info),
                     f"{info['parameters']:,}",
                     "any (default 25)" if info["takes_sigma"] else f"{info['sigma'] * 255:g}",
                     _interval(measured.get("gaussian_psnr")),
                     _interval(measured.get("robust_psnr")),
                     measured.get("protocol", "not measured"), info["paper"]["url"] or "--"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def _arch_summary(info: Mapping[str, Any]) -> str:
    config = info["architecture"]["config"]
    return (f"{info['architecture']['name']} {config['depth']}x{config['features']}, "
            f"{'gray' if info['channels'] == 1 else 'colour'}")
