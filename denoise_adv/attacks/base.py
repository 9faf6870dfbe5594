"""The base class of every denoising attack: regression loss, checks, the attack loop.

Subclasses only describe their geometry (how to start, how to step along a gradient, how to
project back onto the budget); everything else, including the clean-reference logic and saving
adversarial sets, lives here once.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torchattacks.attack import Attack
from tqdm.auto import tqdm

from .._amp import autocast, check_amp
from .._checks import (
    check_clip,
    check_flag,
    check_image_batch,
    check_iterations,
    check_module,
    check_real,
    check_same_shape,
)
from ..metrics import psnr
from ..noise import random_like
from ..seeding import seed_of
from .io import load_adversarial_set, save_adversarial_set

__all__ = ["MAX_BUDGET", "DenoiseAttack", "mse_per_image"]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Largest ``eps`` and ``alpha`` an attack accepts ([0, 1] units: a million times the image
#: range). Beyond it float32 arithmetic breaks down silently: an L2 radius of 1e20 overflows
#: the squared norm and the projection returns the input unchanged; eps = 1e300 does not fit a
#: float32 at all.
MAX_BUDGET = 1e6


def check_budget(value: object, name: str, *, strict: bool = False) -> float:
    """A finite budget in ``[0, MAX_BUDGET]`` (``(0, MAX_BUDGET]`` when ``strict``)."""
    value = check_real(value, name, minimum=0.0, strict=strict)
    if value > MAX_BUDGET:
        raise ValueError(f"{name} must be at most {MAX_BUDGET:g} ([0, 1] units; larger budgets "
                         f"overflow float32 arithmetic), got {value:g}")
    return value


def check_steps(steps: object, eot_iter: object = 1) -> tuple[int, int]:
    """``(steps, eot_iter)`` of a gradient attack, each >= 1 and checked against the time
    budget (:func:`~denoise_adv._checks.check_iterations`: a step costs ``eot_iter`` passes).

    Example:
        >>> check_steps(20, eot_iter=20)
        (20, 20)
    """
    eot_iter = check_iterations("eot_iter", eot_iter)
    return check_iterations("steps", steps, passes_each=eot_iter), eot_iter


def _model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter (None without one)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def _check_output(output: object, noisy: torch.Tensor, reference: torch.Tensor | None = None,
                  reshapes: bool = False) -> None:
    """The model maps a batch to a batch of the same shape (checked once per call). With
    ``reshapes`` (the model declares ``output_shape_differs``: a restoration pipeline), to a
    batch of the reference's shape (without one, of the input's batch size)."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the model must return a tensor (the denoised batch), got "
                        f"{type(output).__name__}; wrap models that return more (a tuple...)")
    if reshapes:
        expected = (reference.shape if reference is not None
                    else (len(noisy), *output.shape[1:]))
        if output.shape != expected:
            raise ValueError(f"the model's output has shape {tuple(output.shape)}, but the "
                             f"attack needs the shape of the clean image {tuple(expected)} (the "
                             "model declares output_shape_differs: its output is compared with "
                             "the clean image)")
        return
    if output.shape != noisy.shape:
        raise ValueError(f"the model's output has shape {tuple(output.shape)}, but the attack "
                         f"needs the shape of its input {tuple(noisy.shape)} (a denoiser maps "
                         "each image to an image of the same size; broadcasting is refused)")


#: What to do with a model that gives no gradient (the end of every such error message).
NO_GRADIENT_HINT = ("gradient attacks cannot run on it: attack it with DenoiseSquare "
                    "(score-based, forward passes only; --attack square), or score it on "
                    "adversarial sets crafted on another model (transfer: denoise-adv transfer / "
                    "evaluate --adv-set)")


def _check_differentiable(model: nn.Module) -> None:
    """Refuse a model that is (or wraps) a module with ``differentiable = False``."""
    from ..models.contract import not_differentiable_part

    part = not_differentiable_part(model)
    if part is not None:
        raise ValueError(f"{type(part).__name__} is not differentiable (differentiable = "
                         f"False): {NO_GRADIENT_HINT}")


def _no_gradient(cause: str) -> ValueError:
    """The one error of a model whose output carries no gradient to its input."""
    return ValueError(f"the model's output {cause}, so {NO_GRADIENT_HINT}. Common causes: "
                      "torch.no_grad() or .detach() inside the model's forward, x.data, or a "
                      "pipeline through numpy")


def _check_finite(output: torch.Tensor, step: int) -> None:
    """Refuse a model whose output holds NaN or Inf (no loss, no adversarial result)."""
    if not bool(torch.isfinite(output).all()):
        raise FloatingPointError(
            f"the model's output contains NaN or Inf (attack step {step}), so the attack has no "
            "loss to maximise and no adversarial result; check the model (NaN weights, a "
            "division by zero, an overflow under amp='bf16') on this input")


def mse_per_image(output: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each image, shape (B,): the default loss of the attacks that keep
    per-image bookkeeping (:class:`~denoise_adv.attacks.DenoiseAPGD`,
    :class:`~denoise_adv.attacks.DenoiseSquare`); its sum has the gradient direction of the
    batch mean that :class:`~denoise_adv.attacks.DenoisePGD` uses.

    Example:
        >>> mse_per_image(torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))
        tensor([1., 1.])
    """
    return (output - reference).pow(2).flatten(1).mean(dim=1)


class DenoiseAttack(Attack):
    r"""Base class of the attacks on image denoisers; a :class:`torchattacks.Attack`.

    An attack maximises a regression loss ``loss(model(noisy + delta), clean)`` over a
    perturbation ``delta`` in a norm ball of radius ``eps`` and returns ``noisy + delta``. Call
    forms (all tensors (B, C, H, W)):

    - ``atk(noisy, clean)``: push the denoised output away from the clean image;
    - ``atk(noisy)``: no clean image; push the output away from the model's own output on
      ``noisy`` (that loss has zero gradient at ``delta = 0``, so this form needs a random start
      and raises :class:`ValueError` without one);
    - after ``set_mode_targeted_by_label()``: ``atk(noisy, target)`` pulls the output towards
      ``target`` (minimises the loss);
    - after ``set_mode_targeted_random()``: ``atk(noisy, clean)`` pulls each image's output
      towards the clean image of *another* image of the batch, under a random derangement
      (no image is its own target) drawn at every call from the attack's random generator,
      or from its ``seed`` (same seed, same targets); ``atk(noisy)`` deranges the model's
      outputs instead, as torchattacks takes the predicted labels. A batch of one image has
      no derangement and raises :class:`ValueError`. (The classifiers' least-likely mode
      stays refused.)

    Nothing is clamped unless ``clip=(low, high)`` is given (noisy images leave [0, 1] by
    design). With ``clip`` the returned image lies in ``[low, high]``; the budget then holds
    whenever the noisy input does too. The model's train/eval mode (every submodule's) is
    restored afterwards, also when the attack raises. The device follows the model at call time
    (the input's device for a model without parameters). A model that is, or wraps, a module
    with ``differentiable = False`` (the classical baselines BM3D, NL-means) raises
    :class:`ValueError`, and so does a model whose output carries no gradient to its input (a
    ``torch.no_grad()`` or ``.detach()`` inside its forward): attack those with
    :class:`~denoise_adv.attacks.DenoiseSquare` or by transfer. A model whose output holds NaN
    or Inf raises :class:`FloatingPointError` (never an "adversarial" result). Attacks run
    inside ``torch.no_grad()`` (and ``torch.inference_mode()``), as evaluation loops call them:
    they turn gradients on for their own work, as ART's and AutoAttack's do. Run inside a
    torchattacks container such as
    :class:`torchattacks.MultiAttack` (whose success test, argmax == label, is for classifiers),
    the attack raises :class:`TypeError` before any work; use
    :class:`~denoise_adv.attacks.WorstCase` for the per-image worst case of several attacks.

    Inputs are checked, not cast: ``noisy`` (and ``clean``/``target``) must have the dtype of
    the model's parameters (a float64 or float16 batch into a float32 model raises a
    :class:`TypeError` naming the argument), and the model's output must be one tensor of the
    input's shape (checked once per call, at the first step: a tuple, another size or a
    (1, C, H, W) output broadcast over a batch raise). A model declaring
    ``output_shape_differs = True`` (:class:`denoise_adv.restoration.Restorer`: super-resolution
    maps y to a larger x-hat) is called ``atk(y, x)`` with ``x`` of the output's shape: the
    output is checked against ``x``, and the budget stays on ``y``.

    Subclasses implement :meth:`_random_delta`, :meth:`_ascent` and :meth:`_project_ball`.

    Args:
        name: attack name shown by ``repr``.
        model: the denoiser, an ``nn.Module`` mapping noisy -> clean (see
            :func:`denoise_adv.models.as_denoiser`).
        eps: budget (radius of the ball), in ``[0, MAX_BUDGET]`` (1e6).
        alpha: step size, in ``(0, MAX_BUDGET]``.
        steps: number of gradient steps, >= 1. Iteration counts (``steps``, ``eot_iter``,
            restarts, queries) are refused at construction, before any work, when even an
            optimistic estimate of their time passes an hour
            (:func:`~denoise_adv._checks.check_iterations`).
        random_start: start from a random point of the ball (a bool: a string or a number
            is refused, as by every boolean option of the attacks).
        clip: ``(low, high)`` bounds for the adversarial image, or ``None``.
        loss: ``loss(output, reference) -> scalar``; default mean squared error.
        generator: :class:`torch.Generator` for the random start (global RNG when ``None``).
        amp: ``"bf16"``: the model's forward and backward run under bfloat16 autocast (about 2x
            faster on CPUs with AVX512-BF16 and on GPUs); the perturbation, its projection, the
            loss and its reduction stay float32. ``None`` (default): float32 throughout.
        eot_iter: Expectation over Transformation (Athalye et al., ICML 2018): each gradient
            is the mean of ``eot_iter`` forward+backward passes, for models with randomness at
            test time (input noise, random transforms); each pass draws the model's own
            randomness. ``1`` (default): one pass, the plain gradient. A step costs
            ``eot_iter`` passes.
    """

    #: Whether the attack has a ``random_start`` option (used in error messages).
    _has_random_start = True
    #: Names of the hyperparameters recorded in :attr:`params` and saved sets.
    _param_names: tuple[str, ...] = ("eps", "alpha", "steps", "random_start", "clip")
    #: Whether the attack needs the model's gradients (refuses non-differentiable models).
    _needs_gradients = True

    def __init__(
        self,
        name: str,
        model: nn.Module,
        eps: float,
        alpha: float,
        steps: int,
        random_start: bool,
        clip: tuple[float, float] | None = None,
        loss: Loss | None = None,
        generator: torch.Generator | None = None,
        amp: str | None = None,
        eot_iter: int = 1,
    ) -> None:
        self._init_ball(name, model, eps, clip, loss, generator, amp)
        self.steps, self.eot_iter = check_steps(steps, eot_iter)
        self.alpha = check_budget(alpha, "alpha", strict=True)
        self.random_start = check_flag(random_start, "random_start")

    def _init_ball(self, name: str, model: nn.Module, eps: float,
                   clip: tuple[float, float] | None, loss: Loss | None,
                   generator: torch.Generator | None, amp: str | None) -> None:
        """What every attack in a ball holds: model, budget, clip, loss, random generator and
        precision (attacks without a fixed step, Auto-PGD and Square, call this alone)."""
        self._init_attack(name, model)
        self.amp = check_amp(amp)
        self.eps = check_budget(eps, "eps")
        self.clip = check_clip(clip)
        if loss is not None and not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        self.loss = loss if loss is not None else nn.MSELoss()
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self._generator = generator
        self.supported_mode = ["default", "targeted"]

    # ----------------------------------------------------------------- geometry (subclasses)
    def _random_delta(self, noisy: torch.Tensor) -> torch.Tensor:
        """A random starting perturbation inside the ball."""
        raise NotImplementedError

    def _ascent(self, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One ascent step from ``delta`` along ``grad`` (before projection)."""
        raise NotImplementedError

    def _project_ball(self, delta: torch.Tensor) -> torch.Tensor:
        """Project ``delta`` onto the feasible set of perturbations."""
        raise NotImplementedError

    @property
    def deterministic(self) -> bool:
        """Whether every call gives the same result (no random start, or a fixed seed):
        :class:`~denoise_adv.attacks.WorstCase` runs such a member once, not per restart."""
        return not self.random_start

    @property
    def _passes(self) -> int:
        """Passes of the model one call makes (the time budget's unit, see
        :func:`~denoise_adv._checks.check_iterations`)."""
        return self.steps * self.eot_iter

    def project_ball(self, delta: torch.Tensor) -> torch.Tensor:
        """Project perturbations ``delta`` (B, C, H, W) onto this attack's budget: the public
        face of the geometry, for analyses that combine or rescale perturbations.

        Example:
            >>> from denoise_adv import DenoisePGD
            >>> DenoisePGD(torch.nn.Identity(), eps=0.1).project_ball(torch.ones(1, 1, 2, 2)).max()
            tensor(0.1000)
        """
        return self._project_ball(delta)

    # ------------------------------------------------------------------------------ helpers
    def _init_attack(self, name: str, model: nn.Module) -> None:
        """torchattacks' own initialisation (shared with attacks that have no budget)."""
        check_module(model, "model")
        self._generator: torch.Generator | None = None
        has_tensors = any(True for _ in model.parameters()) or any(True for _ in model.buffers())
        # torchattacks prints a warning for models without parameters; the device is resolved at
        # call time here, so that message would only mislead.
        quiet = contextlib.redirect_stdout(io.StringIO())
        with quiet if not has_tensors else contextlib.nullcontext():
            Attack.__init__(self, name, model)
        self._own_call = False  # True while this attack's own __call__ runs

    @property
    def params(self) -> dict[str, Any]:
        """The attack's hyperparameters as plain values (recorded in saved sets)."""
        values = {name: getattr(self, name) for name in self._param_names}
        if values.get("clip") is not None:
            values["clip"] = list(values["clip"])
        if getattr(self, "eot_iter", 1) != 1:  # recorded when used: older records stay as they were
            values["eot_iter"] = self.eot_iter
        return {"attack": self.attack, "mode": self.attack_mode, **values, "amp": self.amp}

    def _random(self, like: torch.Tensor, kind: str) -> torch.Tensor:
        """``"uniform"`` [0, 1) or ``"normal"`` draws shaped like ``like``, from the generator."""
        return random_like(like, kind, self._generator)

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        """Draw from a fresh generator seeded with ``seed`` for the duration (the attack's own
        generator otherwise): the same seed gives the same result at every call."""
        if seed is None:
            yield
            return
        saved, self._generator = self._generator, torch.Generator().manual_seed(seed)
        try:
            yield
        finally:
            self._generator = saved

    def _per_image(self, cost: torch.Tensor, batch: int) -> torch.Tensor:
        """The loss as one value per image, shape (B,) (for per-image bookkeeping)."""
        if cost.dim() == 0 and batch == 1:
            return cost.view(1)
        if cost.shape != (batch,):
            raise ValueError(f"{self.attack} keeps per-image state and needs a loss with one value "
                             f"per image, shape ({batch},), got shape {tuple(cost.shape)}: return "
                             "e.g. (output - reference).pow(2).flatten(1).mean(1) (the default)")
        return cost

    def _gradient(
        self, noisy: torch.Tensor, delta: torch.Tensor, reference: torch.Tensor, sign: float,
        step: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, gradient)`` at ``noisy + delta``: the loss as the loss function returns it
        and the gradient of ``sign * loss`` (summed over images) with respect to ``delta``, each
        the mean over ``eot_iter`` passes (one pass: exactly the plain values). Checks the
        output (its shape at step 0, its gradient and its values) at every pass."""
        total_cost = total_grad = None
        with torch.enable_grad():
            delta = delta.detach().requires_grad_(True)
            for _ in range(self.eot_iter):
                output = self._forward(noisy + delta)
                if step == 0:
                    self._check_model_output(output, noisy, reference)
                if not output.requires_grad:
                    raise _no_gradient("does not require grad")
                cost = self.loss(output, reference)
                if not bool(torch.isfinite(cost).all()):
                    _check_finite(output, step)
                (grad,) = torch.autograd.grad(sign * (cost.sum() if cost.dim() > 0 else cost),
                                              delta, allow_unused=True)
                if grad is None:
                    raise _no_gradient("does not depend on its input through autograd")
                cost = cost.detach()
                total_cost = cost if total_cost is None else total_cost + cost
                total_grad = grad if total_grad is None else total_grad + grad
        if self.eot_iter > 1:
            total_cost, total_grad = total_cost / self.eot_iter, total_grad / self.eot_iter
        if not bool(torch.isfinite(total_grad).all()):
            raise FloatingPointError(
                f"the gradient of the loss holds NaN or Inf at attack step {step} although the "
                "model's output is finite: the model is not differentiable at this input "
                "(sqrt or log at 0, ...)")
        return total_cost, total_grad

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output on ``x`` under the attack's autocast, back in ``x``'s dtype (so
        the loss and its reduction run in float32)."""
        if self.amp is None:
            return self.get_logits(x)
        with autocast(self.amp, x.device):
            output = self.get_logits(x)
        return output.to(x.dtype)

    def _resolve_device(self, inputs: torch.Tensor) -> torch.device:
        tensor = next(self.model.parameters(), None)
        if tensor is None:
            tensor = next(self.model.buffers(), None)
        device = tensor.device if tensor is not None else inputs.device
        if self.device != device:
            self.device = device
        return device

    def _check_dtypes(self, inputs: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Inputs must have the dtype of the model's parameters: no silent casts."""
        dtype = _model_dtype(self.model)
        if dtype is None:
            return
        for name, x in (("noisy", inputs), (self._labels_name, labels)):
            if x is not None and x.dtype != dtype:
                raise TypeError(f"{name} has dtype {x.dtype} but the model's parameters are "
                                f"{dtype}: convert it with {name}.to({dtype}) (or the model "
                                f"with model.to({x.dtype}))")

    @property
    def _labels_name(self) -> str:
        """What the second argument of a call is: ``"target"`` in the targeted modes, except
        the random one, whose targets are drawn from the clean images."""
        return "target" if self.targeted and self.attack_mode != "targeted(random)" else "clean"

    def _check_model_output(self, output: object, noisy: torch.Tensor,
                            reference: torch.Tensor | None = None) -> None:
        """:func:`_check_output` as this attack's model declares its output shape."""
        from ..models.contract import output_shape_differs

        _check_output(output, noisy, reference, output_shape_differs(self.model))

    def _check_labels(self, noisy: torch.Tensor, labels: torch.Tensor, name: str) -> None:
        """``labels`` has ``noisy``'s shape; for a model declaring ``output_shape_differs``
        (``atk(y, x)``, x larger than y in super-resolution) its batch size only (the output
        is checked against it at the first step)."""
        from ..models.contract import output_shape_differs

        if not output_shape_differs(self.model):
            check_same_shape(noisy, labels, "noisy", name)
        elif len(labels) != len(noisy):
            raise ValueError(f"{name} must hold one image per input image: got {len(labels)} "
                             f"and {len(noisy)}")

    def _project(self, delta: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        delta = self._project_ball(delta)
        if self.clip is not None:
            delta = (noisy + delta).clamp(*self.clip) - noisy
        return delta

    def _reference(
        self, noisy: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, float]:
        """The image the loss is measured against and the sign of the objective."""
        if self.targeted:
            target = self.get_target_label(noisy, labels)
            if target is None:
                raise ValueError(f"{self.attack} is in targeted mode and needs a target image: "
                                 "call atk(noisy, target)")
            check_image_batch(target, "target")
            self._check_labels(noisy, target, "target")
            return target.detach().to(noisy.device), -1.0
        if labels is not None:
            return labels.detach().to(noisy.device), 1.0
        if not self.random_start:
            hint = ("use random_start=True" if self._has_random_start else
                    f"{self.attack} has no random start; use DenoisePGD or DenoisePGDL2 with "
                    "random_start=True")
            raise ValueError(
                f"{self.attack} was called without a clean image: the loss to the model's own "
                "output has zero gradient at delta = 0, so the attack would return its input "
                f"unchanged. Pass the clean image, atk(noisy, clean), or {hint}.")
        with torch.no_grad():
            output = self._forward(noisy)
        self._check_model_output(output, noisy)
        _check_finite(output, 0)
        return output.detach(), 1.0

    # -------------------------------------------------------------------------- the attack
    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        r"""Return the adversarial noisy images ``inputs + delta`` (see the class docstring)."""
        if self._needs_gradients:
            _check_differentiable(self.model)
        check_image_batch(inputs, "noisy")
        if labels is not None:
            check_image_batch(labels, self._labels_name)
            self._check_labels(inputs, labels, self._labels_name)
        self._check_dtypes(inputs, labels)
        device = self._resolve_device(inputs)
        # Callers' torch.no_grad() / inference_mode() are for their own work, not the attack's.
        with torch.inference_mode(False), torch.enable_grad():
            noisy = inputs.detach().to(device).clone()
            if labels is not None:
                labels = labels.detach().to(device).clone()
            reference, sign = self._reference(noisy, labels)
            return self._run(noisy, reference, sign)

    def _run(self, noisy: torch.Tensor, reference: torch.Tensor, sign: float) -> torch.Tensor:
        """The attack loop, given the reference image and the sign of the objective."""
        if self.random_start:
            delta = self._project(self._random_delta(noisy), noisy)
        else:
            delta = torch.zeros_like(noisy)
        for step in range(self.steps):
            # a per-sample loss is summed (samples are independent); EOT averages passes
            _, grad = self._gradient(noisy, delta, reference, sign, step)
            delta = self._project(self._ascent(delta.detach(), grad), noisy)
        return (noisy + delta).detach()

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor | None = None, *args, **kwargs):
        # torchattacks restores the mode without try/finally and only for the whole model:
        # restore every submodule's own mode, whatever happens.
        modes = [(m, m.training) for m in self.model.modules()]
        self._own_call = True
        try:
            return super().__call__(inputs, labels, *args, **kwargs)
        finally:
            self._own_call = False
            for module, training in modes:
                if module.training != training:  # nn.Module.__setattr__ is not free
                    module.training = training

    def _change_model_mode(self, given_training: bool) -> None:
        # torchattacks containers (MultiAttack) switch their members' mode before running them;
        # that is the first call one makes to us, so refuse there, before any attack work.
        if not self._own_call:
            self.model.train(given_training)  # undo the container's switch
            raise TypeError(
                f"{self.attack} attacks a denoiser and cannot run inside a torchattacks container "
                "such as MultiAttack (its success test, argmax == label, is for classifiers); use "
                "denoise_adv.attacks.WorstCase(attacks) for the per-image worst case")
        super()._change_model_mode(given_training)

    # ------------------------------------------------------------------ random targets
    def set_mode_targeted_random(self, quiet: bool = False) -> None:
        """Targeted mode with random targets: ``atk(noisy, clean)`` pulls each image's output
        towards the clean image of another image of the batch, under a random derangement
        (see the class docstring; :meth:`get_random_target_label` draws it).

        Args:
            quiet: do not print the mode change. (Default: False)

        Example:
            >>> from denoise_adv import DenoisePGD
            >>> atk = DenoisePGD(torch.nn.Identity(), generator=torch.Generator().manual_seed(0))
            >>> atk.set_mode_targeted_random(quiet=True)
            >>> clean = torch.arange(4.0).view(4, 1, 1, 1)
            >>> targets = atk.get_random_target_label(None, clean).flatten()
            >>> sorted(targets.tolist()), bool((targets != clean.flatten()).all())
            ([0.0, 1.0, 2.0, 3.0], True)
        """
        super().set_mode_targeted_random(check_flag(quiet, "quiet"))

    def get_random_target_label(self, inputs: torch.Tensor | None,
                                labels: torch.Tensor | None = None) -> torch.Tensor:
        """The random targets of a batch: ``labels`` (the clean images; without them, the
        model's outputs on ``inputs``) in the order of a uniformly random derangement of the
        batch (no image is its own target), drawn from the attack's generator, or from a
        stream of its ``seed`` (:func:`denoise_adv.seeding.seed_of`).

        Raises:
            ValueError: a batch of one image (it has no derangement).
        """
        if labels is None:
            with torch.no_grad():
                labels = self._forward(inputs).detach()
        seed = getattr(self, "seed", None)
        with self._seeded(None if seed is None else seed_of(seed, "attack", self.attack,
                                                               "random target")):
            order = self._derangement(len(labels))
        return labels[order.to(labels.device)]

    def _derangement(self, batch: int) -> torch.Tensor:
        """A uniformly random permutation of ``range(batch)`` without a fixed point: uniform
        permutations (argsort of uniform draws) until one has none (e = 2.72 draws on
        average)."""
        if batch < 2:
            raise ValueError(f"{self.attack} is in targeted(random) mode, which targets another "
                             f"image of the batch, but the batch holds {batch} image: pass at "
                             "least 2, or use set_mode_targeted_by_label() and atk(noisy, target)")
        index = torch.arange(batch)
        while True:
            order = self._random(torch.empty(batch), "uniform").argsort()
            if not bool((order == index).any()):
                return order

    # ------------------------------------------------------ classification-only torchattacks API

    def set_mode_targeted_least_likely(self, kth_min: int = 1, quiet: bool = False) -> None:
        """Not available: least-likely labels only make sense for classifiers."""
        raise ValueError(f"{self.attack} attacks a denoiser: least-likely target labels are "
                         "classification-only. Use set_mode_targeted_by_label() and pass a "
                         "target image.")

    # ------------------------------------------------------------------ adversarial sets
    def save(
        self,
        data_loader: Iterable,
        save_path: str | os.PathLike | None = None,
        verbose: bool = True,
        return_verbose: bool = False,
        save_predictions: bool = False,
        save_clean_inputs: bool = False,
        save_type: str = "float",
        progress: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> tuple[float, float, float] | None:
        """Attack every ``(noisy, clean)`` batch of ``data_loader`` and save the adversarial set.

        Replaces :meth:`torchattacks.Attack.save`, which assumes a classifier. The file is
        written atomically once, at the end (format: :mod:`denoise_adv.attacks.io`).

        Args:
            data_loader: iterable of ``(noisy, clean)`` batches.
            save_path: ``.pt`` destination, or ``None`` to only measure.
            verbose: print the mean PSNR of the model's output and the perturbation size.
            return_verbose: return ``(mean PSNR on adversarial inputs, mean L2 of delta,
                seconds)``.
            save_predictions: also store the model's output on the adversarial inputs.
            save_clean_inputs: also store the noisy inputs before the attack.
            save_type: only ``"float"``: 8-bit storage would clip the unclipped noisy images.
            progress: show a tqdm bar over the batches.
            meta: extra plain values to record next to the attack's parameters.

        Example:
            >>> from denoise_adv import DenoisePGD
            >>> from denoise_adv.models import DnCNN
            >>> atk = DenoisePGD(DnCNN(depth=3, features=8), eps=2 / 255, alpha=1 / 255, steps=2)
            >>> pairs = [(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))]
            >>> psnr_adv, l2, secs = atk.save(pairs, verbose=False, return_verbose=True,
            ...                               progress=False)
        """
        for flag, name in ((verbose, "verbose"), (return_verbose, "return_verbose"),
                           (save_predictions, "save_predictions"),
                           (save_clean_inputs, "save_clean_inputs"), (progress, "progress")):
            check_flag(flag, name)
        if save_type != "float":
            raise ValueError("save_type must be 'float' for denoisers: adversarial noisy images "
                             f"leave [0, 1] and 8-bit storage would clip them (got {save_type!r})")
        adv_list, clean_list, pred_list, input_list = [], [], [], []
        psnrs, l2s = [], []
        start = time.perf_counter()
        for batch in tqdm(data_loader, desc=f"{self.attack} save", disable=not progress):
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise TypeError("data_loader must yield (noisy, clean) pairs")
            noisy, clean = batch[0], batch[1]
            adv = self(noisy, clean)
            output = self.get_output_with_eval_nograd(adv)
            clean = clean.to(adv.device)
            psnrs.append(psnr(output.clamp(0, 1), clean).cpu())
            l2s.append((adv - noisy.to(adv.device)).flatten(1).norm(dim=1).cpu())
            adv_list.append(adv.cpu())
            clean_list.append(clean.cpu())
            if save_predictions:
                pred_list.append(output.cpu())
            if save_clean_inputs:
                input_list.append(noisy.detach().cpu())
        if not adv_list:
            raise ValueError("data_loader yielded no batches")
        elapsed = time.perf_counter() - start
        mean_psnr = torch.cat(psnrs).mean().item()
        mean_l2 = torch.cat(l2s).mean().item()
        if save_path is not None:
            extra = {}
            if save_predictions:
                extra["preds"] = torch.cat(pred_list)
            if save_clean_inputs:
                extra["clean_inputs"] = torch.cat(input_list)
            info = {**self.params, "model": self.model_name, **(meta or {})}
            save_adversarial_set(save_path, torch.cat(adv_list), torch.cat(clean_list), info,
                                 **extra)
        if verbose:
            print(f"- Save done: PSNR on adversarial inputs {mean_psnr:.3f} dB / "
                  f"mean L2 of delta {mean_l2:.5f} ({elapsed:.2f} s)")
        if return_verbose:
            return mean_psnr, mean_l2, elapsed
        return None

    @staticmethod
    def load(
        load_path: str | os.PathLike,
        batch_size: int = 128,
        shuffle: bool = False,
        load_predictions: bool = False,
        load_clean_inputs: bool = False,
    ) -> torch.utils.data.DataLoader:
        """Load a saved adversarial set as a DataLoader of ``(adv_inputs, clean[, ...])``.

        Mirrors :meth:`torchattacks.Attack.load`; the file is read with ``weights_only=True``.
        Use :func:`denoise_adv.attacks.load_adversarial_set` for the metadata too.
        """
        for flag, name in ((shuffle, "shuffle"), (load_predictions, "load_predictions"),
                           (load_clean_inputs, "load_clean_inputs")):
            check_flag(flag, name)
        payload = load_adversarial_set(load_path)
        keys = ["adv_inputs", "labels"]
        for flag, key in ((load_predictions, "preds"), (load_clean_inputs, "clean_inputs")):
            if flag:
                if key not in payload:
                    raise ValueError(f"{load_path} has no {key!r} (it was saved without it)")
                keys.append(key)
        dataset = torch.utils.data.TensorDataset(*[payload[k] for k in keys])
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
