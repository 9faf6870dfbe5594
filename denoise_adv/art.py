"""The ART integration's former path, deprecated: everything here is
:mod:`denoise_adv.integrations.art` (estimator, preprocessor and trainer, split as ART splits
them). Importing this module warns once (:class:`DeprecationWarning`); import
``from denoise_adv.integrations.art import PyTorchDenoiser`` instead.

This shim sits outside :mod:`denoise_adv.models` and imports only the integration: it is the one
old-path alias the package keeps.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from denoise_adv.art import PyTorchDenoiser
    >>> from denoise_adv.integrations import art
    >>> PyTorchDenoiser is art.PyTorchDenoiser
    True
"""

from __future__ import annotations

import warnings

from .integrations.art import (
    AdversarialTrainerDenoiser,
    PyTorchDenoiser,
    TSAugmentation,
    check_attack,
    match_target,
)

__all__ = ["AdversarialTrainerDenoiser", "PyTorchDenoiser", "TSAugmentation", "check_attack",
           "match_target"]

warnings.warn("denoise_adv.art is deprecated: import denoise_adv.integrations.art instead "
              "(the same classes)", DeprecationWarning, stacklevel=2)
