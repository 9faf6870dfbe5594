"""A restoration task as one model of any image size: what the benchmark attacks.

:class:`TaskPipeline` is ``pipeline(y) -> x_hat`` for one task (:data:`TASKS`): DPIR around a
denoiser prior, or the task's classical baseline, built (once per clean-image size and
device) from :func:`~denoise_adv.restoration.dpir_restorer` /
:func:`~denoise_adv.restoration.baseline_restorer`, so that one model scores images of every
size of a folder. :func:`load_pipeline` builds it from a model spec, as
:func:`~denoise_adv.models.load_denoiser` builds a denoiser.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .._checks import check_channels, check_int, check_module, check_real
from .._tasks import DEFAULT_NOISE, FACTORS, check_task
from ..models.loading import LoadedDenoiser, load_model_spec
from ..noise import DEFAULT_SIGMA
from .restorer import Restorer
from .tasks import baseline_restorer, dpir_restorer

__all__ = ["BASELINE", "TaskPipeline", "load_pipeline", "pipeline_label"]

#: The model spec of a task's classical baseline.
BASELINE = "baseline"


class TaskPipeline(nn.Module):
    """``pipeline(y) -> x_hat`` for one restoration task at any image size: DPIR around
    ``prior`` (:func:`~denoise_adv.restoration.dpir_restorer`), or with ``prior=None`` the
    task's classical baseline (:func:`~denoise_adv.restoration.baseline_restorer`).

    The physics depends on the image size (a blur's FFT, a mask), so the pipeline builds the
    :class:`Restorer` of each clean-image size (and device) on first use and keeps it; the
    prior is registered once (its weights are the pipeline's whole state), and stays in eval
    mode and frozen, as in a :class:`Restorer`. Declares ``output_shape_differs`` (x-hat is
    larger than y under super-resolution), ``channels``, and through its prior whether it is
    differentiable or randomized; no receptive radius (a deblurring pipeline is global).

    Args:
        task: one of :data:`~denoise_adv.restoration.TASKS`.
        prior: the denoiser DPIR calls (a model of this package or a deepinv ``Denoiser``);
            ``None``: the classical baseline.
        channels: image channels (1 or 3).
        noise: the measurement noise's standard deviation ([0, 1] units), DPIR's last level.
        iterations: DPIR's iterations.
        seed: the seed of the task's fixed parts (motion kernel, inpainting mask).

    Shape:
        - y: :math:`(B, C, h, w)`, the measurement.
        - output: :math:`(B, C, H, W)` (``H = h * factor`` under super-resolution).

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> pipeline = TaskPipeline("sr2", DnCNN(depth=3, features=4), iterations=2)
        >>> x = torch.rand(1, 1, 16, 12)
        >>> y = pipeline.measure(x, seed=0)
        >>> y.shape, pipeline(y).shape, TaskPipeline("sr2")(y).shape
        (torch.Size([1, 1, 8, 6]), torch.Size([1, 1, 16, 12]), torch.Size([1, 1, 16, 12]))
    """

    #: x-hat may have another shape than y (the contract's ``output_shape_differs``).
    output_shape_differs = True

    def __init__(self, task: str, prior: nn.Module | None = None, *, channels: int = 1,
                 noise: float = DEFAULT_NOISE, iterations: int = 8, seed: int = 0) -> None:
        super().__init__()
        self.task = check_task(task)
        self.channels = check_channels(channels)
        self.noise = check_real(noise, "noise", minimum=0.0, strict=True)
        self.iterations = check_int(iterations, "iterations", minimum=1)
        self.seed = check_int(seed, "seed")
        self.prior = None if prior is None else check_module(prior, "prior")
        if self.prior is not None:
            self.prior.requires_grad_(False)
            self.prior.eval()
        self._built: dict[tuple, Restorer] = {}  # not registered: the state is the prior's

    def train(self, mode: bool = True) -> TaskPipeline:
        """Set the pipeline's own mode; the prior stays in eval mode (see :class:`Restorer`)."""
        self.training = bool(mode)
        return self

    def restorer(self, size: tuple[int, int], device: torch.device | str = "cpu") -> Restorer:
        """The :class:`Restorer` of clean images of ``size`` (height, width) on ``device``."""
        key = (tuple(int(s) for s in size), str(device))
        if key not in self._built:
            if self.prior is None:
                built = baseline_restorer(self.task, key[0], self.channels, self.noise, self.seed)
            else:
                built = dpir_restorer(self.task, self.prior, key[0], self.channels, self.noise,
                                      self.iterations, self.seed)
            self._built[key] = built.to(device)
        return self._built[key]

    def clean_size(self, y: torch.Tensor) -> tuple[int, int]:
        """The clean-image size of measurements ``y`` (B, C, h, w)."""
        factor = FACTORS.get(self.task, 1)
        return y.shape[-2] * factor, y.shape[-1] * factor

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.restorer(self.clean_size(y), y.device)(y)

    def measure(self, x: torch.Tensor, seed: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The noisy measurement of clean images ``x`` (see :meth:`Restorer.measure`)."""
        return self.restorer(x.shape[-2:], x.device).measure(x, seed, generator)

    def extra_repr(self) -> str:
        method = "baseline" if self.prior is None else f"dpir, iterations={self.iterations}"
        return f"task={self.task!r}, {method}, noise={self.noise:g}, seed={self.seed}"


def load_pipeline(spec: str | os.PathLike, task: str, channels: int = 1,
                  noise: float = DEFAULT_NOISE, device: str | torch.device = "cpu"
                  ) -> LoadedDenoiser:
    """The :class:`TaskPipeline` of a model spec: ``"baseline"`` (:data:`BASELINE`) for the
    task's classical method, else DPIR around the model the spec loads
    (:func:`~denoise_adv.models.load_model_spec`: a zoo name, a weights file, ``nlmeans``...),
    used as a prior at DPIR's levels (a model that takes a level gets each of them; a
    fixed-level one ignores them and warns once).

    Returns:
        ``(pipeline, channels, meta)`` as a :class:`~denoise_adv.models.LoadedDenoiser`;
        ``meta`` records the task and the prior's spec.

    Example:
        >>> loaded = load_pipeline("baseline", "deblur")
        >>> loaded.meta["task"], loaded.meta["pipeline"]
        ('deblur', 'baseline')
    """
    task, text = check_task(task), str(spec)
    meta = {"task": task, "noise": noise}
    if text == BASELINE:
        return LoadedDenoiser(TaskPipeline(task, channels=channels, noise=noise).to(device),
                              channels, {**meta, "pipeline": "baseline"})
    prior, prior_meta = load_model_spec(spec, DEFAULT_SIGMA, map_location=device,
                                        channels=channels)
    pipeline = TaskPipeline(task, prior, channels=channels, noise=noise)
    return LoadedDenoiser(pipeline.to(device), channels,
                          {**meta, "pipeline": "dpir", "iterations": pipeline.iterations,
                           "prior": text, "prior_meta": prior_meta})


def pipeline_label(spec: str | os.PathLike) -> str:
    """The report label of a pipeline's spec: ``"baseline"``, else the prior's
    :func:`~denoise_adv.models.model_label` (a board of one task names its models by prior).

    Example:
        >>> pipeline_label("zoo:dncnn-s25-normal"), pipeline_label("baseline")
        ('dncnn-s25-normal', 'baseline')
    """
    from ..models import model_label

    return BASELINE if str(spec) == BASELINE else model_label(spec)
