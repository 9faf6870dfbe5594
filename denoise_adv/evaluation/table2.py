"""The paper's Table 2 protocol as stages (``denoise-adv reproduce table2`` is their command
line): train, craft the fixed adversarial sets, evaluate, report.

Stages, each skipped when its result is on disk and still current:

1. train a DnCNN-17 with the package's DnCNN recipe (:class:`~denoise_adv.training.TrainConfig`
   defaults: Adam 1e-3, x0.1 at epoch 30, batch 128 of 40x40 patches, 50 epochs, sigma 25) for
   each strategy, in ``OUT/models/STRATEGY/``; an interrupted run resumes from its checkpoint;
2. craft Set12-Adv-Linf and Set12-Adv-L2 once on the normal model (the evaluation protocol's
   attacks), in ``OUT/adversarial/`` (one file per image size: Set12 mixes 256x256 and
   512x512); remade when the normal model changes;
3. score every model on the Gaussian inputs, on both sets (the fixed-set protocol of Table 2)
   and, as a second protocol reported apart, white-box (each model attacked with its own
   gradients), in ``OUT/eval/STRATEGY.json``; redone when a model or a set changes;
4. write the Table 2 report next to the paper's numbers: ``OUT/table2.md``,
   ``OUT/report.json`` (every protocol value, the training logs, the timings) and
   ``OUT/per_image.csv``.

Identity by content: the test images are known by the sha256 of their pixels
(:func:`~denoise_adv.data.pixel_sha256`), recorded in ``protocol.json`` (``test_pixels``), in
each adversarial set's manifest, in each evaluation cache's key and in every row of
``per_image.csv`` (``pixel_sha256``). Edit an image under the same name and a rerun crafts
its sets and scores it again (training does not depend on the test images and is kept);
nothing computed on the old pixels is reused.

One writer: :func:`run_table2` holds ``OUT``'s lock (:mod:`denoise_adv._lock`) from start to
end (each training also locks its own folder), so a second run into the same ``OUT`` is
refused while the first is alive; stale temporaries are deleted only under the lock.

The paper's own numbers (:data:`PAPER_TABLE2`, :data:`PAPER_TABLE4`) are printed beside every
strategy a run trains.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_open, file_sha256, remove_stale_temporaries, write_json
from .._lock import OutputLock
from ..data import MAX_PIXELS, pixels_of
from ..models import load_denoiser
from .inputs import load_dataset
from .store import recorded_differences

__all__ = ["PAPER_TABLE2", "PAPER_TABLE4", "STRATEGIES", "Table2Run", "paper_rows",
           "run_table2", "table2_rows"]

LEVEL = 255.0
STRATEGIES = ("normal", "ts-pres", "ts-def", "mixed-25.5", "mixed-26")

#: The paper's Table 2: DnCNN at sigma 25 on Set12, PSNR (dB) on the Gaussian inputs and on
#: Set12-Adv-Linf / -L2 (the sets crafted on its normal model). Every row its text holds.
PAPER_TABLE2 = {
    "normal": {"gaussian": 30.387, "adv-linf": 29.620, "adv-l2": 29.512},
    "ts-pres": {"gaussian": 30.390, "adv-linf": 30.087, "adv-l2": 30.019},
    "ts-def": {"gaussian": 30.343, "adv-linf": 30.218, "adv-l2": 30.183},
}
#: The paper's Table 4 (the same protocol, with the mixed-noise strategies; four decimals).
#: Its TS-Def. Gaussian PSNR, 30.3491, differs from Table 2's 30.343: the paper disagrees
#: with itself, and both are shown.
PAPER_TABLE4 = {
    "normal": {"gaussian": 30.3871, "adv-linf": 29.6201, "adv-l2": 29.5117},
    "mixed-25.5": {"gaussian": 30.4035, "adv-linf": 29.9174, "adv-l2": 29.8235},
    "mixed-26": {"gaussian": 30.3839, "adv-linf": 30.0874, "adv-l2": 30.0214},
    "ts-pres": {"gaussian": 30.3900, "adv-linf": 30.0871, "adv-l2": 30.0179},
    "ts-def": {"gaussian": 30.3491, "adv-linf": 30.2183, "adv-l2": 30.1881},
}

#: A smoke run: a tiny model, a few steps and tiny patches, so the whole protocol runs on the
#: CPU in seconds (a test of the machinery, not of the paper).
SMOKE = {"model_kwargs": {"depth": 3, "features": 4}, "patch_size": 16, "stride": 16,
         "scales": (1.0,), "batch_size": 8, "epochs": 1, "max_steps": 3}
SMOKE_ATTACK_STEPS = 2
#: Protocol values a rerun in the same OUT must keep (the training configs are checked by the
#: trainer itself when it resumes).
FIXED = ("target", "smoke", "sigma", "seed", "train_data", "test_data", "test_images",
         "attacks")


@dataclass(frozen=True)
class Table2Run:
    """Everything a Table-2 run depends on, as plain values (the command line's options).

    Args:
        train_data: training images (a folder, BSD400 in the paper, or ``builtin:train``).
        test_data: test images (a folder, Set12 in the paper, or ``builtin:test``).
        out: the run's folder.
        seed: seed of training, noise and attacks.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        smoke: a tiny model, 3 steps, 2-step attacks (the machinery in seconds).
        strategies: a subset of :data:`STRATEGIES` that includes ``"normal"``.
        epochs: training epochs instead of the recipe's 50.
        steps: stop each training after this many steps.
        progress: progress bars.
        max_pixels: refuse larger test images.
    """

    train_data: str
    test_data: str
    out: str | os.PathLike
    seed: int = 0
    device: str = "auto"
    smoke: bool = False
    strategies: Sequence[str] = STRATEGIES
    epochs: int | None = None
    steps: int | None = None
    progress: bool = True
    max_pixels: int | None = MAX_PIXELS

    def __post_init__(self) -> None:
        names = list(dict.fromkeys(self.strategies))
        bad = [s for s in names if s not in STRATEGIES]
        if bad or "normal" not in names:
            raise ValueError(f"strategies must be a subset of {','.join(STRATEGIES)} that "
                             f"includes normal (the source of the adversarial sets), got "
                             f"{list(self.strategies)}")
        object.__setattr__(self, "strategies", tuple(names))


def train_configs(run: Table2Run) -> dict[str, Any]:
    """The :class:`~denoise_adv.training.TrainConfig` of each strategy."""
    from ..training import TrainConfig

    values: dict[str, Any] = {"model": "dncnn", "model_kwargs": {"depth": 17, "features": 64},
                              "data": str(run.train_data), "val_data": None,
                              "seed": run.seed, "device": run.device,
                              "progress": run.progress}
    if run.smoke:
        values.update(SMOKE)
    if run.epochs is not None:
        values["epochs"] = run.epochs
    if run.steps is not None:
        values["max_steps"] = run.steps
    out = Path(run.out)
    return {s: TrainConfig(**values, strategy=s, out=str(out / "models" / s)).validate()
            for s in run.strategies}


def attack_specs(smoke: bool) -> dict[str, Any]:
    """The evaluation protocol's L-inf and per-pixel L2 attacks (2 steps with ``smoke``)."""
    from ..attacks import AttackSpec

    steps = SMOKE_ATTACK_STEPS if smoke else AttackSpec().steps
    return {norm: AttackSpec(norm, steps=steps) for norm in ("linf", "l2")}


def build_protocol(run: Table2Run, configs: dict[str, Any], attacks: dict[str, Any],
                   dataset: list) -> dict[str, Any]:
    """Every value the run depends on, JSON-ready ([0, 1] units)."""
    return {"target": "table2", "smoke": bool(run.smoke),
            "sigma": next(iter(configs.values())).sigma, "seed": run.seed,
            "train_data": str(run.train_data), "test_data": str(run.test_data),
            "test_images": {name: list(image.shape) for name, image in dataset},
            "test_pixels": pixels_of(dataset),
            "attacks": {k: v.as_dict() for k, v in attacks.items()},
            "strategies": list(configs),
            "training": {s: c.to_dict() for s, c in configs.items()},
            "evaluation": "Gaussian inputs clean + sigma * n (n from the 'noise' stream of each "
                          "image); fixed sets crafted once on the normal model (Table 2); "
                          "white-box attacks on each model, reported apart",
            "metrics": "PSNR peak 1, SSIM skimage-compatible (11x11 Gaussian, sigma 1.5), "
                       "MAE x255, outputs clamped to [0, 1]",
            "paper_table2": PAPER_TABLE2, "paper_table4": PAPER_TABLE4}


def check_protocol(out: Path, protocol: dict[str, Any]) -> None:
    """Refuse to mix two protocols in one OUT (:func:`~.store.recorded_differences` over
    :data:`FIXED`, the store's one comparison); then record this one."""
    path = out / "protocol.json"
    if path.is_file():
        changed = recorded_differences(json.loads(path.read_text()), protocol, FIXED)
        if changed:
            raise ValueError(f"{out} holds a run with another protocol ({', '.join(changed)} "
                             "differ); use another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, protocol)


def train_stage(config) -> tuple[dict[str, Any], str]:
    """Train one strategy, resuming its checkpoint; skipped when ``model.pt`` and ``log.json``
    hold a finished run of the same configuration."""
    from ..training import train
    from ..training.trainer import CHECKPOINT, FINAL

    folder = Path(config.out)
    log = folder / "log.json"
    if (folder / FINAL).is_file() and log.is_file():
        saved = json.loads(log.read_text())
        if not config.trajectory_changes(saved["config"]) and (
                saved["config"].get("max_steps") == config.max_steps):
            return saved, f"skipped (trained already, {saved['steps']} steps)"
    result = train(config, resume=(folder / CHECKPOINT).is_file())
    return result, f"trained {result['steps']} steps in {result['seconds']:.1f} s"


def _set_is_current(path: Path, meta: dict[str, Any]) -> bool:
    from ..attacks import load_adversarial_set

    if not path.is_file():
        return False
    saved = load_adversarial_set(path)["meta"]
    return all(saved.get(k) == v for k, v in meta.items())


def adversarial_stage(normal: Path, dataset: list, attacks: dict[str, Any], sigma: float,
                      seed: int, out: Path, where, progress: bool
                      ) -> tuple[dict[str, list[Path]], list[str]]:
    """Set12-Adv-Linf/-L2 crafted on the normal model: ``{norm: [one file per image size]}``
    and what was done."""
    from .robustness import make_adversarial_set

    groups: dict[tuple[int, ...], list] = {}
    for name, image in dataset:
        groups.setdefault(tuple(image.shape), []).append((name, image))
    source_sha, model = file_sha256(normal), None
    sets: dict[str, list[Path]] = {}
    notes = []
    for norm, spec in attacks.items():
        for shape, group in groups.items():
            path = out / "adversarial" / f"adv-{norm}-{shape[1]}x{shape[2]}.pt"
            meta = {"source_sha256": source_sha, "attack_protocol": spec.as_dict(),
                    "sigma": sigma, "seed": seed, "images": [n for n, _ in group],
                    "pixel_sha256": list(pixels_of(group).values())}
            if _set_is_current(path, meta):
                notes.append(f"{path.name}: skipped (current)")
            else:
                if model is None:
                    model = load_denoiser(normal, sigma, where).model
                make_adversarial_set(model, group, path, sigma, spec, seed, meta={
                    "source_sha256": source_sha, "source_model": str(normal),
                    "pixel_sha256": meta["pixel_sha256"]}, progress=progress)
                notes.append(f"{path.name}: crafted on the normal model")
            sets.setdefault(norm, []).append(path)
    return sets, notes


def evaluate_stage(model_path: Path, sets: dict[str, list[Path]], dataset: list,
                   attacks: dict[str, Any], sigma: float, seed: int, cache: Path, where,
                   progress: bool) -> tuple[list[dict[str, Any]], str]:
    """Per-image rows of one model on the Gaussian inputs, the fixed sets (``adv-NORM``) and
    white-box attacks (``wb-NORM``); cached in ``cache`` under the hashes of the model and
    the sets."""
    from .robustness import evaluate_adversarial_set, evaluate_robustness

    key = {"model_sha256": file_sha256(model_path),
           "sets": {p.name: file_sha256(p) for paths in sets.values() for p in paths},
           "attacks": {k: v.as_dict() for k, v in attacks.items()},
           "pixels": pixels_of(dataset)}  # the white-box rows' images, by content
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["rows"], "skipped (evaluated already)"
    started = time.monotonic()
    model = load_denoiser(model_path, sigma, where).model
    rows = []
    for k, (norm, paths) in enumerate(sets.items()):
        for path in paths:
            rows += [{**r, "set": f"adv-{norm}" if r["set"] != "gaussian" else "gaussian"}
                     for r in evaluate_adversarial_set(model, path, sigma, progress=progress)
                     if k == 0 or r["set"] != "gaussian"]  # one Gaussian row per image
    white_box = evaluate_robustness(model, dataset, sigma, attacks, seed, progress=progress)
    rows += [{**r, "set": f"wb-{r['set']}"} for r in white_box if r["set"] != "gaussian"]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(cache, "w") as f:  # our own cache: Python's json reads its Infinity back
        json.dump({"key": key, "rows": rows}, f, indent=2)
    return rows, f"evaluated in {time.monotonic() - started:.1f} s"


def table2_rows(summaries: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per model (ours, then the paper's): PSNR on each set and the drops."""
    rows = []
    for model, summary in summaries.items():
        psnr = {r["set"]: r["psnr"] for r in summary}
        rows.append(_table_row(model, psnr))
    return rows + paper_rows(list(summaries))


def paper_rows(strategies: Sequence[str]) -> list[dict[str, Any]]:
    """The paper's rows for ``strategies``: Table 2's where it has one, and Table 4's (the
    strategy ``normal`` and both versions of TS-Def. are in both)."""
    rows = []
    for table, numbers in (("Table 2", PAPER_TABLE2), ("Table 4", PAPER_TABLE4)):
        rows += [_table_row(f"paper {table}: {s}", numbers[s]) for s in strategies
                 if s in numbers]
    return rows


def _table_row(label: str, psnr: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": label}
    for column in ("gaussian", "adv-linf", "adv-l2"):
        row[column] = psnr[column]
    row["drop-linf"] = psnr["gaussian"] - psnr["adv-linf"]
    row["drop-l2"] = psnr["gaussian"] - psnr["adv-l2"]
    for norm in ("linf", "l2"):
        white_box = psnr.get(f"wb-{norm}")
        row[f"wb-drop-{norm}"] = psnr["gaussian"] - white_box if white_box is not None else "-"
    return row


def _table2_markdown(protocol: dict[str, Any], training: dict[str, Any],
                     table: list[dict[str, Any]]) -> str:
    from ..report import markdown_table

    attack = protocol["attacks"]["linf"]
    smoke = ", SMOKE RUN: tiny model, not the paper" if protocol["smoke"] else ""
    lines = [
        f"# Table 2 reproduction (sigma {protocol['sigma'] * LEVEL:g}/255{smoke})", "",
        "PSNR (dB) on the Gaussian inputs and on the adversarial sets crafted on the normal "
        "model (drop = Gaussian - set); wb-drop-* = the drop under white-box attacks (each "
        "model attacked with its own gradients), a second protocol. Paper rows: its Tables 2 "
        "and 4 for the strategies trained here (TS-Def.'s Gaussian PSNR reads 30.343 in Table 2 "
        "and 30.3491 in Table 4).", "",
        markdown_table(table), "",
        f"- attacks: eps {attack['eps'] * LEVEL:g}/255, alpha {attack['alpha'] * LEVEL:g}/255, "
        f"{attack['steps']} steps, random start; L2 with the same numbers per pixel (RMS)",
        f"- training data {protocol['train_data']}; test data {protocol['test_data']} "
        f"({len(protocol['test_images'])} images); seed {protocol['seed']}",
        *(f"- {s}: {t.get('steps')} steps, {t.get('seconds') or 0:.0f} s on {t.get('device')}"
          for s, t in training.items()),
        "- every protocol value: report.json"]
    return "\n".join(lines) + "\n"


def write_report(out: Path, protocol: dict[str, Any], training: dict[str, Any],
                 per_image: list[dict[str, Any]], timings: dict[str, float]
                 ) -> list[dict[str, Any]]:
    """Write table2.md, report.json and per_image.csv; return the table rows."""
    import torch

    from .. import __version__
    from ..report import write_csv
    from .robustness import summarize

    summaries = {m: summarize([r for r in per_image if r["model"] == m])
                 for m in protocol["strategies"]}
    table = table2_rows(summaries)
    with atomic_open(out / "table2.md", "w") as f:
        f.write(_table2_markdown(protocol, training, table))
    write_csv(per_image, out / "per_image.csv")
    write_json(out / "report.json",
               {"protocol": protocol, "training": training, "table2": table,
                "summary": summaries, "per_image": per_image, "timings_s": timings,
                "versions": {"denoise_adv": __version__, "torch": torch.__version__}},
               default=str)
    return table


#: What a run writes, by folder of ``OUT`` (globs): the temporaries of their atomic writes are
#: deleted, once the lock is held, when a killed run left them.
_OUTPUTS = {".": ("protocol.json", "table2.md", "report.json", "per_image.csv"),
            "adversarial": ("adv-*.pt",), "eval": ("*.json",)}


def run_table2(run: Table2Run) -> list[dict[str, Any]]:
    """Run the stages (see the module docstring) under ``run.out``'s lock and return the
    Table-2 rows (ours, then the paper's); prints one line per stage."""
    out = Path(run.out)
    with OutputLock(out):  # one writer of OUT, for the whole run (nested under the CLI's)
        for folder, names in _OUTPUTS.items():
            remove_stale_temporaries(out / folder, names)
        return _stages(run, out)


def _stages(run: Table2Run, out: Path) -> list[dict[str, Any]]:
    from .._io import resolve_device

    where = resolve_device(run.device)
    configs = train_configs(run)
    test_images = load_dataset(run.test_data, 1, max_pixels=run.max_pixels)
    attacks = attack_specs(run.smoke)
    protocol = build_protocol(run, configs, attacks, test_images)
    check_protocol(out, protocol)
    sigma, timings, training = protocol["sigma"], {}, {}
    for strategy, config in configs.items():
        started = time.monotonic()
        result, note = train_stage(config)
        training[strategy] = {k: result.get(k) for k in ("steps", "seconds", "device",
                                                           "final_loss", "epochs")}
        timings[f"train {strategy}"] = time.monotonic() - started
        print(f"[train] {strategy}: {note}")
    started = time.monotonic()
    models = {s: Path(c.out) / "model.pt" for s, c in configs.items()}
    sets, notes = adversarial_stage(models["normal"], test_images, attacks, sigma, run.seed, out,
                                    where, run.progress)
    timings["adversarial sets"] = time.monotonic() - started
    print("\n".join(f"[sets] {n}" for n in notes))
    per_image = []
    for strategy, path in models.items():
        started = time.monotonic()
        rows, note = evaluate_stage(path, sets, test_images, attacks, sigma, run.seed,
                                    out / "eval" / f"{strategy}.json", where, run.progress)
        per_image += [{"model": strategy, **r, "pixel_sha256": protocol["test_pixels"][r["image"]]}
                      for r in rows]
        timings[f"evaluate {strategy}"] = time.monotonic() - started
        print(f"[evaluate] {strategy}: {note}")
    return write_report(out, protocol, training, per_image, timings)
