"""Adapters to other libraries' own extension points (import each submodule explicitly).

- :mod:`denoise_adv.integrations.deepinv`: TS and mixed-level noise as
  ``deepinv.physics.NoiseModel`` subclasses, our denoisers as ``deepinv.models.Denoiser``
  (plug-and-play priors), deepinv physics as the noise level of
  :func:`denoise_adv.models.as_denoiser`. Needs ``pip install "denoise-adv[deepinv]"``.
- :mod:`denoise_adv.integrations.art`: ART's extension points, split as ART splits them:
  the estimator (:class:`~denoise_adv.integrations.art.PyTorchDenoiser`), the preprocessor
  (:class:`~denoise_adv.integrations.art.TSAugmentation`) and the trainer
  (:class:`~denoise_adv.integrations.art.AdversarialTrainerDenoiser`). Needs
  ``pip install "denoise-adv[art]"``; ``denoise_adv.art`` is its former path (deprecated).

torchvision transforms live in :mod:`denoise_adv.transforms`; torchattacks-style attacks in
:mod:`denoise_adv.attacks`. Nothing here is imported by ``import denoise_adv``: the optional
libraries stay optional.
"""
