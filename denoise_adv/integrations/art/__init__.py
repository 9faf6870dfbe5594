"""Adversarial Robustness Toolbox (ART) integration: any PyTorch denoiser as an ART estimator.

Split as ART splits its own classes: :mod:`.estimator` (:class:`PyTorchDenoiser`,
:func:`check_attack`), :mod:`.preprocessor` (:class:`TSAugmentation`), :mod:`.trainer`
(:class:`AdversarialTrainerDenoiser`). ``denoise_adv.art`` re-exports them (the old path,
deprecated). Needs ``pip install "denoise-adv[art]"``.

ART's :class:`~art.estimators.regression.PyTorchRegressor` flattens the model output
(``loss(output.reshape(-1), y)``), so it breaks on image-to-image models.
:class:`PyTorchDenoiser` keeps the regressor family (ART's FGM, BIM and PGD accept it; it is never a
classifier) and computes losses and gradients on images, with ``y`` = the clean images.

Three lines::

    estimator = PyTorchDenoiser(model, input_shape=(1, 64, 64), clip_values=None)
    attack = ProjectedGradientDescent(estimator, norm=np.inf, eps=2/255, eps_step=0.5/255,
                                      max_iter=10)
    adv_noisy = attack.generate(x=noisy, y=clean)

Notes on ART 1.20 with regressors: PGD takes its NumPy path and refuses ``num_random_init > 0``
(use :class:`denoise_adv.DenoisePGD`, which has random starts, or see :func:`check_attack`);
``generate`` without ``y`` would use the model's own output, whose MSE gradient is zero, so
:meth:`PyTorchDenoiser.loss_gradient` raises a :class:`ValueError` saying so instead of letting the
attack return its input unchanged. For the same reason ``AdversarialTrainerMadryPGD`` fails at its
defaults (``num_random_init=1``, and ``eps=8`` means 8/255 only on 0-255 images):
:class:`AdversarialTrainerDenoiser` is Madry's protocol for denoisers, with ART's own PGD
(``AdversarialTrainerMadryPGD(estimator, eps=2/255, eps_step=0.5/255, num_random_init=0)`` is the
equivalent by hand).

``clip_values`` and noisy inputs: ``clip_values`` is the valid range of the estimator's *inputs*.
ART's attacks clip their steps to it, and image-domain defences (``JpegCompression``,
``FeatureSqueezing``) quantise within it. Noisy images are not clipped (DnCNN convention) and leave
[0, 1], so the default is ``clip_values=None`` (inputs unbounded, attacks bounded by ``eps`` only).
With ``clip_values=(0, 1)`` the inputs must lie in [0, 1] already: clip the noisy images first
(``np.clip(noisy, 0, 1)``, the convention of noisy images saved as 8-bit files). The estimator
refuses inputs outside ``clip_values`` with a :class:`ValueError`: ART's FGM and PGD clip each step
and then project back around the out-of-range input, so their outputs would leave ``clip_values``,
and ``JpegCompression`` refuses negative values. On inputs inside ``clip_values``, ART's outputs
stay inside it and within ``eps`` of the input.

Defences may hand the model float64 arrays (``FeatureSqueezing``, ``JpegCompression``): the
estimator casts every input to the model's dtype (its first floating-point parameter or buffer).
"""

from __future__ import annotations

from .estimator import PyTorchDenoiser, check_attack, match_target
from .preprocessor import TSAugmentation
from .trainer import AdversarialTrainerDenoiser

__all__ = ["AdversarialTrainerDenoiser", "PyTorchDenoiser", "TSAugmentation", "check_attack",
           "match_target"]
