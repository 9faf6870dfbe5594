"""The one evaluation core: scoring a denoiser under attack, written once.

==================  ==========================================================================
module              its concern
==================  ==========================================================================
``inputs``          the images, the seeded noisy input of each (the noise owner's stream), the
                    attacks' random starts, random perturbations, the score of one output
``robustness``      per-image tables on Gaussian and white-box adversarial inputs
                    (:func:`evaluate_robustness`) and fixed adversarial sets (Set12-Adv)
``protocol``        the versioned benchmark protocols (:data:`PROTOCOL_V1`, v1-color,
                    :data:`PROTOCOL_V2`), their attacks as :class:`~denoise_adv.attacks.AttackSpec`
                    values, and their one check
``runner``          the one per-image scorer (:func:`score_image`: noisy input, attacks,
                    every model on every input), one image under a protocol
                    (:func:`evaluate_image`), the whole run (:func:`run_benchmark`,
                    resumable, sharded under ``torchrun``)
``store``           the results folder: verified rows, the lock, identity by content
``results``         merging rows: means with t-intervals, sanity checks, rank groups
``report``          the leaderboard pages (Markdown, HTML, reStructuredText) and figures
``table2``          the paper's Table 2 protocol as stages (``denoise-adv reproduce``)
==================  ==========================================================================

A model's *robust PSNR* under a protocol is the mean over the test images of the per-image
worst case over every attack of the protocol's headline budget (white-box attacks through
:class:`~denoise_adv.attacks.WorstCase`, transfer from a fixed reference model, random noise
of the budget's size). See ``docs/benchmark.rst`` for the protocol and its reasons.
"""

from .inputs import (
    Image,
    attack_generator,
    attacked_input,
    load_dataset,
    measured_image,
    noisy_image,
    random_perturbation,
    random_perturbation_like,
    score,
)
from .protocol import (
    PROTOCOL_V1,
    PROTOCOL_V1_COLOR,
    PROTOCOL_V1_QUICK,
    PROTOCOL_V2,
    PROTOCOL_V2_QUICK,
    PROTOCOLS,
    TASK_PROTOCOLS,
    BenchAttack,
    BenchAttackV2,
    Protocol,
    budget_key,
    custom_data,
    get_protocol,
)
from .results import (
    image_interval,
    paired_difference,
    rank_with_ties,
    sanity_checks,
    summarize_model,
)
from .robustness import (
    evaluate_adversarial_set,
    evaluate_robustness,
    make_adversarial_set,
    summarize,
)
from .runner import (
    distributed,
    evaluate_image,
    fingerprint,
    is_black_box,
    is_randomized,
    load_images,
    run_benchmark,
    score_image,
    transfer_inputs,
)
from .store import SCHEMA_VERSION, ResultsFolder
from .table2 import PAPER_TABLE2, PAPER_TABLE4, Table2Run, run_table2

__all__ = [
    "PAPER_TABLE2",
    "PAPER_TABLE4",
    "Image",
    "Table2Run",
    "attack_generator",
    "evaluate_adversarial_set",
    "evaluate_robustness",
    "load_dataset",
    "measured_image",
    "make_adversarial_set",
    "noisy_image",
    "attacked_input",
    "random_perturbation",
    "random_perturbation_like",
    "run_table2",
    "score",
    "summarize",
    "PROTOCOLS",
    "TASK_PROTOCOLS",
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
    "budget_key",
    "custom_data",
    "distributed",
    "evaluate_image",
    "fingerprint",
    "get_protocol",
    "is_black_box",
    "is_randomized",
    "load_images",
    "image_interval",
    "paired_difference",
    "rank_with_ties",
    "run_benchmark",
    "sanity_checks",
    "score_image",
    "summarize_model",
    "transfer_inputs",
]
