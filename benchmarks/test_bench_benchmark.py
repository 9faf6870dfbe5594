"""Protocol v2's cost per image against its floor, and its wall time per model (fp32, bf16).

- ``test_v2_image_over_floor``: one row of ``PROTOCOL_V2``
  (:func:`~denoise_adv.benchmark.evaluate_image`, every attack at v2's own numbers; the
  transfer inputs are given: they are crafted once per image on the reference and shared by
  every model) on a small DnCNN (the zoo's architecture: depth 10, 32 features) and a
  128x128 crop of ``builtin:test``, against the least work its attacks need, run as raw
  passes of the same model in the same run (:func:`floor_counts`): one forward+backward per
  gradient iteration (PGD, ObsAtk, FGSM, Auto-PGD) and one forward per Square query, per
  scoring of each candidate, per transfer and random input, for the Gaussian input and for
  the output kept. Thread CPU time
  on one thread, alternating the two (on a shared CPU, wall time mostly measures the other
  jobs); one run of each (a row is ~6000 forwards: minutes). Prints the ratio, asserts
  <= 1.10. At 64x64 the small model's forward is so cheap (~2 ms) that Square's fixed
  per-query bookkeeping (~0.3 ms) costs 13-17% more than its forwards; at 128x128 3-4%.
- ``test_v2_wall_time_per_model``: the wall time of one v2 row per model (the zoo's normal
  DnCNN, NL-means; BM3D estimated from its forward time times the forwards Square makes) on a
  64x64 crop of ``builtin:test``, with the attacks in float32 and in bfloat16 (``amp="bf16"``),
  on this machine's threads. Prints a table; with ``DENOISE_ADV_RECORD_DOCS=1`` also writes
  it to ``docs/_generated/v2_cost.rst``.

- ``test_v2_whole_image_over_local_floor``: one v2 row on a whole 256x256 image of
  ``builtin:test`` (the small DnCNN, which declares its receptive radius, so Square's queries
  run on crops) against the least work of the passes it actually made: every call of the model
  is recorded (its input's shape, and whether it was under gradients) and replayed as raw
  passes of the same shapes, in the same order: a forward+backward per gradient call, a
  forward per other call. So the floor is the gradient attacks' floor plus Square's *local*
  floor; the ratio is the attacks' own bookkeeping. Asserts <= 1.10.
- ``test_v2_whole_image_time_per_model`` (``DENOISE_ADV_WHOLE_ROWS=1``; about 75 CPU minutes
  on one thread): the wall time of one v2 row on the whole 256x256 ``camera`` image per
  model (the zoo's normal DnCNN, the published FFDNet, NL-means), attacks in float32, with
  Square's queries local (``after``) and whole (``before``: Square told that no model
  declares a receptive field, as every model was run before local queries). Asserts that
  the first row ran forwards on crops and the second none, and that both are the same row
  (every attack's PSNR within 0.05 dB; only a near-tie decision can part the two searches).
  Prints a table with the largest difference; with ``DENOISE_ADV_RECORD_DOCS=1`` writes
  ``docs/_generated/v2_cost_whole.rst``.

Run with ``tox -e bench`` (or ``pytest benchmarks/test_bench_benchmark.py -s``).
"""

from __future__ import annotations

import importlib
import math
import os
import time
from pathlib import Path

import pytest
import torch
from conftest import floor_passes, interleaved_ratio

from denoise_adv.analysis import noisy_image
from denoise_adv.benchmark import (
    PROTOCOL_V2,
    PROTOCOL_V2_QUICK,
    Protocol,
    evaluate_image,
    load_images,
    transfer_inputs,
)
from denoise_adv.data import center_crop
from denoise_adv.evaluation.results import _cpu_name
from denoise_adv.models import BM3D, DnCNN, NLMeans, load_denoiser

SIZE, WALL_SIZE = 128, 64
DOCS = Path(__file__).parents[1] / "docs" / "_generated" / "v2_cost.rst"


def floor_counts(protocol: Protocol) -> tuple[int, int]:
    """``(forward+backward passes, forwards)`` one row of ``protocol`` needs at least on a
    deterministic differentiable model (see the module docstring)."""
    backward = forward = 0
    for a in protocol.attacks:
        if a.threat != "white-box":
            forward += 1  # its input scored
        elif a.kind == "apgd":  # per restart: steps gradients, one forward scores the last point
            backward += a.restarts * a.steps
            forward += a.restarts + 1  # and the ensemble scores the result
        elif a.kind == "square":
            forward += a.restarts * a.queries + 1
        else:
            backward += a.runs * a.steps
            forward += a.runs
    return backward, forward + 2  # the Gaussian input; the worst case's output kept


def _image(size: int) -> tuple[str, torch.Tensor]:
    name, clean = load_images(PROTOCOL_V2)[0]
    return name, center_crop(clean, size)[None]


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return DnCNN(depth=10, features=32).eval()


def _row(model, image, protocol=PROTOCOL_V2, amp=None, reference=None):
    """One row's work; the transfer inputs (crafted on ``reference``, default the model) are
    made here, outside the timed call."""
    name, clean = image
    transfer = transfer_inputs(reference or model, clean, name, 0, protocol)
    return lambda: evaluate_image(model, clean, name, 0, protocol, transfer, amp)


def _floor(model, image, backward, forward):
    name, clean = image
    noisy = noisy_image(clean, PROTOCOL_V2.sigma, 0, name)
    return floor_passes(model, noisy, clean, passes=backward, forwards=forward)


def test_v2_image_over_floor(small):
    backward, forward, image = *floor_counts(PROTOCOL_V2), _image(SIZE)
    ratio, ours, floor = interleaved_ratio(_row(small, image),
                                           _floor(small, image, backward, forward), repeats=1,
                                           warmup=_row(small, image, PROTOCOL_V2_QUICK))
    print(f"\nv2 row / its floor ({backward} forward+backward + {forward} forwards), DnCNN "
          f"depth 10 x 32, {SIZE}x{SIZE}: {ratio:.3f} ({ours:.2f} s / {floor:.2f} s CPU, one "
          "thread)")
    assert ratio <= 1.10


def _wall(run) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def test_v2_wall_time_per_model():
    image = _image(WALL_SIZE)
    normal = load_denoiser("zoo:dncnn-s25-normal", PROTOCOL_V2.sigma).model
    models = {"dncnn-s25-normal": normal.eval(), "nlmeans": NLMeans(sigma=PROTOCOL_V2.sigma)}
    lines = []
    for label, model in models.items():
        seconds = {}
        for amp in (None, "bf16"):
            seconds[amp], (row, _) = _wall(_row(model, image, amp=amp, reference=normal))
            # the timed row is a whole v2 row: every attack scored, every score finite
            assert set(row["psnr"]) == {a.name for a in PROTOCOL_V2.attacks}
            assert all(math.isfinite(v) for v in row["psnr"].values())
            print(f"{label} {amp or 'fp32'}: {seconds[amp]:.1f} s", flush=True)
        lines.append(f"- {label}: {seconds[None]:.1f} s fp32, {seconds['bf16']:.1f} s bf16")
    _, clean = image
    bm3d = BM3D(sigma=PROTOCOL_V2.sigma)
    one = min(_wall(lambda: bm3d(clean))[0] for _ in range(3))
    square = sum(a.queries * a.restarts + 1 for a in PROTOCOL_V2.attacks if a.kind == "square")
    others = len([a for a in PROTOCOL_V2.attacks if a.threat != "white-box"]) + 2
    lines.append(f"- bm3d (estimated: {square + others} forwards x {one:.2f} s, its forward "
                 f"here): {(square + others) * one:.0f} s (no autocast: not a network)")
    text = "\n".join([
        f"Wall time of one protocol v2 row (a {WALL_SIZE}x{WALL_SIZE} crop of builtin:test, "
        f"transfer inputs given) per model on {_cpu_name()} with "
        f"{torch.get_num_threads()} torch threads, attacks in float32 and bfloat16 "
        "(``pytest benchmarks/test_bench_benchmark.py -s``):", "", *lines, ""])
    print("\n" + text)
    if os.environ.get("DENOISE_ADV_RECORD_DOCS") == "1":
        DOCS.write_text(".. Generated by benchmarks/test_bench_benchmark.py; do not edit.\n\n"
                        + text)


# --------------------------------------------------------------- whole 256x256 images
WHOLE = 256
WHOLE_DOCS = DOCS.with_name("v2_cost_whole.rst")


def _record_calls(model) -> tuple[list, object]:
    """``(calls, handle)``: ``calls`` lists ``(input shape, requires grad)`` of every call of
    ``model``, in order, until ``handle.remove()``."""
    calls: list = []

    def record(module, args):
        calls.append((tuple(args[0].shape), bool(args[0].requires_grad)))

    return calls, model.register_forward_pre_hook(record)


def _replay(model, calls: list):
    """Raw passes of ``model`` of the recorded shapes, in the recorded order (so oneDNN's
    primitive cache sees the same sequence of shapes): a forward+backward to the input per
    gradient call, a forward per other call."""

    def run():
        for shape, grad in calls:
            x = torch.rand(shape)
            if grad:
                xg = x.requires_grad_(True)
                torch.autograd.grad(torch.nn.functional.mse_loss(model(xg), x.detach()), xg)
            else:
                with torch.no_grad():
                    model(x)

    return run


def test_v2_whole_image_over_local_floor(small):
    image = _image(WHOLE)
    row = _row(small, image)
    calls, handle = _record_calls(small)
    try:
        row()  # records the passes (and warms up)
    finally:
        handle.remove()
    crops = sum(not grad and shape[-1] < WHOLE for shape, grad in calls)
    ratio, ours, floor = interleaved_ratio(row, _replay(small, calls), repeats=1, warmup=0)
    backward = sum(grad for _, grad in calls)
    print(f"\nv2 row on a whole {WHOLE}x{WHOLE} image / its local floor ({backward} "
          f"forward+backward, {len(calls) - backward} forwards of which {crops} on "
          f"crops), DnCNN depth 10 x 32: {ratio:.3f} ({ours:.2f} s / {floor:.2f} s CPU, one "
          "thread)")
    assert crops > 3000  # most Square queries ran on crops
    assert ratio <= 1.10


def _timed_row(model, image, reference) -> tuple[float, dict, int]:
    """``(wall seconds, row, forwards on crops)`` of one v2 row on ``model`` (its transfer
    inputs crafted on ``reference`` first, outside the time)."""
    run = _row(model, image, reference=reference)
    calls, handle = _record_calls(model)
    try:
        seconds, (row, _) = _wall(run)
    finally:
        handle.remove()
    return seconds, row, sum(shape[-1] < image[1].shape[-1] for shape, _ in calls)


@pytest.mark.skipif(os.environ.get("DENOISE_ADV_WHOLE_ROWS") != "1",
                    reason="about 75 CPU minutes: set DENOISE_ADV_WHOLE_ROWS=1")
def test_v2_whole_image_time_per_model(monkeypatch):
    square = importlib.import_module("denoise_adv.attacks.square")
    image = _image(WHOLE)
    normal = load_denoiser("zoo:dncnn-s25-normal", PROTOCOL_V2.sigma).model.eval()
    models = {"dncnn-s25-normal": normal,
              "ffdnet-ipol-gray": load_denoiser("zoo:ffdnet-ipol-gray",
                                                PROTOCOL_V2.sigma).model.eval(),
              "nlmeans": NLMeans(sigma=PROTOCOL_V2.sigma)}
    lines = []
    for label, model in models.items():
        with torch.no_grad():  # a warm model: the first forward allocates
            model(image[1])
        after, row, crops = _timed_row(model, image, normal)
        with monkeypatch.context() as m:  # as before local queries: no model declared a field
            m.setattr(square, "receptive_field", lambda model: None)
            before, whole, crops_before = _timed_row(model, image, normal)
        assert crops > 0 and crops_before == 0  # the two rows are the two ways of running it
        assert row["psnr"].keys() == whole["psnr"].keys()
        moved = max(abs(row["psnr"][k] - whole["psnr"][k]) for k in row["psnr"])
        assert moved < 0.05  # the same search; a near-tie decision may part the two runs
        lines.append(f"- {label}: {before:.0f} s before (Square's queries whole), {after:.0f} s "
                     f"after (local): {before / after:.2f}x faster; largest PSNR difference "
                     f"between the two rows {moved:.1e} dB")
        print(lines[-1], flush=True)
    text = "\n".join([
        f"Wall time of one protocol v2 row on the whole {WHOLE}x{WHOLE} ``{image[0]}`` image "
        f"of builtin:test (transfer inputs given) per model on {_cpu_name()} with "
        f"{torch.get_num_threads()} torch threads, attacks in float32 "
        "(``DENOISE_ADV_WHOLE_ROWS=1 pytest benchmarks/test_bench_benchmark.py -s -k "
        "whole_image_time_per_model``):", "", *lines, ""])
    print("\n" + text)
    if os.environ.get("DENOISE_ADV_RECORD_DOCS") == "1":
        WHOLE_DOCS.write_text(".. Generated by benchmarks/test_bench_benchmark.py; do not "
                              "edit.\n\n" + text)
