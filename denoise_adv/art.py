"""Adversarial Robustness Toolbox (ART) integration: any PyTorch denoiser as an ART estimator.

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
attack return its input unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from art.defences.preprocessor.preprocessor import Preprocessor
from art.estimators.regression.pytorch import PyTorchRegressor
from torch import nn
from tqdm.auto import trange

from ._checks import check_int, check_module, check_real
from .transforms import TSNoise

__all__ = ["PyTorchDenoiser", "TSAugmentation", "check_attack"]

_NO_Y = ("y is missing: ART then uses the model's own output as y, and the loss to it has zero "
         "gradient at x, so the attack would return x unchanged. Pass the clean images: "
         "attack.generate(x=noisy, y=clean)")


class PyTorchDenoiser(PyTorchRegressor):
    """An ART estimator for image denoisers (regressor family, image-shaped outputs).

    ``predict``, ``loss_gradient``, ``compute_loss``, ``compute_loss_from_predictions``, ``fit``
    and ``get_activations`` work with ``x`` = noisy images and ``y`` = clean images of the model's
    output shape, through ART's preprocessing and defence chain and ``clip_values``.

    Args:
        model: denoiser ``nn.Module`` mapping noisy -> clean (see
            :func:`denoise_adv.models.as_denoiser`).
        input_shape: shape of one input, e.g. ``(1, 64, 64)``.
        loss: ``loss(output, y)`` with a ``reduction`` attribute (a torch loss module);
            default :class:`torch.nn.MSELoss`.
        optimizer: optimizer for :meth:`fit`.
        clip_values: ``(min, max)`` of valid inputs, or ``None`` (noisy images are unbounded).
        channels_first: ART's layout flag.
        preprocessing_defences: ART preprocessors (e.g. :class:`TSAugmentation`).
        postprocessing_defences: ART postprocessors.
        preprocessing: ``(subtrahend, divisor)``.
        device_type: ``"gpu"`` (CUDA when available) or ``"cpu"``.

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> est = PyTorchDenoiser(DnCNN(depth=3, features=4), input_shape=(1, 8, 8))
        >>> est.predict(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape
        (2, 1, 8, 8)
    """

    def __init__(
        self,
        model: nn.Module,
        input_shape: tuple[int, ...],
        loss: nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        clip_values: tuple[float, float] | None = None,
        channels_first: bool = True,
        preprocessing_defences: Preprocessor | list[Preprocessor] | None = None,
        postprocessing_defences: Any = None,
        preprocessing: Any = (0.0, 1.0),
        device_type: str = "gpu",
    ) -> None:
        check_module(model, "model")
        if (not isinstance(input_shape, (tuple, list)) or len(input_shape) == 0
                or not all(isinstance(s, int) and s > 0 for s in input_shape)):
            raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
        if loss is not None and not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        super().__init__(
            model=model,
            loss=loss if loss is not None else nn.MSELoss(),
            input_shape=tuple(input_shape),
            optimizer=optimizer,
            channels_first=channels_first,
            clip_values=clip_values,
            preprocessing_defences=preprocessing_defences,
            postprocessing_defences=postprocessing_defences,
            preprocessing=preprocessing,
            device_type=device_type,
        )

    # ------------------------------------------------------------------------------- helpers
    def _to_tensor(self, a: np.ndarray | torch.Tensor) -> torch.Tensor:
        return a.to(self._device) if isinstance(a, torch.Tensor) else torch.from_numpy(
            np.asarray(a)).to(self._device)

    def _image_loss(self, output: torch.Tensor, y: torch.Tensor, reduction: str | None = None
                    ) -> torch.Tensor:
        """The loss on images; ``reduction="none"`` gives one value per sample."""
        if tuple(y.shape) != tuple(output.shape):
            raise ValueError(f"y must have the shape of the model output {tuple(output.shape)} "
                             f"(clean images for a denoiser), got {tuple(y.shape)}")
        y = y.to(output.dtype)
        if reduction is None:
            return self._loss(output, y)
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        previous = getattr(self._loss, "reduction", None)
        if previous is None:
            raise TypeError("compute_loss needs a loss with a 'reduction' attribute "
                            "(a torch loss module)")
        self._loss.reduction = "none" if reduction == "none" else reduction
        try:
            value = self._loss(output, y)
        finally:
            self._loss.reduction = previous
        if reduction == "none" and value.dim() > 1:
            value = value.flatten(1).mean(1)
        return value

    # ----------------------------------------------------------------------------- gradients
    def loss_gradient(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | None,
                      training_mode: bool = False, **kwargs: Any) -> np.ndarray | torch.Tensor:
        """Gradient of ``loss(model(x), y)`` with respect to ``x`` (same type and shape as ``x``).

        Raises:
            ValueError: ``y`` is missing or equals the model's own output on ``x`` (ART passes
                ``predict(x)`` when ``generate`` gets no ``y``: zero gradient), or has the wrong
                shape.
        """
        if y is None:
            raise ValueError(_NO_Y)
        self._model.train(mode=training_mode)
        is_tensor = isinstance(x, torch.Tensor)
        if self.all_framework_preprocessing:
            x_grad = (x.clone().detach() if is_tensor else torch.tensor(x)).to(self._device)
            x_grad.requires_grad_(True)
            y_t = (y.clone().detach() if isinstance(y, torch.Tensor) else torch.tensor(y)).to(
                self._device)
            inputs, y_pre = self._apply_preprocessing(x_grad, y=y_t, fit=False, no_grad=False)
        elif isinstance(x, np.ndarray):
            x_pre, y_pre = self._apply_preprocessing(x, y=y, fit=False, no_grad=True)
            x_grad = torch.from_numpy(x_pre).to(self._device).requires_grad_(True)
            inputs = x_grad
        else:
            raise NotImplementedError("Combination of inputs and preprocessing not supported.")
        labels = self._to_tensor(y_pre)
        output = self._model(inputs)[-1]
        if tuple(labels.shape) == tuple(output.shape) and torch.allclose(
                output.detach(), labels.to(output.dtype), rtol=1e-5, atol=1e-6):
            raise ValueError(_NO_Y.replace("y is missing", "y equals the model's output on x"))
        loss = self._image_loss(output, labels)
        (grad,) = torch.autograd.grad(loss, x_grad)
        grads = grad if is_tensor else grad.cpu().numpy().copy()
        if not self.all_framework_preprocessing:
            grads = self._apply_preprocessing_gradient(x, grads)
        return grads

    def compute_loss(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                     reduction: str = "none", **kwargs: Any) -> np.ndarray | torch.Tensor:
        """The loss of the model on ``(x, y)``: per sample for ``"none"``, else reduced."""
        self._model.eval()
        x_pre, y_pre = self._apply_preprocessing(x, y, fit=False)
        with torch.no_grad():
            output = self._model(self._to_tensor(x_pre))[-1]
            loss = self._image_loss(output, self._to_tensor(y_pre), reduction)
        return loss if isinstance(x, torch.Tensor) else loss.cpu().numpy()

    def compute_loss_from_predictions(self, pred: np.ndarray | torch.Tensor,
                                      y: np.ndarray | torch.Tensor, reduction: str = "none",
                                      **kwargs: Any) -> np.ndarray | torch.Tensor:
        """The loss of predictions ``pred`` (no preprocessing applied to ``y``)."""
        loss = self._image_loss(self._to_tensor(pred), self._to_tensor(y), reduction)
        return loss if isinstance(y, torch.Tensor) else loss.detach().cpu().numpy()

    # ------------------------------------------------------------------------------ training
    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 10,
            training_mode: bool = True, drop_last: bool = False, scheduler: Any = None,
            verbose: bool = False, **kwargs: Any) -> None:
        """Train on noisy ``x`` and clean ``y`` (or clean ``x`` and ``y`` with a noise
        preprocessor such as :class:`TSAugmentation` in the chain).

        Args:
            x: inputs (N, ...).
            y: targets, the shape of the model output.
            batch_size: batch size.
            nb_epochs: epochs.
            training_mode: model in training mode.
            drop_last: drop the last incomplete batch.
            scheduler: learning-rate scheduler stepped each epoch.
            verbose: show a tqdm bar over the epochs.
        """
        if self._optimizer is None:
            raise ValueError("An optimizer is needed to train the model: pass optimizer= to "
                             "PyTorchDenoiser.")
        if y is None:
            raise ValueError("y (the clean images) is needed to train a denoiser")
        self._model.train(mode=training_mode)
        x_pre, y_pre = self._apply_preprocessing(x, y, fit=True)
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(np.asarray(x_pre)),
                                                 torch.from_numpy(np.asarray(y_pre)))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                             drop_last=drop_last)
        for _ in trange(nb_epochs, desc="fit", disable=not verbose):
            for x_batch, y_batch in loader:
                self._optimizer.zero_grad()
                output = self._model(x_batch.to(self._device))[-1]
                loss = self._image_loss(output, y_batch.to(self._device))
                loss.backward()
                self._optimizer.step()
            if scheduler is not None:
                scheduler.step()

    def clone_for_refitting(self) -> PyTorchDenoiser:
        """A copy with the same architecture, loss, defences and settings, weights reset, and a
        fresh optimizer of the same class and hyperparameters bound to the copy's parameters."""
        model = copy.deepcopy(self.model)
        optimizer = None
        if self._optimizer is not None:
            optimizer = type(self._optimizer)(model.parameters(), **self._optimizer.defaults)
        clone = type(self)(
            model, self.input_shape, loss=copy.deepcopy(self._loss), optimizer=optimizer,
            clip_values=self.clip_values, channels_first=self.channels_first,
            preprocessing_defences=self.preprocessing_defences,
            postprocessing_defences=self.postprocessing_defences,
            preprocessing=self.preprocessing, device_type=self._device_type)
        clone.reset()
        return clone


class TSAugmentation(Preprocessor):
    """TS noise as an ART preprocessor, in the manner of ART's ``GaussianAugmentation``.

    With ``augmentation=True`` (training), ``ratio * N`` noisy copies of randomly chosen samples
    are appended to ``x`` and the matching ``y`` are duplicated, so ``y`` stays aligned. With
    ``augmentation=False`` every sample of ``x`` is replaced by ``x + noise``. For denoiser
    training pass clean ``x`` and ``y = clean``: the copies become (noisy, clean) pairs.

    Each noisy copy gets TS noise with probability ``p`` (else Gaussian), per sample, drawn by
    :class:`denoise_adv.transforms.TSNoise` over all values of the sample (layout-independent).

    Args:
        sigma: noise level in the units of ``x``. (Default: 25/255)
        iterations: TS iterations T. (Default: 10)
        ratio: fraction of the dataset appended when augmenting. (Default: 1.0)
        method: ``"exact"`` or ``"screening"``. (Default: "exact")
        p: probability of TS rather than Gaussian noise per sample. (Default: 1.0)
        augmentation: append noisy copies (True) or replace (False). (Default: True)
        clip_values: ``(min, max)`` to clip the noisy samples, or ``None``. (Default: None)
        apply_fit: apply when fitting. (Default: True)
        apply_predict: apply when predicting. (Default: False)
        seed: seed of the noise; ``None`` for torch's global RNG.

    Example:
        >>> aug = TSAugmentation(sigma=0.1, iterations=10, ratio=1.0, seed=0)
        >>> x = np.zeros((4, 1, 8, 8), dtype=np.float32)
        >>> x_aug, y_aug = aug(x, x.copy())
        >>> x_aug.shape, y_aug.shape
        ((8, 1, 8, 8), (8, 1, 8, 8))
    """

    params = ["sigma", "iterations", "ratio", "method", "p", "augmentation", "clip_values",
              "_apply_fit", "_apply_predict"]

    def __init__(self, sigma: float = 25 / 255, iterations: float = 10, ratio: float = 1.0,
                 method: str = "exact", p: float = 1.0, augmentation: bool = True,
                 clip_values: tuple[float, float] | None = None, apply_fit: bool = True,
                 apply_predict: bool = False, seed: int | None = None) -> None:
        super().__init__(is_fitted=True, apply_fit=apply_fit, apply_predict=apply_predict)
        if augmentation and not apply_fit and apply_predict:
            raise ValueError("If `augmentation` is `True`, then `apply_fit` must be `True` and "
                             "`apply_predict` must be `False`.")
        if augmentation and not (apply_fit or apply_predict):
            raise ValueError("If `augmentation` is `True`, then `apply_fit` and `apply_predict` "
                             "can't be both `False`.")
        # The noise itself is TSNoise's (checks included): one implementation of TS-or-Gaussian.
        self._noise = TSNoise(sigma, iterations=iterations, p=p, method=method)
        self.sigma, self.iterations, self.p, self.method = sigma, iterations, p, method
        self.ratio = check_real(ratio, "ratio", minimum=0.0, strict=augmentation)
        self.augmentation = bool(augmentation)
        if clip_values is not None and (len(clip_values) != 2 or clip_values[0] >= clip_values[1]):
            raise ValueError(f"clip_values must be (min, max) with min < max, got {clip_values!r}")
        self.clip_values = clip_values
        self.seed = None if seed is None else check_int(seed, "seed")
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    def _noisy(self, x: np.ndarray) -> np.ndarray:
        noisy = self._noise.apply(torch.from_numpy(x.astype(np.float32)), self._generator)
        out = noisy.numpy()
        if self.clip_values is not None:
            out = np.clip(out, self.clip_values[0], self.clip_values[1])
        return out

    def __call__(self, x: np.ndarray, y: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"x must be a batch of images (N, C, H, W) or (N, H, W, C), got "
                             f"shape {x.shape}")
        if not self.augmentation:
            return self._noisy(x), y
        size = int(x.shape[0] * self.ratio)
        index = torch.randint(0, x.shape[0], (size,), generator=self._generator).numpy()
        x_aug = np.concatenate([x.astype(np.float32), self._noisy(x[index])])
        y_aug = None if y is None else np.concatenate([y, np.asarray(y)[index]])
        return x_aug, y_aug

    def _check_params(self) -> None:  # checks happen in __init__
        pass


def check_attack(attack: Any) -> Any:
    """Raise a clear :class:`ValueError` for ART attack options that only work for classifiers;
    return ``attack`` unchanged otherwise.

    ART's ``ProjectedGradientDescent`` refuses ``num_random_init > 0`` for regressors (so for
    :class:`PyTorchDenoiser`), and ``minimal=True`` needs class predictions.

    Example:
        >>> from art.attacks.evasion import ProjectedGradientDescent
        >>> from denoise_adv.models import DnCNN
        >>> est = PyTorchDenoiser(DnCNN(depth=3, features=4), input_shape=(1, 8, 8))
        >>> _ = check_attack(ProjectedGradientDescent(est, eps=0.01, eps_step=0.005, max_iter=2))
    """
    from art.attacks.evasion import ProjectedGradientDescent

    if isinstance(attack, ProjectedGradientDescent) and getattr(attack, "num_random_init", 0) > 0:
        raise ValueError(
            "num_random_init > 0: ART's PGD supports random initialisation for classifiers only. "
            "For random starts on a denoiser use denoise_adv.DenoisePGD / DenoisePGDL2 "
            "(random_start=True), or num_random_init=0 here.")
    if getattr(attack, "minimal", False):
        raise ValueError("minimal=True needs class predictions (classification only); use "
                         "minimal=False with a denoiser.")
    return attack
