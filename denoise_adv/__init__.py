"""denoise_adv: adversarial attacks on deep image denoisers and Typical-Set-Sampling training.

Attacks are :class:`torchattacks.Attack` subclasses used exactly like ``torchattacks.PGD``::

    from denoise_adv import DenoisePGD
    adv_noisy = DenoisePGD(model, eps=2/255, alpha=0.5/255, steps=10)(noisy, clean)
"""

from ._amp import native_bf16
from .attacks import (
    DenoiseAPGD,
    DenoiseAttack,
    DenoiseBIM,
    DenoiseFGSM,
    DenoisePGD,
    DenoisePGDL2,
    DenoiseSquare,
    ObsAtk,
    WorstCase,
)
from .models import DnCNN, as_denoiser

__version__ = "0.1.0"

__all__ = [
    "DenoiseAPGD",
    "DenoiseAttack",
    "DenoiseBIM",
    "DenoiseFGSM",
    "DenoisePGD",
    "DenoisePGDL2",
    "DenoiseSquare",
    "DnCNN",
    "ObsAtk",
    "WorstCase",
    "__version__",
    "as_denoiser",
    "native_bf16",
]
