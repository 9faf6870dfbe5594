"""The standard robustness benchmark for denoisers: a frozen, versioned protocol
(:data:`PROTOCOL_V1`) and its runner (:func:`run_benchmark`; ``denoise-adv benchmark``).

A model's *robust PSNR* under a protocol is the mean over the test images of the per-image
worst case over every attack of the protocol's headline budget (white-box attacks through
:class:`~denoise_adv.attacks.WorstCase`, transfer from a fixed reference model, random noise
of the budget's size). See ``docs/benchmark.rst`` for the protocol and its reasons.
"""

from .protocol import (
    PROTOCOL_V1,
    PROTOCOL_V1_COLOR,
    PROTOCOL_V1_QUICK,
    PROTOCOLS,
    BenchAttack,
    Protocol,
    custom_data,
    get_protocol,
)
from .results import bootstrap_interval, sanity_checks, summarize_model
from .runner import (
    distributed,
    evaluate_image,
    fingerprint,
    is_black_box,
    load_images,
    run_benchmark,
    transfer_inputs,
)
from .store import SCHEMA_VERSION, ResultsFolder

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_V1",
    "PROTOCOL_V1_COLOR",
    "PROTOCOL_V1_QUICK",
    "SCHEMA_VERSION",
    "BenchAttack",
    "Protocol",
    "ResultsFolder",
    "bootstrap_interval",
    "custom_data",
    "distributed",
    "evaluate_image",
    "fingerprint",
    "get_protocol",
    "is_black_box",
    "load_images",
    "run_benchmark",
    "sanity_checks",
    "summarize_model",
    "transfer_inputs",
]
