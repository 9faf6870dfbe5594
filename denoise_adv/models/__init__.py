"""Denoiser models, the denoiser contract and its adapters, and how a model is loaded.

Registered names (for :func:`build` and checkpoints): ``dncnn`` (:class:`DnCNN`), ``ffdnet``
(:class:`FFDNet`), ``drunet`` (:class:`UNetRes`), ``swinir`` (:class:`SwinDenoiser`),
``unfolding`` (:class:`UnfoldingDenoiser`); the classical baselines ``bm3d`` (:class:`BM3D`, needs
``pip install "denoise-adv[baselines]"``) and ``nlmeans`` (:class:`NLMeans`), which are not
differentiable (score them by transfer). :class:`PnPDenoiser` wraps any of them.
The denoiser contract (:mod:`~denoise_adv.models.contract`) is ``model(noisy) -> clean``; models
that take a noise level say so with ``takes_sigma = True`` (FFDNet, DRUNet) and become plain
denoisers with ``as_denoiser(model, sigma=...)``; :func:`as_prior` gives any of them deepinv's
``prior(x, sigma)`` signature; :func:`takes_sigma`, :func:`fixed_level`,
:func:`is_differentiable`, :func:`channels_of` and :func:`default_level` read the contract.
Loading a model is told in one module, :mod:`~denoise_adv.models.loading`:
:func:`load_pretrained` imports published weights (KAIR's DnCNN, FFDNet and DRUNet, SwinIR's
denoisers, deepinv's DnCNN and DRUNet) into these models; :func:`pretrained` returns the zoo's
models (``pretrained("dncnn-s25-normal")``), :func:`load_model_spec` resolves the model specs
every command accepts, :func:`load_denoiser` makes one ready to denoise at a level and
:func:`model_label` names it in reports.
"""

from .adapters import (
    DenoiserAdapter,
    PriorAdapter,
    as_denoiser,
    as_prior,
)
from .classical import BM3D, NLMeans
from .contract import (
    channels_of,
    default_level,
    fixed_level,
    is_differentiable,
    is_randomized,
    receptive_field,
    takes_sigma,
)
from .dncnn import DnCNN
from .ffdnet import FFDNet
from .info import model_info
from .loading import (
    LoadedDenoiser,
    load,
    load_denoiser,
    load_model_spec,
    model_label,
    pretrained,
)
from .pnp import PnPDenoiser
from .pretrained import load_pretrained, read_pretrained
from .registry import MODELS, build, load_checkpoint, register_model, save_checkpoint
from .transformer import SwinDenoiser
from .unet import UNetRes
from .unfolding import UnfoldingDenoiser
from .zoo import zoo_manifest, zoo_names

__all__ = [
    "BM3D",
    "MODELS",
    "DenoiserAdapter",
    "LoadedDenoiser",
    "DnCNN",
    "FFDNet",
    "NLMeans",
    "PnPDenoiser",
    "PriorAdapter",
    "SwinDenoiser",
    "UNetRes",
    "UnfoldingDenoiser",
    "as_denoiser",
    "build",
    "as_prior",
    "channels_of",
    "default_level",
    "fixed_level",
    "is_differentiable",
    "is_randomized",
    "receptive_field",
    "takes_sigma",
    "load",
    "load_checkpoint",
    "load_denoiser",
    "load_model_spec",
    "load_pretrained",
    "model_info",
    "model_label",
    "pretrained",
    "read_pretrained",
    "register_model",
    "save_checkpoint",
    "zoo_manifest",
    "zoo_names",
]
