"""The standard robustness benchmark for denoisers: a frozen, versioned protocol
(:data:`PROTOCOL_V1`, :data:`PROTOCOL_V2`) and its runner (:func:`run_benchmark`;
``denoise-adv benchmark``).

A model's *robust PSNR* under a protocol is the mean over the test images of the per-image
worst case over every attack of the protocol's headline budget (white-box attacks through
:class:`~denoise_adv.attacks.WorstCase`, transfer from a fixed reference model, random noise
of the budget's size). See ``docs/benchmark.rst`` for the protocol and its reasons.
"""

from .protocol import (
    PROTOCOL_V1,
    PROTOCOL_V1_COLOR,
    PROTOCOL_V1_QUICK,
    PROTOCOL_V2,
    PROTOCOL_V2_QUICK,
    PROTOCOLS,
    BenchAttack,
    BenchAttackV2,
    Protocol,
    budget_key,
    custom_data,
    get_protocol,
)
from .results import (
    bootstrap_interval,
    paired_difference,
    rank_with_ties,
    sanity_checks,
    summarize_model,
)
from .runner import (
    distributed,
    evaluate_image,
    fingerprint,
    is_black_box,
    is_randomized,
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
    "PROTOCOL_V2",
    "PROTOCOL_V2_QUICK",
    "SCHEMA_VERSION",
    "BenchAttack",
    "BenchAttackV2",
    "Protocol",
    "ResultsFolder",
    "bootstrap_interval",
    "budget_key",
    "custom_data",
    "distributed",
    "evaluate_image",
    "fingerprint",
    "get_protocol",
    "is_black_box",
    "is_randomized",
    "load_images",
    "paired_difference",
    "rank_with_ties",
    "run_benchmark",
    "sanity_checks",
    "summarize_model",
    "transfer_inputs",
]
