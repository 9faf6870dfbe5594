"""The ART integration's former path, kept working: everything here is
:mod:`denoise_adv.integrations.art` (estimator, preprocessor and trainer, split as ART splits
them). Prefer ``from denoise_adv.integrations.art import PyTorchDenoiser``.

Example:
    >>> from denoise_adv.art import PyTorchDenoiser
    >>> from denoise_adv.integrations import art
    >>> PyTorchDenoiser is art.PyTorchDenoiser
    True
"""

from __future__ import annotations

from .integrations.art import (
    AdversarialTrainerDenoiser,
    PyTorchDenoiser,
    TSAugmentation,
    check_attack,
    match_target,
)

__all__ = ["AdversarialTrainerDenoiser", "PyTorchDenoiser", "TSAugmentation", "check_attack",
           "match_target"]
