"""The denoiser contract: what a model can do, declared once by the model, read only here.

A *denoiser* is an :class:`torch.nn.Module` called ``model(noisy) -> clean estimate`` ([0, 1]
units; see :class:`Denoiser`). What else it can do it declares by class (or instance)
attributes, all optional, so a foreign model declares nothing and is still a denoiser:

======================  ===========  ===============================================================
attribute               if absent    meaning
======================  ===========  ===============================================================
``takes_sigma``         foreign      ``True``: called ``model(noisy, sigma)`` (FFDNet, DRUNet;
                                     :class:`NoiseLevelDenoiser`). ``False``: a *fixed-level* model
                                     of ours: one trained level, no level argument (DnCNN, SwinIR,
                                     the unfolding model, the classical baselines). Absent: a
                                     foreign model, called with ``sigma`` only when one is given.
``differentiable``      ``True``     ``False``: white-box attacks refuse it (BM3D, NL-means); one
                                     submodule declaring it makes the whole model so.
``channels``            unknown      image channels it takes (1 gray, 3 colour).
``sigma``               unknown      the level it denoises at when not told: a ``takes_sigma``
                                     model's default (the published models of the zoo), a
                                     fixed-level model's own level where known (the classical
                                     baselines' argument; the shipped zoo's models, 25/255).
``randomized``          ``False``    ``True``: its forward draws test-time randomness (noise,
                                     random transforms); one submodule declaring it makes the
                                     whole model so, and gradient attacks should average (EOT).
``receptive_radius``    unknown      an int ``r >= 0``: an output pixel depends only on the input
                                     pixels within ``r`` rows and ``r`` columns of it, and a crop
                                     of the input reproduces the output wherever the crop reaches
                                     ``r`` pixels around (its own edges count as the image's
                                     borders), so attacks may re-run it on the crop around what
                                     they change (:class:`~denoise_adv.attacks.DenoiseSquare`).
                                     DnCNN, FFDNet and NL-means declare it; absent or ``None``: the
                                     model is run whole.
``alignment``           ``1``        with ``receptive_radius``: crops must start (and end, unless at
                                     the image's end) at multiples of it (FFDNet's 2x2 pixel
                                     unshuffle: 2).
======================  ===========  ===============================================================

A model that is not a denoiser but a restoration pipeline
(:class:`~denoise_adv.restoration.Restorer`) may also declare ``output_shape_differs = True``
(absent: ``False``; read on the model itself, not its submodules): its output may have another
shape than its input (super-resolution maps a small measurement to a large image), so attacks
compare the output with the clean image, not with the input.

Read them with :func:`takes_sigma`, :func:`fixed_level`, :func:`is_differentiable`,
:func:`channels_of`, :func:`default_level`, :func:`is_randomized`,
:func:`receptive_field` and :func:`output_shape_differs`, never with ``getattr``
elsewhere. The adapters
(:func:`~denoise_adv.models.as_denoiser`, :func:`~denoise_adv.models.as_prior`,
:func:`denoise_adv.integrations.deepinv.as_deepinv_denoiser`) cross between the two call forms on
this contract; a fixed-level model asked for another level through them warns once
(:func:`warn_fixed_level`). deepinv's ``Denoiser`` (``forward(x, sigma)``) is the other
library's form of :class:`NoiseLevelDenoiser`. No model of the package is randomized.

The contract covers wrappers too: a wrapper declares what *it* does with a level.
:class:`~denoise_adv.models.PnPDenoiser` takes one (``takes_sigma = True``: the input's level,
DPIR's sigma) whatever its prior is. An adapter given a level either passes it on
(:func:`level_for`: the level given, else a ``takes_sigma`` model's own default) or says once
that it cannot (:func:`warn_ignored_level`: a fixed-level model, or a foreign model that
declares no ``takes_sigma``).
"""

from __future__ import annotations

import math
import warnings
from typing import Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["Denoiser", "NoiseLevelDenoiser", "channels_of", "conv_radius", "default_level",
           "fixed_level", "is_differentiable", "is_randomized", "level_for",
           "not_differentiable_part", "output_shape_differs", "receptive_field", "takes_sigma",
           "warn_fixed_level", "warn_ignored_level"]


@runtime_checkable
class Denoiser(Protocol):
    """The contract's call: ``model(noisy) -> clean`` on a batch (B, C, H, W)."""

    def __call__(self, noisy: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class NoiseLevelDenoiser(Protocol):
    """A model declaring ``takes_sigma = True``: ``model(noisy, sigma) -> clean``, ``sigma`` a
    float or a per-sample tensor in [0, 1] units (deepinv's ``Denoiser`` signature)."""

    takes_sigma: bool

    def __call__(self, noisy: torch.Tensor, sigma: float | torch.Tensor | None = None
                 ) -> torch.Tensor: ...


def takes_sigma(model: nn.Module) -> bool:
    """Whether ``model`` is called ``model(x, sigma)`` (it declares ``takes_sigma = True``).

    Example:
        >>> from denoise_adv.models import DnCNN, FFDNet
        >>> takes_sigma(FFDNet(depth=2, features=4)), takes_sigma(DnCNN(depth=2, features=4))
        (True, False)
    """
    return bool(getattr(model, "takes_sigma", False))


def fixed_level(model: nn.Module) -> bool:
    """Whether ``model`` is a fixed-level model of ours: it declares ``takes_sigma = False``
    (one trained level, no level argument). A foreign model, which declares nothing, is not.

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> fixed_level(DnCNN(depth=2, features=4)), fixed_level(torch.nn.Identity())
        (True, False)
    """
    return hasattr(model, "takes_sigma") and not model.takes_sigma


def is_differentiable(model: nn.Module) -> bool:
    """Whether white-box attacks can use ``model``'s gradients: no module of it declares
    ``differentiable = False`` (BM3D, NL-means, or a wrapper of them).

    Example:
        >>> from denoise_adv.models import DnCNN, NLMeans
        >>> is_differentiable(DnCNN(depth=2, features=4)), is_differentiable(NLMeans(0.1))
        (True, False)
    """
    return not_differentiable_part(model) is None


def not_differentiable_part(model: nn.Module) -> nn.Module | None:
    """The first module of ``model`` (itself included) that declares ``differentiable =
    False``, or ``None`` when white-box attacks can use its gradients.

    Example:
        >>> from denoise_adv.models import NLMeans
        >>> type(not_differentiable_part(nn.Sequential(NLMeans(0.1)))).__name__
        'NLMeans'
    """
    return next((m for m in model.modules() if getattr(m, "differentiable", True) is False),
                None)


def is_randomized(model: nn.Module) -> bool:
    """Whether ``model`` is, or wraps, a module declaring ``randomized = True`` (test-time
    randomness in its forward: gradient attacks then average passes, EOT).

    Example:
        >>> class Noisy(nn.Module):
        ...     randomized = True
        ...     def forward(self, x):
        ...         return x + 0.01 * torch.randn_like(x)
        >>> is_randomized(nn.Sequential(Noisy())), is_randomized(nn.Identity())
        (True, False)
    """
    return any(getattr(m, "randomized", False) is True for m in model.modules())


def output_shape_differs(model: nn.Module) -> bool:
    """Whether ``model`` declares ``output_shape_differs = True``: its output may have another
    shape than its input (a restoration pipeline; attacks compare the output with the clean
    image instead of the input).

    Example:
        >>> class Upsample(nn.Module):
        ...     output_shape_differs = True
        ...     def forward(self, y):
        ...         return torch.nn.functional.interpolate(y, scale_factor=2)
        >>> output_shape_differs(Upsample()), output_shape_differs(nn.Identity())
        (True, False)
    """
    return getattr(model, "output_shape_differs", False) is True


def receptive_field(model: nn.Module) -> tuple[int, int] | None:
    """``(radius, alignment)`` of ``model``'s declared locality (``receptive_radius`` and
    ``alignment``, see the module's table), looking through the package's adapters
    (:class:`~denoise_adv.models.DenoiserAdapter`, :class:`~denoise_adv.models.PriorAdapter`) to
    the model they call; ``None`` when it declares none (the model is run whole), and for an
    adapter that holds one noise level per image (a crop of a batch would take the wrong ones).

    Raises:
        TypeError: ``receptive_radius`` or ``alignment`` is not an int.
        ValueError: ``receptive_radius`` is negative or ``alignment`` below 1.

    Example:
        >>> from denoise_adv.models import DnCNN, FFDNet, NLMeans, as_denoiser
        >>> receptive_field(DnCNN(depth=10, features=4)), receptive_field(NLMeans(0.1))
        ((10, 1), (8, 1))
        >>> receptive_field(as_denoiser(FFDNet(depth=15, features=4), sigma=0.1))
        (31, 2)
        >>> receptive_field(nn.Identity()) is None
        True
    """
    radius = getattr(model, "receptive_radius", None)
    if radius is None:
        inner = _adapted(model)
        return None if inner is None else receptive_field(inner)
    radius = _declared_int(model, "receptive_radius", radius, 0)
    return radius, _declared_int(model, "alignment", getattr(model, "alignment", 1), 1)


def _declared_int(model: nn.Module, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{type(model).__name__}.{name} must be an int, got "
                        f"{type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{type(model).__name__}.{name} must be >= {minimum}, got {value}")
    return value


def _adapted(model: nn.Module) -> nn.Module | None:
    """The model a pass-through adapter calls (same pixels in, same out), else ``None``: what
    its ``pixels_pass_to()`` says (the adapters declare it; this module imports none of them).
    An adapter with one level per image is not pass-through for crops of a batch."""
    inner = getattr(model, "pixels_pass_to", None)
    return inner() if callable(inner) else None


def conv_radius(layers: nn.Module) -> int | None:
    """The receptive radius of a chain of stride-1, 'same'-padded convolutions (the sum of
    their ``dilation * (kernel - 1) / 2``); ``None`` if a convolution of ``layers`` is strided,
    not 'same'-padded or of an even kernel, or a layer is neither a convolution nor pointwise
    (activations, BatchNorm in eval mode): then no radius is declared.

    Example:
        >>> conv_radius(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        ...                           nn.Conv2d(4, 1, 5, padding=2)))
        3
    """
    radius = 0
    for layer in (m for m in layers.modules() if not any(True for _ in m.children())):
        if isinstance(layer, _POINTWISE):
            continue
        if not isinstance(layer, nn.Conv2d):
            return None
        reach = [d * (k - 1) for k, d in zip(layer.kernel_size, layer.dilation)]
        if (any(r % 2 for r in reach) or tuple(layer.stride) != (1, 1)
                or layer.padding != tuple(r // 2 for r in reach)):
            return None
        radius += max(reach) // 2
    return radius


#: Layers that act on each pixel alone (BatchNorm in eval mode: an attack checks the mode).
_POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
              nn.Identity, nn.BatchNorm2d)


def channels_of(model: nn.Module, default: int | None = None) -> int | None:
    """The image channels ``model`` declares (an int ``channels``), else ``default``.

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> channels_of(DnCNN(channels=3, depth=2, features=4)), channels_of(nn.Identity(), 1)
        (3, 1)
    """
    channels = getattr(model, "channels", None)
    return channels if isinstance(channels, int) and not isinstance(channels, bool) else default


def default_level(model: nn.Module) -> float | None:
    """The level ``model`` denoises at when not told (its ``sigma``, a number), else ``None``.

    Example:
        >>> from denoise_adv.models import NLMeans
        >>> default_level(NLMeans(0.1)), default_level(nn.Identity())
        (0.1, None)
    """
    sigma = getattr(model, "sigma", None)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        return None
    return float(sigma)


def _same_level(sigma: float | torch.Tensor, level: float) -> bool:
    if isinstance(sigma, torch.Tensor):
        return bool(torch.all((sigma.detach() - level).abs() <= 1e-6))
    return math.isclose(float(sigma), level, rel_tol=0.0, abs_tol=1e-6)


def warn_fixed_level(model: nn.Module, sigma: float | torch.Tensor | None,
                     where: str = "the adapter") -> bool:
    """Warn (:class:`UserWarning`) if ``model`` is fixed-level and ``sigma`` is a level it will
    not honour: another than its own (:func:`default_level`), or any level when its own is not
    recorded. Returns whether it warned; callers warn once (they keep the answer).

    Example:
        >>> from denoise_adv.models import NLMeans
        >>> warn_fixed_level(NLMeans(25 / 255), 25 / 255)
        False
    """
    if sigma is None or not fixed_level(model):
        return False
    level = default_level(model)
    if level is not None and _same_level(sigma, level):
        return False
    given = _describe(sigma)
    own = (f"the level it was trained for ({level * 255:g}/255)" if level is not None else
           "the level it was trained for (not recorded on the model: set model.sigma to it)")
    warnings.warn(f"{type(model).__name__} is a fixed-level denoiser: {where} was given sigma "
                  f"{given}, which it ignores; it denoises at {own}. Use a model that takes a "
                  "noise level (takes_sigma, e.g. zoo:ffdnet-ipol-gray or deepinv's DRUNet) "
                  "to follow sigma (DPIR anneals it)", UserWarning, stacklevel=3)
    return True


def level_for(model: nn.Module, sigma: float | torch.Tensor | None
              ) -> float | torch.Tensor | None:
    """The level an adapter passes to ``model``: ``sigma`` when given; else, for a
    ``takes_sigma`` model, its own default (:func:`default_level`: FFDNet's 25/255 from
    :func:`~denoise_adv.models.pretrained`, a PnP wrapper's ``sigma``); else ``None`` (the
    model is called without a level).

    Raises:
        ValueError: ``sigma`` is ``None`` and ``model`` takes a level but has no default.

    Example:
        >>> from denoise_adv.models import DnCNN, FFDNet
        >>> ffdnet = FFDNet(depth=2, features=4)
        >>> ffdnet.sigma = 25 / 255
        >>> level_for(ffdnet, None) == 25 / 255, level_for(ffdnet, 0.1)
        (True, 0.1)
        >>> level_for(DnCNN(depth=2, features=4), None) is None
        True
    """
    if sigma is not None or not takes_sigma(model):
        return sigma
    level = default_level(model)
    if level is None:
        raise ValueError(f"sigma: {type(model).__name__} takes a noise level and has no default "
                         "of its own; give sigma (or set model.sigma)")
    return level


def warn_ignored_level(model: nn.Module, sigma: float | torch.Tensor | None,
                       where: str = "the adapter") -> bool:
    """Warn (:class:`UserWarning`) if ``sigma`` is a level ``model`` will not receive: a
    fixed-level model asked for another level than its own (:func:`warn_fixed_level`), or a
    foreign model that declares no ``takes_sigma`` (the adapter cannot know its signature, so it
    calls ``model(x)``). Returns whether it warned; callers warn once (they keep the answer).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_ignored_level(nn.Identity(), 0.1), warn_ignored_level(nn.Identity(), None)
        (True, False)
        >>> "declares no noise-level contract" in str(caught[0].message)
        True
    """
    if sigma is None or takes_sigma(model):
        return False
    if fixed_level(model):
        return warn_fixed_level(model, sigma, where)
    warnings.warn(f"{type(model).__name__} declares no noise-level contract (no takes_sigma "
                  f"attribute): {where} was given sigma {_describe(sigma)}, which it does not "
                  "pass on (it calls model(x)). Declare takes_sigma = True on the model (its "
                  "forward then gets (x, sigma)), or takes_sigma = False and sigma = its trained "
                  "level for a fixed-level model", UserWarning, stacklevel=3)
    return True


def _describe(sigma: float | torch.Tensor) -> str:
    if isinstance(sigma, torch.Tensor) and sigma.numel() != 1:
        return "per-sample levels"
    return f"{float(sigma) * 255:g}/255"
