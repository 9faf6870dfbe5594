"""A restoration pipeline as an attack target: ``Restorer(reconstructor, physics)``, y -> x-hat."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .._checks import check_channels, check_flag, check_image_batch, check_int
from ..models.contract import channels_of

try:
    from deepinv.optim import BaseOptim
    from deepinv.physics import GaussianNoise, Physics
except ImportError as error:  # pragma: no cover - exercised only without the extra
    from .._checks import MissingExtra

    raise MissingExtra("denoise_adv.restoration needs deepinv 0.5: pip install "
                       "\"denoise-adv[deepinv]\"") from error

__all__ = ["Restorer"]

Reconstructor = Callable[[torch.Tensor, Physics], torch.Tensor]


@contextlib.contextmanager
def _unfolded(module: object) -> Iterator[None]:
    """Run deepinv's optimisers of ``module`` with gradients: ``BaseOptim.forward`` runs its
    iterations under ``torch.no_grad()`` unless ``unfold`` is set, so set it for the duration
    (no parameter is created: those are made at construction only) and put it back after."""
    switched = [m for m in (module.modules() if isinstance(module, nn.Module) else ())
                if isinstance(m, BaseOptim) and not m.unfold and not m.DEQ]
    for optimiser in switched:
        optimiser.unfold = True
    try:
        yield
    finally:
        for optimiser in switched:
            optimiser.unfold = False


def _hidden_modules(reconstructor: object) -> list[nn.Module]:
    """Modules that deepinv's optimisers keep in plain lists, out of ``modules()``: without
    ``unfold`` at construction, ``BaseOptim.prior`` and ``.data_fidelity`` are lists, so the
    denoiser prior would not move with ``.to``, freeze, or declare its contract."""
    if not isinstance(reconstructor, nn.Module):
        return []
    seen = {id(m) for m in reconstructor.modules()}
    hidden = []
    for optimiser in (m for m in reconstructor.modules() if isinstance(m, BaseOptim)):
        for part in [*(optimiser.prior or []), *(optimiser.data_fidelity or [])]:
            if isinstance(part, nn.Module) and id(part) not in seen:
                seen.add(id(part))
                hidden.append(part)
    return hidden


def _image_channels(physics: Physics) -> int | None:
    """The channels of the physics' image size (``img_size`` (C, H, W); deepinv's
    ``Downsampling`` calls it ``imsize``), if it records one."""
    for name in ("img_size", "imsize"):
        size = getattr(physics, name, None)
        if isinstance(size, (tuple, list, torch.Size)) and len(size) == 3:
            return int(size[0])
    return None


class Restorer(nn.Module):
    r"""A deepinv restoration pipeline as one module ``restorer(y) -> x_hat``, so that the
    package's attacks (:class:`~denoise_adv.attacks.DenoisePGD` and the others) attack the
    measurement ``y`` of a deblurring, super-resolution or inpainting method with
    ``atk(y, x)``.

    ``reconstructor`` is anything called ``reconstructor(y, physics)``: deepinv's ``DPIR``, an
    ``optim_builder`` algorithm, an unfolded network, ``ArtifactRemoval``, a classical baseline
    of :mod:`denoise_adv.restoration` or a plain function.

    - **Differentiable through deepinv's iterations.** deepinv runs its optimisers under
      ``torch.no_grad()`` unless ``unfold`` is set (``BaseOptim.forward``); the restorer sets
      ``unfold`` on each of them for the duration of a call with gradients enabled, and puts it
      back afterwards. No parameter is created.
    - **Frozen.** An attack target is evaluated, never trained: the reconstructor and the
      physics are put in eval mode and their parameters get ``requires_grad = False`` (the
      objects given are changed: build a fresh reconstructor to train one). Gradients flow to
      the measurement only. The denoiser priors that deepinv's optimisers keep in plain
      lists (``BaseOptim.prior``) are registered here too (as ``hidden``), so that ``.to``,
      freezing and the contract reach them.
    - **The denoiser contract** (:mod:`denoise_adv.models.contract`): ``channels`` (given, else
      a submodule's declaration, else the physics' ``img_size``), ``differentiable`` (given,
      else what the reconstructor's modules declare), ``randomized`` (given, else what they
      declare), and ``output_shape_differs = True``: x-hat may have another shape than y
      (super-resolution), so attacks compare it with the clean image, and their budget and
      per-pixel L2 radius are on the measurement's pixels.

    Args:
        reconstructor: called ``reconstructor(y, physics) -> x_hat``; an ``nn.Module`` is
            registered as a submodule (it moves with ``.to``).
        physics: the deepinv ``Physics`` of the measurement (its noise model is used only by
            :meth:`measure`).
        channels: image channels, if neither the reconstructor nor the physics declares them.
        differentiable: ``False`` declares a forward-only reconstructor (gradient attacks
            refuse it; :class:`~denoise_adv.attacks.DenoiseSquare` and transfer remain).
            ``None``: what its modules declare (a plain function: differentiable).
        randomized: ``True`` declares test-time randomness (diffusion samplers...).
            ``None``: what its modules declare.

    Shape:
        - y: :math:`(B, C, h, w)`, the measurement (the physics' range).
        - output: :math:`(B, C, H, W)`, the estimate (the physics' domain).

    Example:
        >>> import deepinv as dinv
        >>> from denoise_adv.restoration import BicubicUpsampling
        >>> physics = dinv.physics.Downsampling(img_size=(1, 16, 16), factor=2,
        ...                                     filter="bicubic")
        >>> restorer = Restorer(BicubicUpsampling(), physics)
        >>> y = restorer.measure(torch.rand(1, 1, 16, 16), seed=0)
        >>> y.shape, restorer(y).shape, restorer.output_shape_differs
        (torch.Size([1, 1, 8, 8]), torch.Size([1, 1, 16, 16]), True)
    """

    #: x-hat may have another shape than y (the contract's ``output_shape_differs``).
    output_shape_differs = True

    def __init__(self, reconstructor: nn.Module | Reconstructor, physics: Physics, *,
                 channels: int | None = None, differentiable: bool | None = None,
                 randomized: bool | None = None) -> None:
        super().__init__()
        if not callable(reconstructor):
            raise TypeError(f"reconstructor must be callable as reconstructor(y, physics) (a "
                            f"deepinv reconstructor or a function), got "
                            f"{type(reconstructor).__name__}")
        if not isinstance(physics, Physics):
            raise TypeError(f"physics must be a deepinv.physics.Physics, got "
                            f"{type(physics).__name__}")
        self.reconstructor = reconstructor
        self.physics = physics
        hidden = _hidden_modules(reconstructor)
        if hidden:  # registered here, so that .to, freezing and the contract reach them
            self.hidden = nn.ModuleList(hidden)
        for module in (reconstructor, physics, *hidden):
            if isinstance(module, nn.Module):
                module.requires_grad_(False)
                module.eval()
        if differentiable is not None:
            self.differentiable = check_flag(differentiable, "differentiable")
        if randomized is not None:
            self.randomized = check_flag(randomized, "randomized")
        channels = self._declared_channels() if channels is None else check_channels(channels)
        if channels is not None:
            self.channels = channels

    def _declared_channels(self) -> int | None:
        declared = (channels_of(m) for m in self.modules() if m is not self)
        return next((c for c in declared if c is not None), _image_channels(self.physics))

    def train(self, mode: bool = True) -> Restorer:
        """Set the restorer's own mode; its reconstructor and physics stay in eval mode (an
        attack target is evaluated, never trained: BatchNorm keeps its running statistics)."""
        self.training = check_flag(mode, "mode")
        return self

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The estimate ``reconstructor(y, physics)``, differentiable in ``y`` when gradients
        are enabled.

        Raises:
            TypeError: ``y`` is not a floating-point tensor, or the reconstructor returns
                something else than a tensor.
            ValueError: ``y`` is not a finite (B, C, h, w) batch.
        """
        check_image_batch(y, "y")
        context = _unfolded(self.reconstructor) if torch.is_grad_enabled() else (
            contextlib.nullcontext())
        with context:
            x_hat = self.reconstructor(y, self.physics)
        if not isinstance(x_hat, torch.Tensor):
            raise TypeError(f"the reconstructor must return a tensor (the estimate), got "
                            f"{type(x_hat).__name__}")
        return x_hat

    def measure(self, x: torch.Tensor, seed: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The noisy measurement ``y = A(x) + n`` of clean images ``x``.

        Gaussian noise (deepinv's ``GaussianNoise``) is drawn on the CPU from ``generator``
        (or a generator seeded with ``seed``; neither: the global RNG) and moved to ``x``'s
        device, so a seed gives the same ``y`` on every device; another noise model is called
        as deepinv calls it, ``noise_model(A(x), seed=seed)``.

        Args:
            x: clean images (B, C, H, W), the physics' domain.
            seed: seed of the noise draw (``None``: ``generator`` or the global RNG).
            generator: a ``torch.Generator`` to draw from (not with ``seed``).

        Raises:
            ValueError: both ``seed`` and ``generator`` given, or ``x`` not an image batch.
            TypeError: ``generator`` is not a ``torch.Generator``.
        """
        check_image_batch(x, "x")
        if seed is not None and generator is not None:
            raise ValueError("seed and generator: give one of them, not both")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got "
                            f"{type(generator).__name__}")
        with torch.no_grad():
            clean = self.physics.A(x)
            noise_model = getattr(self.physics, "noise_model", None)
            if not isinstance(noise_model, GaussianNoise):
                return clean if noise_model is None else noise_model(clean, seed=seed)
            if seed is not None:
                generator = torch.Generator().manual_seed(check_int(seed, "seed"))
            noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
            return clean + noise.to(clean.device) * noise_model.sigma.to(clean)

    def extra_repr(self) -> str:
        if isinstance(self.reconstructor, nn.Module):
            return f"physics={type(self.physics).__name__}"
        name = getattr(self.reconstructor, "__name__", type(self.reconstructor).__name__)
        return f"reconstructor={name}, physics={type(self.physics).__name__}"
