"""The paper's research analyses as reusable functions: transferability, neighbourhood sweeps,
patch attacks, typical sets, the anatomy of a perturbation (radial / orthogonal to the noise)
and the sensitivity to the noise level; and their figures.

Scoring a denoiser under attack (noisy inputs, robustness tables, adversarial sets) is
:mod:`denoise_adv.evaluation`'s; its names that this package always offered
(:func:`evaluate_robustness`, :func:`noisy_image`, :func:`score`, ...) are re-exported here."""

from ..evaluation.inputs import attack_generator, load_dataset, noisy_image, score
from ..evaluation.robustness import (
    evaluate_adversarial_set,
    evaluate_robustness,
    make_adversarial_set,
    summarize,
)
from .anatomy import decompose_perturbation, noise_level_sensitivity, radial_split
from .figures import (
    plot_anatomy,
    plot_comparison_strip,
    plot_noise_levels,
    plot_patch_attack,
    plot_polar,
    plot_sphere,
    plot_transfer,
)
from .likelihood import nll_samples, plot_nll_histograms, typical_set_rows
from .neighborhood import connected_set_check, gram_schmidt, neighborhood_2d, sphere_sweep
from .patches import patch_attack
from .transfer import random_perturbation, random_perturbation_like, transfer_matrix

__all__ = [
    "attack_generator",
    "connected_set_check",
    "decompose_perturbation",
    "evaluate_adversarial_set",
    "evaluate_robustness",
    "gram_schmidt",
    "load_dataset",
    "make_adversarial_set",
    "neighborhood_2d",
    "nll_samples",
    "noise_level_sensitivity",
    "noisy_image",
    "patch_attack",
    "plot_anatomy",
    "plot_comparison_strip",
    "plot_noise_levels",
    "plot_nll_histograms",
    "plot_patch_attack",
    "plot_polar",
    "plot_sphere",
    "plot_transfer",
    "radial_split",
    "random_perturbation",
    "random_perturbation_like",
    "score",
    "sphere_sweep",
    "summarize",
    "transfer_matrix",
    "typical_set_rows",
]
