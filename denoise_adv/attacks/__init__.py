"""Attacks on image denoisers, as :class:`torchattacks.Attack` subclasses."""

from .base import MAX_BUDGET, DenoiseAttack
from .bim import DenoiseBIM
from .fgsm import DenoiseFGSM
from .io import load_adversarial_set, save_adversarial_set
from .obsatk import ObsAtk
from .pgd import DenoisePGD
from .pgdl2 import DenoisePGDL2
from .spec import AttackSpec
from .worstcase import WorstCase, WorstCaseResult

__all__ = [
    "MAX_BUDGET",
    "AttackSpec",
    "DenoiseAttack",
    "DenoiseBIM",
    "DenoiseFGSM",
    "DenoisePGD",
    "DenoisePGDL2",
    "ObsAtk",
    "WorstCase",
    "WorstCaseResult",
    "load_adversarial_set",
    "save_adversarial_set",
]
