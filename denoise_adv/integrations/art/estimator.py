"""ART estimator for image denoisers: :class:`PyTorchDenoiser` (ART's regressor family with
image-shaped outputs) and :func:`check_attack` (ART attack options that only work for
classifiers). The notes on ``clip_values``, noisy inputs and ART 1.20's regressor paths are in
:mod:`denoise_adv.integrations.art`.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from art.data_generators import DataGenerator, PyTorchDataGenerator
from art.defences.preprocessor.preprocessor import Preprocessor
from art.estimators.regression.pytorch import PyTorchRegressor
from torch import nn
from tqdm.auto import trange

from ..._checks import check_image_batch, check_int, check_module

__all__ = ["PyTorchDenoiser", "check_attack", "match_target"]

_NO_Y = ("y is missing: ART then uses the model's own output as y, and the loss to it has zero "
         "gradient at x, so the attack would return x unchanged. Pass the clean images: "
         "attack.generate(x=noisy, y=clean)")


def _leaf_layer_names(model: nn.Module) -> list[str]:
    """Dotted names of the modules without children, in registration order (nested
    ``Sequential``/``ModuleList`` flattened): the layers whose outputs ART can read."""
    return [name for name, module in model.named_modules()
            if name and next(module.children(), None) is None]


def _check_values(a: Any, name: str) -> None:
    """Refuse the inputs the rest of the package refuses, naming the argument: integer or bool
    arrays (8-bit images hold 0-255, a denoiser's units are [0, 1]: a uint8 batch came back as
    values from -22 to 305) and, for image batches (N, C, H, W), empty or non-finite ones
    (:func:`~denoise_adv._checks.check_image_batch`). Other ranks (ART's flat regressor
    inputs and targets) are checked for their dtype only."""
    if a is None:
        return
    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    if t.dim() == 4:
        check_image_batch(t, name)
    elif not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point array, got dtype {t.dtype}")


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], *(s for s in shape[1:] if s != 1))


def match_target(y: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``y`` laid out as ``output`` (B, ...), or a :class:`ValueError` when that is ambiguous.

    Accepted, as ART's :class:`~art.estimators.regression.PyTorchRegressor` accepts targets:
    the output's shape; the same values up to size-1 dimensions (``(N,)`` for an ``(N, 1)``
    output, ``(N, H, W)`` for ``(N, 1, H, W)``); one flat row per sample ``(N, D)`` (ART's
    regressors flatten outputs); a shape of the output's rank whose sizes are the output's or 1
    (broadcast, e.g. ``(N, 1, 1, 1)``). Refused: anything else, e.g. channels-last ``(N, H, W, 3)``
    for an ``(N, 3, H, W)`` output, or ``(N,)`` for an image output.

    Example:
        >>> match_target(torch.zeros(4), torch.zeros(4, 1)).shape
        torch.Size([4, 1])
    """
    out_shape, y_shape = tuple(output.shape), tuple(y.shape)
    if y_shape == out_shape:
        return y
    same_batch = len(y_shape) > 0 and y_shape[0] == out_shape[0]
    if same_batch and y.numel() == output.numel() and (
            _squeezed(y_shape) == _squeezed(out_shape) or len(y_shape) == 2):
        return y.reshape(out_shape)
    if same_batch and len(y_shape) == len(out_shape) and all(
            a in (b, 1) for a, b in zip(y_shape, out_shape)):
        return y.expand(out_shape)
    raise ValueError(
        f"y must have the shape of the model output {out_shape} (clean images for a denoiser), "
        f"the same values up to size-1 dimensions, one flat row per sample, or sizes of 1 that "
        f"broadcast; got {y_shape}, which is ambiguous (channels-last? one value per sample?)")


class PyTorchDenoiser(PyTorchRegressor):
    """An ART estimator for image denoisers (regressor family, image-shaped outputs).

    ``predict``, ``loss_gradient``, ``compute_loss``, ``compute_loss_from_predictions``, ``fit``,
    ``fit_generator`` and ``get_activations`` work with ``x`` = noisy images and ``y`` = clean
    images, through ART's preprocessing and defence chain and ``clip_values``.

    - ``y`` may take any layout :func:`match_target` accepts (the model output's shape, or the
      same values up to size-1 dimensions or flattened per sample, as ART's regressors accept
      it: ``(N,)`` for an ``(N, 1)`` output).
    - ``layer_names`` lists the real layers, nested containers flattened (``"net.0"``,
      ``"net.1"``...); ``get_activations`` takes an index into it or the name of any submodule
      (``"net"``). A module called several times in one forward reports its last call.
    - ``clip_values`` bounds the inputs; inputs outside it are refused (module notes).
    - Inputs are cast to the model's dtype after the defences. Integer inputs (8-bit images,
      0-255) are refused, as everywhere in the package: divide them by 255 first.

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
        >>> est.layer_names[:3]
        ['net.0', 'net.1', 'net.2']
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
        self._layer_names = _leaf_layer_names(model)

    # ------------------------------------------------------------------------------- helpers
    @property
    def model_dtype(self) -> torch.dtype | None:
        """dtype of the model's first floating-point parameter or buffer (``None`` if none)."""
        for tensor in [*self.model.parameters(), *self.model.buffers()]:
            if tensor.is_floating_point():
                return tensor.dtype
        return None

    def _to_tensor(self, a: np.ndarray | torch.Tensor) -> torch.Tensor:
        return a.to(self._device) if isinstance(a, torch.Tensor) else torch.from_numpy(
            np.asarray(a)).to(self._device)

    def _as_input(self, a: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``a`` on the device, in the model's dtype (defences may return float64)."""
        a = self._to_tensor(a)
        dtype = self.model_dtype
        return a.to(dtype) if dtype is not None and a.is_floating_point() else a

    def _check_domain(self, x: np.ndarray | torch.Tensor) -> None:
        if self.clip_values is None or len(x) == 0:
            return
        values = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        low, high = (np.asarray(v, dtype=np.float64) for v in self.clip_values)
        tol = 1e-6 * max(1.0, float(np.max(high - low)))
        if np.any(values < low - tol) or np.any(values > high + tol):
            raise ValueError(
                f"x has values in [{values.min():.4g}, {values.max():.4g}], outside clip_values "
                f"{self.clip_values}: noisy images are not clipped, so use clip_values=None for "
                f"them, or clip them into clip_values first (np.clip(noisy, *clip_values)); on "
                f"inputs outside clip_values ART's attacks return images outside it")

    def _image_loss(self, output: torch.Tensor, y: torch.Tensor, reduction: str | None = None
                    ) -> torch.Tensor:
        """The loss on images; ``reduction="none"`` gives one value per sample."""
        y = match_target(y, output).to(output.dtype)
        if reduction is None:
            return self._loss(output, y)
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        previous = getattr(self._loss, "reduction", None)
        if previous is None:
            raise TypeError("compute_loss needs a loss with a 'reduction' attribute "
                            "(a torch loss module)")
        self._loss.reduction = reduction
        try:
            value = self._loss(output, y)
        finally:
            self._loss.reduction = previous
        if reduction == "none" and value.dim() > 1:
            value = value.flatten(1).mean(1)
        return value

    # ---------------------------------------------------------------------------- prediction
    def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False,
                **kwargs: Any) -> np.ndarray:
        """Model outputs for ``x`` (float32, as ART's regressors), in batches."""
        _check_values(x, "x")
        self._check_domain(x)
        self._model.train(mode=training_mode)
        x_pre, _ = self._apply_preprocessing(x, y=None, fit=False)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        results = []
        with torch.no_grad():
            for start in range(0, len(x_pre), batch_size):
                output = self._model(self._as_input(x_pre[start:start + batch_size]))[-1]
                output = output.detach().cpu().numpy().astype(np.float32)
                results.append(output[:, None] if output.ndim == 1 else output)
        return self._apply_postprocessing(preds=np.concatenate(results), fit=False)

    def get_activations(self, x: np.ndarray | torch.Tensor, layer: int | str | None = None,
                        batch_size: int = 128, framework: bool = False
                        ) -> np.ndarray | torch.Tensor:
        """Output of ``layer`` (an index into :attr:`layer_names` or a submodule name) for
        ``x``; with ``framework=True`` a tensor that keeps the graph to ``x``."""
        module = self._layer(layer)
        _check_values(x, "x")
        self._model.eval()
        x_pre, _ = self._apply_preprocessing(x=x, y=None, fit=False, no_grad=not framework)
        captured: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda m, i, out: captured.append(
            out.clone() if isinstance(out, torch.Tensor) else out))
        try:
            if framework:
                self._model(self._as_input(x_pre))
                return self._captured(captured, layer)
            results = []
            with torch.no_grad():
                for start in range(0, len(x_pre), check_int(batch_size, "batch_size", minimum=1)):
                    captured.clear()
                    self._model(self._as_input(x_pre[start:start + batch_size]))
                    results.append(self._captured(captured, layer).cpu().numpy())
            return np.concatenate(results)
        finally:
            handle.remove()

    def _layer(self, layer: int | str | None) -> nn.Module:
        modules = dict(self.model.named_modules())
        if isinstance(layer, str):
            if layer not in modules or layer == "":
                raise ValueError(f"layer {layer!r} is not a submodule of the model; layers: "
                                 f"{self._layer_names}")
            return modules[layer]
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            if not -len(self._layer_names) <= layer < len(self._layer_names):
                raise ValueError(f"layer index {layer} out of range: the model has "
                                 f"{len(self._layer_names)} layers {self._layer_names}")
            return modules[self._layer_names[layer]]
        raise TypeError(f"layer must be an int or a str, got {type(layer).__name__}")

    @staticmethod
    def _captured(captured: list[torch.Tensor], layer: int | str | None) -> torch.Tensor:
        if not captured:
            raise ValueError(f"layer {layer!r} was not called by the model's forward")
        return captured[-1]

    # ----------------------------------------------------------------------------- gradients
    def loss_gradient(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | None,
                      training_mode: bool = False, **kwargs: Any) -> np.ndarray | torch.Tensor:
        """Gradient of ``loss(model(x), y)`` with respect to ``x`` (same type and shape as ``x``).

        Raises:
            ValueError: ``y`` is missing or equals the model's own output on ``x`` (ART passes
                ``predict(x)`` when ``generate`` gets no ``y``: zero gradient), has an ambiguous
                shape, or ``x`` lies outside ``clip_values``.
        """
        if y is None:
            raise ValueError(_NO_Y)
        _check_values(x, "x")
        _check_values(y, "y")
        self._check_domain(x)
        self._model.train(mode=training_mode)
        is_tensor = isinstance(x, torch.Tensor)
        if self.all_framework_preprocessing:
            x_grad = (x.clone().detach() if is_tensor else torch.tensor(x)).to(self._device)
            x_grad.requires_grad_(True)
            y_t = (y.clone().detach() if isinstance(y, torch.Tensor) else torch.tensor(y)).to(
                self._device)
            x_pre, y_pre = self._apply_preprocessing(x_grad, y=y_t, fit=False, no_grad=False)
            inputs = self._as_input(x_pre)
        elif isinstance(x, np.ndarray):
            x_pre, y_pre = self._apply_preprocessing(x, y=y, fit=False, no_grad=True)
            x_grad = self._as_input(x_pre).requires_grad_(True)
            inputs = x_grad
        else:
            raise NotImplementedError("Combination of inputs and preprocessing not supported.")
        output = self._model(inputs)[-1]
        labels = match_target(self._to_tensor(y_pre), output)
        if torch.allclose(output.detach(), labels.to(output.dtype), rtol=1e-5, atol=1e-6):
            raise ValueError(_NO_Y.replace("y is missing", "y equals the model's output on x"))
        (grad,) = torch.autograd.grad(self._image_loss(output, labels), x_grad)
        if is_tensor:
            return grad
        grads = grad.cpu().numpy().astype(np.asarray(x).dtype, copy=True)
        if not self.all_framework_preprocessing:
            grads = self._apply_preprocessing_gradient(x, grads)
        return grads

    def compute_loss(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                     reduction: str = "none", **kwargs: Any) -> np.ndarray | torch.Tensor:
        """The loss of the model on ``(x, y)``: per sample for ``"none"``, else reduced."""
        _check_values(x, "x")
        _check_values(y, "y")
        self._check_domain(x)
        self._model.eval()
        x_pre, y_pre = self._apply_preprocessing(x, y, fit=False)
        with torch.no_grad():
            output = self._model(self._as_input(x_pre))[-1]
            loss = self._image_loss(output, self._to_tensor(y_pre), reduction)
        return loss if isinstance(x, torch.Tensor) else loss.cpu().numpy()

    def compute_loss_from_predictions(self, pred: np.ndarray | torch.Tensor,
                                      y: np.ndarray | torch.Tensor, reduction: str = "none",
                                      **kwargs: Any) -> np.ndarray | torch.Tensor:
        """The loss of predictions ``pred`` (no preprocessing applied to ``y``)."""
        _check_values(pred, "pred")
        _check_values(y, "y")
        loss = self._image_loss(self._to_tensor(pred), self._to_tensor(y), reduction)
        return loss if isinstance(y, torch.Tensor) else loss.detach().cpu().numpy()

    # ------------------------------------------------------------------------------ training
    def _train_step(self, x_batch: torch.Tensor, y_batch: torch.Tensor) -> None:
        self._optimizer.zero_grad()
        output = self._model(self._as_input(x_batch))[-1]
        self._image_loss(output, self._to_tensor(y_batch)).backward()
        self._optimizer.step()

    def _check_can_fit(self, y: Any) -> None:
        if self._optimizer is None:
            raise ValueError("An optimizer is needed to train the model: pass optimizer= to "
                             "PyTorchDenoiser.")
        if y is None:
            raise ValueError("y (the clean images) is needed to train a denoiser")

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 10,
            training_mode: bool = True, drop_last: bool = False, scheduler: Any = None,
            verbose: bool = False, **kwargs: Any) -> None:
        """Train on noisy ``x`` and clean ``y`` (or clean ``x`` and ``y`` with a noise
        preprocessor such as :class:`TSAugmentation` in the chain).

        Args:
            x: inputs (N, ...).
            y: targets: the model output's shape, or a layout :func:`match_target` accepts.
            batch_size: batch size.
            nb_epochs: epochs.
            training_mode: model in training mode.
            drop_last: drop the last incomplete batch.
            scheduler: learning-rate scheduler stepped each epoch.
            verbose: show a tqdm bar over the epochs.
        """
        self._check_can_fit(y)
        _check_values(x, "x")
        _check_values(y, "y")
        self._model.train(mode=training_mode)
        x_pre, y_pre = self._apply_preprocessing(x, y, fit=True)
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(np.asarray(x_pre)),
                                                 torch.from_numpy(np.asarray(y_pre)))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                             drop_last=drop_last)
        for _ in trange(nb_epochs, desc="fit", disable=not verbose):
            for x_batch, y_batch in loader:
                self._train_step(x_batch, y_batch)
            if scheduler is not None:
                scheduler.step()

    def fit_generator(self, generator: DataGenerator, nb_epochs: int = 20,
                      verbose: bool = False, **kwargs: Any) -> None:
        """Train on batches ``(noisy, clean)`` from an ART data generator, through the
        preprocessing chain. A :class:`~art.data_generators.PyTorchDataGenerator` is iterated
        once per epoch (every batch of its DataLoader); other generators give
        ``size // batch_size`` batches an epoch, as ART's base estimator does.
        """
        if not isinstance(generator, DataGenerator):
            raise TypeError(f"generator must be an ART DataGenerator, got "
                            f"{type(generator).__name__}")
        self._check_can_fit(True)
        self._model.train()
        for _ in trange(nb_epochs, desc="fit_generator", disable=not verbose):
            if isinstance(generator, PyTorchDataGenerator):
                batches = iter(generator.iterator)
            else:
                batches = (generator.get_batch()
                           for _ in range(max(1, generator.size // generator.batch_size)))
            for x_batch, y_batch in batches:
                if y_batch is None:
                    raise ValueError("the generator must yield (x, y) with y the clean images")
                _check_values(x_batch, "the generator's x")
                _check_values(y_batch, "the generator's y")
                x_pre, y_pre = self._apply_preprocessing(_numpy(x_batch), _numpy(y_batch),
                                                         fit=True)
                self._train_step(self._to_tensor(x_pre), self._to_tensor(y_pre))

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


def _numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


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
