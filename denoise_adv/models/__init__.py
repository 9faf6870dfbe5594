"""Denoiser models, the denoiser adapter, the registry and checkpoints.

Registered names (for :func:`build` and checkpoints): ``dncnn`` (:class:`DnCNN`), ``ffdnet``
(:class:`FFDNet`), ``drunet`` (:class:`UNetRes`), ``swinir`` (:class:`SwinDenoiser`),
``unfolding`` (:class:`UnfoldingDenoiser`). :class:`PnPDenoiser` wraps any of them.
Models that take a noise level (FFDNet, DRUNet) become plain denoisers with
``as_denoiser(model, sigma=...)``.
"""

from .adapters import DenoiserAdapter, as_denoiser, fixed_level_denoiser
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
    "SwinDenoiser",
    "UNetRes",
    "UnfoldingDenoiser",
    "as_denoiser",
    "build",
    "fixed_level_denoiser",
    "load",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
