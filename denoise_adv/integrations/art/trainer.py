"""ART trainer: Madry's adversarial training protocol for a :class:`PyTorchDenoiser`, with
ART's own PGD and ``AdversarialTrainer`` (:class:`AdversarialTrainerDenoiser`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from art.attacks.evasion import ProjectedGradientDescent
from art.defences.trainer import AdversarialTrainer, Trainer

from ..._checks import check_int, check_real
from .estimator import PyTorchDenoiser

__all__ = ["AdversarialTrainerDenoiser"]


class AdversarialTrainerDenoiser(Trainer):
    """Madry's adversarial training protocol for a :class:`PyTorchDenoiser`, with ART's own
    :class:`~art.attacks.evasion.ProjectedGradientDescent` and
    :class:`~art.defences.trainer.AdversarialTrainer`: each batch of noisy images is replaced
    (a ``ratio`` of it) by PGD adversarial noisy images crafted on the current model against the
    clean targets, then the model takes one optimizer step on it.

    Differences from ``AdversarialTrainerMadryPGD``, which fails on a denoiser at its defaults:
    no random initialisation (ART's PGD refuses it for regressors; with ``y`` = clean images the
    loss gradient at the noisy input is not zero, so PGD starts from it), and defaults in [0, 1]
    units, those of :class:`denoise_adv.DenoisePGD` (eps 2/255, step 0.5/255, 10 steps). For
    random starts train with :mod:`denoise_adv.training` instead. The batch order comes from
    NumPy's global RNG (ART's trainer): seed it for a reproducible run.

    Args:
        estimator: the denoiser to train (with an optimizer).
        nb_epochs: training epochs. (Default: 10)
        batch_size: batch size. (Default: 128)
        eps: attack budget, in the units of the inputs. (Default: 2/255)
        eps_step: attack step. (Default: 0.5/255)
        max_iter: attack steps. (Default: 10)
        norm: ``np.inf``, ``1`` or ``2``. (Default: np.inf)
        ratio: fraction of each batch replaced by adversarial images, in (0, 1]. (Default: 1.0,
            Madry's)

    Example:
        >>> import torch
        >>> from denoise_adv.models import DnCNN
        >>> model = DnCNN(depth=3, features=4)
        >>> est = PyTorchDenoiser(model, input_shape=(1, 8, 8), device_type="cpu",
        ...                       optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
        >>> clean = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
        >>> AdversarialTrainerDenoiser(est, nb_epochs=1, batch_size=2, max_iter=2).fit(
        ...     clean + np.float32(0.1), clean)
    """

    def __init__(self, estimator: PyTorchDenoiser, nb_epochs: int = 10, batch_size: int = 128,
                 eps: float = 2 / 255, eps_step: float = 0.5 / 255, max_iter: int = 10,
                 norm: float | int | str = np.inf, ratio: float = 1.0) -> None:
        if not isinstance(estimator, PyTorchDenoiser):
            raise TypeError(f"estimator must be a PyTorchDenoiser, got {type(estimator).__name__}")
        super().__init__(classifier=estimator)
        self.nb_epochs = check_int(nb_epochs, "nb_epochs", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.ratio = check_real(ratio, "ratio", minimum=0.0, strict=True, maximum=1.0)
        self.attack = ProjectedGradientDescent(
            estimator, norm=norm, eps=check_real(eps, "eps", minimum=0.0, strict=True),
            eps_step=check_real(eps_step, "eps_step", minimum=0.0, strict=True),
            max_iter=check_int(max_iter, "max_iter", minimum=1), num_random_init=0,
            verbose=False)
        self.trainer = AdversarialTrainer(estimator, self.attack, ratio=self.ratio)

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int | None = None,
            nb_epochs: int | None = None, **kwargs: Any) -> None:
        """Train adversarially on noisy ``x`` and clean ``y``; ``batch_size``/``nb_epochs``
        override the constructor's; ``kwargs`` go to :meth:`PyTorchDenoiser.fit`."""
        if y is None:
            raise ValueError("y (the clean images) is needed to train a denoiser adversarially")
        self.trainer.fit(x, y, batch_size=batch_size or self.batch_size,
                         nb_epochs=nb_epochs or self.nb_epochs, **kwargs)

    def get_classifier(self) -> PyTorchDenoiser:
        """The trained estimator (ART's name for it)."""
        return self.trainer.get_classifier()
