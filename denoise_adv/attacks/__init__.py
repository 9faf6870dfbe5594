"""Attacks on image denoisers, as :class:`torchattacks.Attack` subclasses."""

from .apgd import DenoiseAPGD, apgd_checkpoints
from .base import MAX_BUDGET, DenoiseAttack, mse_per_image
from .bim import DenoiseBIM
from .fgsm import DenoiseFGSM
from .io import load_adversarial_set, save_adversarial_set
from .obsatk import ObsAtk
from .pgd import DenoisePGD
from .pgdl2 import DenoisePGDL2
from .spec import AttackSpec
from .square import DenoiseSquare
from .worstcase import WorstCase, WorstCaseResult

__all__ = [
    "MAX_BUDGET",
    "AttackSpec",
    "DenoiseAPGD",
    "DenoiseAttack",
    "DenoiseBIM",
    "DenoiseFGSM",
    "DenoisePGD",
    "DenoisePGDL2",
    "DenoiseSquare",
    "ObsAtk",
    "WorstCase",
    "WorstCaseResult",
    "apgd_checkpoints",
    "load_adversarial_set",
    "mse_per_image",
    "save_adversarial_set",
]
