"""Denoiser models, the denoiser adapter, the registry and checkpoints.

Registered names (for :func:`build` and checkpoints): ``dncnn`` (:class:`DnCNN`), ``ffdnet``
(:class:`FFDNet`), ``drunet`` (:class:`UNetRes`), ``swinir`` (:class:`SwinDenoiser`),
``unfolding`` (:class:`UnfoldingDenoiser`). :class:`PnPDenoiser` wraps any of them.
The denoiser contract is ``model(noisy) -> clean``; models that take a noise level say so with
``takes_sigma = True`` (FFDNet, DRUNet) and become plain denoisers with
``as_denoiser(model, sigma=...)``; :func:`as_prior` gives any of them deepinv's
``prior(x, sigma)`` signature.
"""

from .adapters import DenoiserAdapter, PriorAdapter, as_denoiser, as_prior, takes_sigma
from .dncnn import DnCNN
from .ffdnet import FFDNet
from .pnp import PnPDenoiser
from .registry import MODELS, build, load, load_checkpoint, register_model, save_checkpoint
from .transformer import SwinDenoiser
from .unet import UNetRes
from .unfolding import UnfoldingDenoiser

__all__ = [
    "MODELS",
    "DenoiserAdapter",
    "DnCNN",
    "FFDNet",
    "PnPDenoiser",
    "PriorAdapter",
    "SwinDenoiser",
    "UNetRes",
    "UnfoldingDenoiser",
    "as_denoiser",
    "build",
    "as_prior",
    "takes_sigma",
    "load",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
