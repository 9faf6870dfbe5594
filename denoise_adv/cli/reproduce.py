"""``denoise-adv reproduce table2``: the paper's Table 2 protocol in one resumable command.

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

One writer: the run holds ``OUT``'s lock (:mod:`denoise_adv._lock`) from start to end (each
training also locks its own folder), so a second ``reproduce`` into the same ``OUT`` is
refused while the first is alive; stale temporaries are deleted only under the lock.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .._io import atomic_open, file_sha256, remove_stale_temporaries, write_json
from .._lock import OutputLock
from ..data import pixels_of
from .common import LEVEL, add_options, device, images, output_folder

TARGETS = ("table2",)
STRATEGIES = ("normal", "ts-pres", "ts-def", "mixed-25.5", "mixed-26")

#: The paper's Table 2 (DnCNN at sigma 25 on Set12; PSNR in dB). The rows of the other
#: strategies were lost from our copy of the paper.
PAPER_TABLE2 = {
    "normal": {"gaussian": 30.387, "adv-linf": 29.620, "adv-l2": 29.512},
    "ts-def": {"gaussian": 30.343, "adv-linf": 30.218, "adv-l2": 30.183},
}

#: ``--smoke``: a tiny model, a few steps and tiny patches, so the whole protocol runs on the
#: CPU in seconds (a test of the machinery, not of the paper).
SMOKE = {"model_kwargs": {"depth": 3, "features": 4}, "patch_size": 16, "stride": 16,
         "scales": (1.0,), "batch_size": 8, "epochs": 1, "max_steps": 3}
SMOKE_ATTACK_STEPS = 2
#: Protocol values a rerun in the same OUT must keep (the training configs are checked by the
#: trainer itself when it resumes).
FIXED = ("target", "smoke", "sigma", "seed", "train_data", "test_data", "test_images",
         "attacks")


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run a table of the paper end to end (train, craft the sets, evaluate, report)",
        description="table2: train DnCNN-17 (the DnCNN recipe) with the strategies normal, "
        "ts-pres, ts-def, mixed-25.5 and mixed-26, craft Set12-Adv-Linf/-L2 on the normal "
        "model, score every model on Gaussian noise, both sets and white-box attacks, and "
        "write OUT/table2.md, OUT/report.json (every protocol value) and OUT/per_image.csv "
        "next to the paper's numbers. Resumable: rerun the same command after an interruption; "
        "finished stages are skipped, training resumes from its checkpoint.",
    )
    p.add_argument("target", choices=TARGETS, help="what to reproduce")
    p.add_argument("--train-data", required=True,
                   help="training images: a folder (BSD400 in the paper) or builtin:train")
    p.add_argument("--test-data", required=True,
                   help="test images: a folder (Set12 in the paper) or builtin:test")
    add_options(p, "--out", "--seed", "--device", "--quiet", "--max-pixels")
    p.add_argument("--smoke", action="store_true",
                   help="tiny model (depth 3, 4 features), 3 steps, 16x16 patches, 2-step "
                   "attacks: checks the machinery end to end in seconds on the CPU")
    p.add_argument("--strategies", default=",".join(STRATEGIES),
                   help=f"comma-separated subset, normal included (default: all of "
                   f"{','.join(STRATEGIES)})")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs instead of the recipe's 50 (recorded)")
    p.add_argument("--steps", type=int, default=None,
                   help="stop each training after this many steps (recorded; a later run with "
                   "more steps resumes it)")
    p.set_defaults(func=run)


def _strategies(text: str) -> list[str]:
    names = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in names if s not in STRATEGIES]
    if bad or "normal" not in names:
        raise ValueError(f"--strategies takes a subset of {','.join(STRATEGIES)} that includes "
                         f"normal (the source of the adversarial sets), got {text!r}")
    return names


def train_configs(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The :class:`~denoise_adv.training.TrainConfig` of each strategy."""
    from ..training import TrainConfig

    values: dict[str, Any] = {"model": "dncnn", "model_kwargs": {"depth": 17, "features": 64},
                              "data": str(args.train_data), "val_data": None,
                              "seed": args.seed, "device": args.device,
                              "progress": not args.quiet}
    if args.smoke:
        values.update(SMOKE)
    if args.epochs is not None:
        values["epochs"] = args.epochs
    if args.steps is not None:
        values["max_steps"] = args.steps
    return {s: TrainConfig(**values, strategy=s, out=str(out / "models" / s)).validate()
            for s in _strategies(args.strategies)}


def attack_specs(smoke: bool) -> dict[str, Any]:
    """The evaluation protocol's L-inf and per-pixel L2 attacks (2 steps with ``--smoke``)."""
    from ..attacks import AttackSpec

    steps = SMOKE_ATTACK_STEPS if smoke else AttackSpec().steps
    return {norm: AttackSpec(norm, steps=steps) for norm in ("linf", "l2")}


def build_protocol(args: argparse.Namespace, configs: dict[str, Any], attacks: dict[str, Any],
                   dataset: list) -> dict[str, Any]:
    """Every value the run depends on, JSON-ready ([0, 1] units)."""
    return {"target": args.target, "smoke": bool(args.smoke),
            "sigma": next(iter(configs.values())).sigma, "seed": args.seed,
            "train_data": str(args.train_data), "test_data": str(args.test_data),
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
            "paper_table2": PAPER_TABLE2}


def _check_protocol(out: Path, protocol: dict[str, Any]) -> None:
    """Refuse to mix two protocols in one OUT; then record this one."""
    path = out / "protocol.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = [k for k in FIXED if saved.get(k) != json.loads(json.dumps(protocol[k]))]
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
    from ..analysis import make_adversarial_set
    from .common import load_model

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
                    model = load_model(normal, sigma, where)[0]
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
    from ..analysis import evaluate_adversarial_set, evaluate_robustness
    from .common import load_model

    key = {"model_sha256": file_sha256(model_path),
           "sets": {p.name: file_sha256(p) for paths in sets.values() for p in paths},
           "attacks": {k: v.as_dict() for k, v in attacks.items()},
           "pixels": pixels_of(dataset)}  # the white-box rows' images, by content
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["rows"], "skipped (evaluated already)"
    started = time.monotonic()
    model = load_model(model_path, sigma, where)[0]
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
    for model, psnr in PAPER_TABLE2.items():
        rows.append(_table_row(f"paper: {model}", psnr))
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
        "model attacked with its own gradients), a second protocol. Paper rows: the numbers "
        "of its Table 2 (the other strategies' rows were lost from our copy).", "",
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
    from ..analysis import summarize
    from ..report import write_csv

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


def run(args: argparse.Namespace) -> int:
    out = output_folder(args.out)
    with OutputLock(out):  # one writer of OUT, for the whole run
        for folder, names in _OUTPUTS.items():
            remove_stale_temporaries(out / folder, names)
        return _run(args, out)


def _run(args: argparse.Namespace, out: Path) -> int:
    from ..report import format_table

    where, progress = device(args.device), not args.quiet
    configs = train_configs(args, out)
    test_images = images(args, args.test_data, 1)
    attacks = attack_specs(args.smoke)
    protocol = build_protocol(args, configs, attacks, test_images)
    _check_protocol(out, protocol)
    sigma, timings, training = protocol["sigma"], {}, {}
    pixels = protocol["test_pixels"]
    for strategy, config in configs.items():
        started = time.monotonic()
        result, note = train_stage(config)
        training[strategy] = {k: result.get(k) for k in ("steps", "seconds", "device",
                                                           "final_loss", "epochs")}
        timings[f"train {strategy}"] = time.monotonic() - started
        print(f"[train] {strategy}: {note}")
    started = time.monotonic()
    models = {s: Path(c.out) / "model.pt" for s, c in configs.items()}
    sets, notes = adversarial_stage(models["normal"], test_images, attacks, sigma, args.seed, out,
                                    where, progress)
    timings["adversarial sets"] = time.monotonic() - started
    print("\n".join(f"[sets] {n}" for n in notes))
    per_image = []
    for strategy, path in models.items():
        started = time.monotonic()
        rows, note = evaluate_stage(path, sets, test_images, attacks, sigma, args.seed,
                                    out / "eval" / f"{strategy}.json", where, progress)
        per_image += [{"model": strategy, **r, "pixel_sha256": pixels[r["image"]]}
                      for r in rows]
        timings[f"evaluate {strategy}"] = time.monotonic() - started
        print(f"[evaluate] {strategy}: {note}")
    table = write_report(out, protocol, training, per_image, timings)
    print(format_table(table))
    print(f"wrote table2.md, report.json and per_image.csv to {out}")
    return 0
