"""Restoration pipelines as attack targets (deepinv 0.5): deblurring, super-resolution and
inpainting through a denoiser prior.

- :class:`Restorer`: ``Restorer(reconstructor, physics)`` is a module ``y -> x_hat`` around
  any deepinv reconstructor (``DPIR``, ``optim_builder`` algorithms, unfolded networks,
  ``ArtifactRemoval``) or a function ``f(y, physics)``, differentiable through deepinv's
  iterations, so that every attack of :mod:`denoise_adv.attacks` runs on it with
  ``atk(y, x)`` (the budget is on the measurement ``y``; ``x`` may be larger).
- :class:`TaskPipeline`: one task at any image size (DPIR around a prior, or the baseline),
  what the restoration protocols score; :func:`load_pipeline` builds it from a model spec.
- The tasks (:data:`TASKS`, :func:`make_physics`), DPIR around a prior (:func:`dpir`,
  :func:`dpir_restorer`) and a classical baseline per task (:func:`baseline_restorer`:
  :class:`WienerDeconvolution`, :class:`BicubicUpsampling`, :class:`MaskedAverageInpainting`).

Example:
    >>> import torch
    >>> from denoise_adv import DenoisePGD
    >>> from denoise_adv.models import DnCNN
    >>> restorer = dpir_restorer("sr2", DnCNN(depth=3, features=4), 16, iterations=2)
    >>> x = torch.rand(1, 1, 16, 16)
    >>> y = restorer.measure(x, seed=0)
    >>> adv = DenoisePGD(restorer, eps=2 / 255, alpha=0.5 / 255, steps=2)(y, x)
    >>> adv.shape, bool((adv - y).abs().max() <= 2 / 255 + 1e-7)
    (torch.Size([1, 1, 8, 8]), True)
"""

from .baselines import BicubicUpsampling, MaskedAverageInpainting, WienerDeconvolution
from .pipeline import BASELINE, TaskPipeline, load_pipeline, pipeline_label
from .restorer import Restorer
from .tasks import DEFAULT_NOISE, TASKS, baseline_restorer, dpir, dpir_restorer, make_physics

__all__ = [
    "BASELINE",
    "DEFAULT_NOISE",
    "TASKS",
    "BicubicUpsampling",
    "MaskedAverageInpainting",
    "Restorer",
    "TaskPipeline",
    "WienerDeconvolution",
    "baseline_restorer",
    "dpir",
    "dpir_restorer",
    "load_pipeline",
    "pipeline_label",
    "make_physics",
]
