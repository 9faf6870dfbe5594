"""The standard robustness benchmark for denoisers, as users know it: a frozen, versioned
protocol (:data:`PROTOCOL_V1`, :data:`PROTOCOL_V2`) and its runner (:func:`run_benchmark`;
``denoise-adv benchmark``).

This is the benchmark's public face; the code lives in :mod:`denoise_adv.evaluation` (the one
evaluation core: noisy inputs, protocols, the per-image runner, the results store, the
statistics of the board and its pages), whose names are re-exported here unchanged.

A model's *robust PSNR* under a protocol is the mean over the test images of the per-image
worst case over every attack of the protocol's headline budget (white-box attacks through
:class:`~denoise_adv.attacks.WorstCase`, transfer from a fixed reference model, random noise
of the budget's size). See ``docs/benchmark.rst`` for the protocol and its reasons.
"""

from ..evaluation import *  # noqa: F403
from ..evaluation import __all__  # noqa: F401
