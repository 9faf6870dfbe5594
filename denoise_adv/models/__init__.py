"""Denoiser models, the denoiser adapter, the registry and checkpoints."""

from .adapters import DenoiserAdapter, as_denoiser
from .dncnn import DnCNN
from .registry import MODELS, build, load, load_checkpoint, register_model, save_checkpoint

__all__ = [
    "MODELS",
    "DenoiserAdapter",
    "DnCNN",
    "as_denoiser",
    "build",
    "load",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
