"""TaskPipeline (one task at any size), the protocols' measurement, and a restoration
protocol run through the evaluation core (store, rows, statistics)."""

from __future__ import annotations

import json

import pytest
import torch

from denoise_adv.evaluation import get_protocol, measured_image, noisy_image, run_benchmark
from denoise_adv.evaluation.runner import fingerprint
from denoise_adv.models import DnCNN
from denoise_adv.restoration import (
    TASKS,
    TaskPipeline,
    baseline_restorer,
    dpir_restorer,
    load_pipeline,
    make_physics,
    pipeline_label,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _prior() -> DnCNN:
    torch.manual_seed(0)
    return DnCNN(depth=3, features=4).eval()


@pytest.mark.parametrize("task", TASKS)
def test_pipeline_equals_the_restorer_of_each_size(task):
    prior = _prior()
    pipeline = TaskPipeline(task, prior, iterations=2)
    state = fingerprint(pipeline)
    for size in ((16, 24), (32, 16)):
        x = torch.rand(1, 1, *size)
        y = pipeline.measure(x, seed=1)
        direct = dpir_restorer(task, prior, size, iterations=2)
        assert torch.equal(y, direct.measure(x, seed=1))
        assert torch.equal(pipeline(y), direct(y)) and pipeline(y).shape == x.shape
        base = TaskPipeline(task)
        assert torch.equal(base(y), baseline_restorer(task, size)(y))
    assert fingerprint(pipeline) == state  # built restorers add no state: rows stay valid
    pipeline.train()
    assert not prior.training and pipeline.output_shape_differs


def test_pipeline_is_differentiable_and_frozen():
    pipeline = TaskPipeline("deblur", _prior(), iterations=2)
    y = pipeline.measure(torch.rand(1, 1, 16, 16), seed=0).requires_grad_()
    pipeline(y).square().sum().backward()
    assert y.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in pipeline.parameters())
    with pytest.raises(ValueError, match="task must be one of"):
        TaskPipeline("denoise")


@pytest.mark.parametrize("task", TASKS)
def test_measurement_is_the_physics_plus_the_images_noise(task):
    clean = torch.rand(1, 1, 16, 16)
    y = measured_image(clean, task, 0.01, 3, "img")
    physics = make_physics(task, 16, noise=0.01)
    assert torch.equal(y, noisy_image(physics.A(clean), 0.01, 3, "img"))
    assert not torch.equal(y, measured_image(clean, task, 0.01, 4, "img"))  # the seed draws


def test_load_pipeline_and_labels():
    loaded = load_pipeline("zoo:dncnn-s25-normal", "sr4")
    assert isinstance(loaded.model, TaskPipeline) and loaded.model.prior is not None
    assert loaded.meta["prior"] == "zoo:dncnn-s25-normal" and loaded.meta["iterations"] == 8
    assert loaded.model.noise == 0.01 and load_pipeline("baseline", "sr4").model.prior is None
    assert pipeline_label("zoo:dncnn-s25-normal") == "dncnn-s25-normal"


def test_restoration_protocol_through_the_evaluation_core(tmp_path):
    """v1-sr2-quick on a tiny prior and the baseline, one image: rows score the estimate
    against the clean image, the folder records the task, a rerun reuses the rows."""
    protocol = get_protocol("v1-sr2-quick")
    models = {"tiny": TaskPipeline("sr2", _prior(), iterations=2), "baseline": TaskPipeline("sr2")}
    reference = TaskPipeline("sr2", _prior(), iterations=2)
    res = run_benchmark(models, tmp_path, protocol, reference=reference, max_images=1,
                        progress=False, figures=False)
    row = next(r for r in res["per_image"] if r["model"] == "baseline")
    clean = torch.load(tmp_path / "cache" / "transfer" / "camera-s0.pt", weights_only=True)
    assert clean["inputs"]["transfer-linf-2"].shape[-1] == 32  # attacks on y (64 / 2)
    at_two = [v for k, v in row["psnr"].items() if k.endswith("-2")]  # the headline budget
    assert len(at_two) == 8 and row["robust_psnr"] == min(at_two)  # 8 attacks at 2/255
    assert row["robust_psnr"] < row["gaussian_psnr"]
    assert json.loads((tmp_path / "protocol.json").read_text())["protocol"]["task"] == "sr2"
    again = run_benchmark(models, tmp_path, protocol, reference=reference, max_images=1,
                          progress=False, figures=False)
    assert again["per_image"] == res["per_image"]
