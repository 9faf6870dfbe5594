"""The paper's analyses as reusable functions: robustness evaluation and adversarial sets,
transferability, neighbourhood sweeps, patch attacks, typical sets; and their figures."""

from .common import attack_generator, load_dataset, noisy_image, score
from .figures import plot_comparison_strip, plot_polar, plot_sphere, plot_transfer
from .likelihood import nll_samples, plot_nll_histograms, typical_set_rows
from .neighborhood import connected_set_check, gram_schmidt, neighborhood_2d, sphere_sweep
from .patches import patch_attack
from .robustness import (
    evaluate_adversarial_set,
    evaluate_robustness,
    make_adversarial_set,
    summarize,
)
from .transfer import random_perturbation_like, transfer_matrix

__all__ = [
    "attack_generator",
    "connected_set_check",
    "evaluate_adversarial_set",
    "evaluate_robustness",
    "gram_schmidt",
    "load_dataset",
    "make_adversarial_set",
    "neighborhood_2d",
    "nll_samples",
    "noisy_image",
    "patch_attack",
    "plot_comparison_strip",
    "plot_nll_histograms",
    "plot_polar",
    "plot_sphere",
    "plot_transfer",
    "random_perturbation_like",
    "score",
    "sphere_sweep",
    "summarize",
    "transfer_matrix",
    "typical_set_rows",
]
