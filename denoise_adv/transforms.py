"""torchvision transforms that add noise: Gaussian, TS (the paper's defence) and mixed-level.

They subclass :class:`torchvision.transforms.v2.Transform` (public ``make_params`` /
``transform`` API), so they drop into ``torchvision.transforms.Compose`` (v1) and
``v2.Compose`` alike. Inputs: a float tensor (C, H, W) or a batch (B, C, H, W) — each sample of
a batch gets its own noise — or a ``tv_tensors.Image`` (re-wrapped). In a sample with labels
(``(image, label)``), only the image is noised, by torchvision's usual rules. PIL images raise a
clear error: convert first (``v2.ToImage()`` + ``v2.ToDtype(torch.float32, scale=True)``).

Unlike ``torchvision.transforms.v2.GaussianNoise``, which clips to [0, 1] by default, these do not
clip (``clip=False``): DnCNN-style training uses unclipped noisy images.

Randomness: with ``seed=None`` noise comes from the global RNG (a DataLoader seeds each worker
differently). With a seed, the transform owns a :class:`torch.Generator`; inside a DataLoader
worker that generator is derived from ``(seed, torch.initial_seed())`` so that workers never share
one stream, and a run is reproducible when the main process is seeded. The transforms pickle
(with their generator state).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import PIL.Image
import torch
from torch.utils.data import get_worker_info
from torchvision import tv_tensors
from torchvision.transforms import v2

from . import seeding
from ._checks import check_int, check_real
from .noise import (
    DEFAULT_MIXED_SIGMAS,
    DEFAULT_SIGMA,
    DEFAULT_TS_ITERATIONS,
    NoiseSpec,
    Sigma,
    mixed_noise,
    mixing_levels,
)

__all__ = ["GaussianNoise", "MixedNoise", "TSNoise"]


class _NoiseTransform(v2.Transform):
    """Base class: input handling, clipping, the seeded generator and pickling."""

    _transformed_types = (torch.Tensor, PIL.Image.Image)

    def __init__(self, clip: bool = False, seed: int | None = None, mean: float = 0.0) -> None:
        super().__init__()
        self.clip = bool(clip)
        self.mean = check_real(mean, "mean")
        self.seed = None if seed is None else check_int(seed, "seed")
        self._generator: torch.Generator | None = None
        self._generator_owner: int | None = None  # worker seed the generator was derived for

    # ----------------------------------------------------------------------------- randomness
    def _get_generator(self) -> torch.Generator | None:
        if self.seed is None:
            return None
        owner = torch.initial_seed() if get_worker_info() is not None else None
        if self._generator is None or self._generator_owner != owner:
            self._generator = (torch.Generator().manual_seed(self.seed) if owner is None
                               else seeding.generator(self.seed, "worker", owner))
            self._generator_owner = owner
        return self._generator

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._generator is not None:
            state["_generator"] = self._generator.get_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator_state = state.get("_generator")
        self.__dict__.update(state)
        if generator_state is not None:
            self._generator = torch.Generator()
            self._generator.set_state(generator_state)

    # ------------------------------------------------------------------------- v2 interface
    def check_inputs(self, flat_inputs: list[Any]) -> None:
        for x in flat_inputs:
            if isinstance(x, PIL.Image.Image):
                raise TypeError(
                    f"{type(self).__name__} needs float tensors in [0, 1], got a PIL image: "
                    "convert first with v2.ToImage() and v2.ToDtype(torch.float32, scale=True) "
                    "(or transforms.ToTensor())")
            if isinstance(x, np.ndarray) and x.ndim >= 2:
                raise TypeError(f"{type(self).__name__} needs a torch tensor, got a numpy array "
                                f"of shape {x.shape}: convert with torch.from_numpy or "
                                "v2.ToImage()")
        if not any(isinstance(x, torch.Tensor) for x in flat_inputs):
            # Nothing to add noise to: torchvision would pass the input through unchanged.
            kinds = sorted({type(x).__name__ for x in flat_inputs})
            raise TypeError(f"{type(self).__name__} found no image tensor to add noise to (got "
                            f"{', '.join(kinds) or 'nothing'}): give a float tensor (C, H, W) or "
                            "a batch (B, C, H, W)")

    def noise(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
              device: torch.device | None = None, dtype: torch.dtype | None = None
              ) -> torch.Tensor:
        """The noise for a batch of ``shape`` (B, ...), from the functional sampler."""
        raise NotImplementedError

    def add_noise(self, x: torch.Tensor, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
        """Add noise to an image (C, H, W) or a batch, drawing from ``generator`` (not the
        transform's own): for datasets that derive randomness from (seed, epoch, index)."""
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__} needs a floating-point image in [0, 1], got "
                            f"dtype {x.dtype}: convert with v2.ToDtype(torch.float32, scale=True)")
        if x.dim() not in (3, 4):
            raise ValueError(f"{type(self).__name__} needs an image (C, H, W) or a batch "
                             f"(B, C, H, W), got shape {tuple(x.shape)}")
        batch = x if x.dim() == 4 else x.unsqueeze(0)
        out = batch + self.mean + self.noise(tuple(batch.shape), generator, batch.device,
                                             batch.dtype)
        if self.clip:
            out = out.clamp(0, 1)
        return out if x.dim() == 4 else out.squeeze(0)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        # v2.GaussianNoise's dispatch: images, videos and plain tensors get noise; masks,
        # boxes, keypoints and other tv_tensors pass through.
        if isinstance(inpt, tv_tensors.TVTensor) and not isinstance(
                inpt, (tv_tensors.Image, tv_tensors.Video)):
            return inpt
        if isinstance(inpt, tv_tensors.Video):
            frames = inpt.as_subclass(torch.Tensor)
            flat = frames.reshape(-1, *frames.shape[-3:])
            out = self.add_noise(flat, self._get_generator()).reshape(frames.shape)
            return tv_tensors.wrap(out, like=inpt)
        x = inpt.as_subclass(torch.Tensor) if isinstance(inpt, tv_tensors.TVTensor) else inpt
        out = self.add_noise(x, self._get_generator())
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out


def _spec_field(name: str) -> property:
    """A field of the transform's :class:`~denoise_adv.noise.NoiseSpec`, read and set through
    it (a new value is checked by the spec)."""

    def get(self: _SpecTransform) -> Any:
        return getattr(self.spec, name)

    def set(self: _SpecTransform, value: Any) -> None:
        self.spec = self.spec.replace(**{name: value})

    return property(get, set, doc=f"The spec's ``{name}`` (setting it checks the new value).")


class _SpecTransform(_NoiseTransform):
    """A transform drawing by its :class:`~denoise_adv.noise.NoiseSpec` (``self.spec``)."""

    spec: NoiseSpec
    sigma = _spec_field("sigma")
    #: The spec's fields this transform's ``repr`` shows (torchvision's shows plain values).
    _shown: tuple[str, ...] = ("sigma",)

    def noise(self, shape, generator=None, device=None, dtype=None):
        return self.spec.sample(shape, generator, device, dtype)

    def extra_repr(self) -> str:
        fields = [f"{name}={getattr(self.spec, name)}" for name in self._shown
                  if not isinstance(getattr(self.spec, name), torch.Tensor)]
        return ", ".join([super().extra_repr(), *fields])


class GaussianNoise(_SpecTransform):
    """Add i.i.d. Gaussian noise :math:`N(\\mu, \\sigma^2)`, not clipped by default.

    Args:
        sigma: a level in [0, 1] units, a (B,) tensor of per-sample levels (deepinv's form), or
            a range ``(low, high)``: each sample then gets a level drawn uniformly from it
            (blind training, DnCNN-B: ``(0, 55/255)``). (Default: 25/255,
            :data:`~denoise_adv.noise.DEFAULT_SIGMA`)
        clip: clip the result to [0, 1]. (Default: False, unlike torchvision's GaussianNoise)
        seed: seed of the transform's own generator; ``None`` for the global RNG.
        mean: mean of the noise, as torchvision's ``v2.GaussianNoise``. (Default: 0)

    Example:
        >>> t = GaussianNoise(sigma=25 / 255, seed=0)
        >>> t(torch.zeros(1, 8, 8)).std().item() > 0.05
        True
    """

    def __init__(self, sigma: Sigma = DEFAULT_SIGMA, clip: bool = False,
                 seed: int | None = None, mean: float = 0.0) -> None:
        super().__init__(clip=clip, seed=seed, mean=mean)
        self.spec = NoiseSpec.gaussian(sigma)


class TSNoise(_SpecTransform):
    """Add TS noise (Out-of-Distribution Typical Set Sampling, paper section 3.5) or Gaussian.

    Each sample (each image of a batch) independently gets TS noise with probability ``p`` and
    plain Gaussian noise otherwise; noise is **always** added. So ``p`` is the TS fraction of the
    training noise, not torchvision's "probability to apply". TS noise of a sample is the least
    likely of ``iterations + 1`` Gaussian draws (Algorithm 3.1, reconstructed; see
    :mod:`denoise_adv.noise`). The parameters are a :class:`~denoise_adv.noise.NoiseSpec`
    (``t.spec``; ``t.sigma``, ``t.iterations``, ``t.p`` and ``t.method`` read and set it).

    Why ``iterations=10`` by default: the paper's T is not in our copy. On 40x40 training patches
    (d = 1600) T = 10 raises the mean AEP deviation to 0.028 (effective sigma 25.7 for 25),
    between the paper's mixed-noise strategies (25.5: 0.020; 26: 0.041), at the cost of
    sampling once. To cover a given attack budget instead, use :meth:`for_attack` (an L-inf
    budget of 2/255 needs T ~ 4.4e3, which the exact sampler draws as cheaply as T = 1).

    Args:
        sigma: Gaussian noise level in [0, 1] units, a (B,) tensor of per-sample levels, or a
            ``(low, high)`` range: a uniform level per sample (blind TS, Table 3's DnCNN-B).
            (Default: 25/255)
        iterations: T, >= 0 (may be fractional with ``method="exact"``). (Default: 10)
        p: probability, per sample, of TS noise rather than Gaussian, in [0, 1]. (Default: 1.0)
        method: ``"exact"`` (cost independent of T) or ``"screening"`` (the literal loop).
            (Default: "exact")
        clip: clip the result to [0, 1]. (Default: False)
        seed: seed of the transform's own generator; ``None`` for the global RNG.
        mean: mean added to the noise, as torchvision's ``v2.GaussianNoise``. (Default: 0)

    Example:
        >>> from torchvision.transforms import v2
        >>> pipeline = v2.Compose([v2.RandomCrop(40), TSNoise.ts_def(25 / 255, seed=0)])
        >>> pipeline(torch.rand(1, 64, 64)).shape
        torch.Size([1, 40, 40])
    """

    iterations = _spec_field("iterations")
    p = _spec_field("p")
    method = _spec_field("method")
    _shown = ("sigma", "iterations", "p", "method")

    def __init__(self, sigma: Sigma = DEFAULT_SIGMA, iterations: float = DEFAULT_TS_ITERATIONS,
                 p: float = 1.0, method: str = "exact", clip: bool = False,
                 seed: int | None = None, mean: float = 0.0) -> None:
        super().__init__(clip=clip, seed=seed, mean=mean)
        self.spec = NoiseSpec(sigma, iterations, p, method)

    @classmethod
    def from_spec(cls, spec: NoiseSpec, **kwargs: Any) -> TSNoise:
        """The transform of a :class:`~denoise_adv.noise.NoiseSpec`; ``kwargs`` are the
        transform's own (``clip``, ``seed``, ``mean``)."""
        if not isinstance(spec, NoiseSpec):
            raise TypeError(f"spec must be a NoiseSpec, got {type(spec).__name__}")
        return cls(spec.sigma, spec.iterations, spec.p, spec.method, **kwargs)

    @classmethod
    def ts_pres(cls, sigma: Sigma = DEFAULT_SIGMA, **kwargs: Any) -> TSNoise:
        """TS-Pres. (paper section 4.2): Gaussian:TS = 2:1, i.e. ``p = 1/3``
        (:meth:`NoiseSpec.ts_pres <denoise_adv.noise.NoiseSpec.ts_pres>`)."""
        return cls._preset("ts-pres", sigma, kwargs)

    @classmethod
    def ts_def(cls, sigma: Sigma = DEFAULT_SIGMA, **kwargs: Any) -> TSNoise:
        """TS-Def. (paper section 4.2): Gaussian:TS = 1:1, i.e. ``p = 1/2``
        (:meth:`NoiseSpec.ts_def <denoise_adv.noise.NoiseSpec.ts_def>`)."""
        return cls._preset("ts-def", sigma, kwargs)

    @classmethod
    def _preset(cls, name: str, sigma: Sigma, kwargs: dict[str, Any]) -> TSNoise:
        fields = {k: kwargs.pop(k) for k in ("iterations", "method") if k in kwargs}
        return cls.from_spec(NoiseSpec.preset(name, sigma, **fields), **kwargs)

    @classmethod
    def for_attack(cls, sigma: float, eta: float, norm: str, d: int, **kwargs: Any) -> TSNoise:
        """TS whose mean AEP shift equals the worst-case shift of an attack budget.

        Args:
            sigma: noise level.
            eta: attack budget, absolute (per value for ``"linf"``; L2 radius for ``"l2"``).
            norm: ``"linf"`` or ``"l2"``.
            d: values per training sample (C*H*W of a patch).
            **kwargs: other :class:`TSNoise` arguments (``p``, ``seed``...).
        """
        from .typical import attack_shift, ts_iterations_for

        iterations = ts_iterations_for(d, attack_shift(sigma, eta, norm, d))
        return cls(sigma, iterations=iterations, **kwargs)


class MixedNoise(_NoiseTransform):
    """Gaussian noise with a level drawn per sample from ``sigmas`` (mixed-noise strategy,
    paper section 4.3: 25 mixed with 25.5 or 26, 1:1 by default — our reconstruction).

    Args:
        sigmas: candidate levels in [0, 1] units. (Default: (25/255, 26/255),
            :data:`~denoise_adv.noise.DEFAULT_MIXED_SIGMAS`)
        weights: their probabilities, or ``None`` for equal weights.
        clip: clip the result to [0, 1]. (Default: False)
        seed: seed of the transform's own generator; ``None`` for the global RNG.
        mean: mean added to the noise. (Default: 0)

    Example:
        >>> MixedNoise((25 / 255, 25.5 / 255), seed=0)(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 1, 8, 8])
    """

    def __init__(self, sigmas: tuple[float, ...] = DEFAULT_MIXED_SIGMAS,
                 weights: tuple[float, ...] | None = None, clip: bool = False,
                 seed: int | None = None, mean: float = 0.0) -> None:
        super().__init__(clip=clip, seed=seed, mean=mean)
        levels, probs = mixing_levels(sigmas, weights)  # checked once, here
        self.sigmas = tuple(levels.tolist())
        self.weights = None if weights is None else tuple(probs.tolist())

    def noise(self, shape, generator=None, device=None, dtype=None):
        return mixed_noise(shape, self.sigmas, self.weights, generator, device, dtype)
