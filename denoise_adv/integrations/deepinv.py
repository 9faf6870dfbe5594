"""deepinv integration (deepinv 0.5): the package's noise and denoisers in deepinv's own types.

Three bridges, each a deepinv extension point:

- **Noise models.** :class:`TSNoiseModel` (TS noise, paper section 3.5, with the TS-or-Gaussian
  mixing of TS-Pres./TS-Def.) and :class:`MixedNoiseModel` (mixed-level Gaussian, section 4.3)
  subclass ``deepinv.physics.NoiseModel``. They draw with the package's samplers
  (:func:`denoise_adv.noise.ts_noise`, :func:`~denoise_adv.noise.gaussian_noise`,
  :func:`~denoise_adv.noise.mixed_noise`), so ``deepinv.physics.Denoising(noise_model=...)``,
  ``physics(x, seed=1)`` and ``deepinv.Trainer(..., online_measurements=True)`` train with TS.
- **Denoisers.** :func:`as_deepinv_denoiser` makes any of our models a
  ``deepinv.models.Denoiser`` (``denoiser(x, sigma)``), e.g. the prior of
  ``deepinv.optim.prior.PnP`` in ``deepinv.optim.optim_builder("HQS", ...)``.
- **Physics as a noise level.** :func:`denoiser_from_physics` turns a deepinv denoiser (or ours)
  plus a physics into the package's denoiser contract ``f(noisy) -> clean``, reading the level
  from ``physics.noise_model.sigma`` at each call, so the package's attacks run on deepinv models.
  With a fixed level, :func:`denoise_adv.models.as_denoiser` (``as_denoiser(drunet, sigma=...)``)
  does the same.

Randomness follows deepinv (an optional ``rng`` generator; ``seed=`` in ``forward`` reseeds it)
with two differences, both so that a seed always means the same noise: ``seed=`` works without an
``rng`` (the model then makes its own CPU generator, where deepinv's models ignore the seed with a
warning), and ``.to(device)`` keeps the generator (draws are made on the generator's device and
moved; deepinv's models re-create the generator, which fails between CPU and CUDA).

Example:
    >>> import deepinv as dinv
    >>> physics = dinv.physics.Denoising(noise_model=TSNoiseModel(25 / 255))
    >>> x = torch.rand(2, 1, 16, 16)
    >>> torch.equal(physics(x, seed=1), physics(x, seed=1))
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import MissingExtra, check_int, check_module, check_real, check_sigma

try:
    from deepinv.models import Denoiser
    from deepinv.physics import NoiseModel
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra(
        "denoise_adv.integrations.deepinv needs deepinv 0.5: pip install \"denoise-adv[deepinv]\""
    ) from error

from ..models import as_denoiser
from ..models.adapters import PriorAdapter
from ..models.contract import fixed_level, level_for, warn_fixed_level, warn_ignored_level
from ..noise import (
    DEFAULT_MIXED_SIGMAS,
    DEFAULT_SIGMA,
    DEFAULT_TS_ITERATIONS,
    NoiseSpec,
    check_ts,
    mixed_noise,
    mixing_levels,
)

__all__ = [
    "DeepinvDenoiser",
    "MixedNoiseModel",
    "PhysicsDenoiser",
    "TSNoiseModel",
    "as_deepinv_denoiser",
    "denoiser_from_physics",
]

def _sigma_tensor(sigma: float | torch.Tensor) -> torch.Tensor:
    """A checked noise level as deepinv stores it: a float32 0-d tensor, or the given tensor
    (floating point); a ``(low, high)`` range is refused (deepinv holds one level a sample)."""
    sigma = check_sigma(sigma, ranges=False)
    if isinstance(sigma, torch.Tensor):
        return (sigma if sigma.is_floating_point() else sigma.float()).detach()
    return torch.tensor(sigma, dtype=torch.float32)


def _level(sigma: torch.Tensor) -> float | torch.Tensor:
    """The level buffer as the samplers take it: one level as a float (so a float and its
    buffer draw the same bits), per-sample levels as they are (their shape rule is
    :func:`denoise_adv.noise.level_column`)."""
    return float(sigma) if sigma.numel() == 1 else sigma


def _check_input(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() < 2 or x.numel() == 0:
        raise ValueError(f"x must be a batch (B, ...) with one sample per row, got shape "
                         f"{tuple(x.shape)}")
    return x


class _SamplerNoiseModel(NoiseModel):
    """A deepinv noise model drawing with the package's samplers (shared behaviour)."""

    def __init__(self, rng: torch.Generator | None) -> None:
        if rng is not None and not isinstance(rng, torch.Generator):
            raise TypeError(f"rng must be a torch.Generator or None, got {type(rng).__name__}")
        super().__init__(rng=rng)
        self.noise_model = self._add_noise  # what deepinv's composition calls

    def _draw(self, shape: tuple[int, ...], device, dtype) -> torch.Tensor:
        raise NotImplementedError

    def _add_noise(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_input(x)
        return x + self._draw(tuple(x.shape), x.device, x.dtype)

    def forward(self, x: torch.Tensor, seed: int | None = None, **kwargs: Any) -> torch.Tensor:
        """``x`` plus one noise draw per sample; ``seed`` reseeds the generator first."""
        self.update_parameters(**kwargs)
        self.rng_manual_seed(seed)
        return self._add_noise(x)

    def rng_manual_seed(self, seed: int | None = None) -> None:
        """Reseed the generator; without one, make a CPU generator with this seed (deepinv's own
        models ignore ``seed`` then)."""
        if seed is None:
            return
        seed = check_int(seed, "seed")
        if self.rng is None:
            self.rng = torch.Generator()
        self.rng.manual_seed(seed)
        if "initial_random_state" not in self._buffers:
            self.register_buffer("initial_random_state", self.rng.get_state())

    def to(self, *args: Any, **kwargs: Any) -> _SamplerNoiseModel:
        """Move the buffers; the generator stays (draws are made where it lives, then moved)."""
        nn.Module.to(self, *args, **kwargs)
        return self

    def __mul__(self, other: Any) -> NoiseModel:
        """``self * other``: a :class:`NoiseModel` composes (``self(other(x))``, both noises
        added); a number or a per-sample tensor scales the noise level."""
        if isinstance(other, NoiseModel):
            return NoiseModel(noise_model=lambda x: self(other(x)), rng=self.rng)
        return self._scaled(other)

    def __rmul__(self, other: Any) -> NoiseModel:
        if isinstance(other, NoiseModel):
            return NotImplemented
        return self._scaled(other)

    def _scaled(self, factor: Any) -> NoiseModel:
        raise NotImplementedError


class TSNoiseModel(_SamplerNoiseModel):
    r"""TS noise (paper section 3.5) as a deepinv noise model: :math:`y = x + n`, where per
    sample :math:`n` is the least likely of ``iterations + 1`` draws of
    :math:`N(0, \sigma^2 I)` with probability ``p``, and one Gaussian draw otherwise.

    ``p`` is the probability that a sample's noise is TS rather than Gaussian (noise is always
    added): TS-Def. is ``p = 1/2`` (:meth:`ts_def`), TS-Pres. ``p = 1/3`` (:meth:`ts_pres`).
    ``p = 1`` draws exactly :func:`denoise_adv.noise.ts_noise`, ``p = 0`` exactly
    :func:`denoise_adv.noise.gaussian_noise`, from ``rng``. Algorithm 3.1 is reconstructed from
    the paper's description (see :mod:`denoise_adv.noise`). Noisy images are not clipped.

    Args:
        sigma: level of the Gaussian draws, in [0, 1] units: a float or a per-sample tensor
            (B,) (deepinv's (B, 1, 1, 1) too). Stored as the buffer ``sigma``, updated by
            ``forward(x, sigma=...)`` and ``physics.update(sigma=...)``, as deepinv's
            ``GaussianNoise``.
        iterations: T of Algorithm 3.1, >= 0. (Default: 10,
            :data:`~denoise_adv.noise.DEFAULT_TS_ITERATIONS`)
        p: probability, per sample, of TS rather than Gaussian noise. (Default: 1.0)
        method: ``"exact"`` (cost independent of T) or ``"screening"`` (the literal loop).
        rng: generator of the draws; ``None`` for the global RNG (until ``seed=`` is given).

    ``2.0 * model`` scales the level (TS noise scales linearly with sigma); ``model * other``
    composes with another noise model. There is no ``+``: a sum of TS noises is not TS noise.

    Example:
        >>> import deepinv as dinv
        >>> physics = dinv.physics.Denoising(noise_model=TSNoiseModel.ts_def(
        ...     25 / 255, rng=torch.Generator().manual_seed(0)))
        >>> y = physics(torch.zeros(4, 1, 40, 40))
        >>> physics.noise_model.sigma.item() == torch.tensor(25 / 255).item()
        True
    """

    def __init__(self, sigma: float | torch.Tensor = DEFAULT_SIGMA,
                 iterations: float = DEFAULT_TS_ITERATIONS, p: float = 1.0,
                 method: str = "exact", rng: torch.Generator | None = None) -> None:
        super().__init__(rng)
        self.iterations, self.p, self.method = check_ts(iterations, p, method)
        self.register_buffer("sigma", _sigma_tensor(sigma))

    @classmethod
    def from_spec(cls, spec: NoiseSpec, rng: torch.Generator | None = None) -> TSNoiseModel:
        """The noise model of a :class:`~denoise_adv.noise.NoiseSpec` (one level or per-sample
        levels: deepinv holds no ``(low, high)`` range)."""
        if not isinstance(spec, NoiseSpec):
            raise TypeError(f"spec must be a NoiseSpec, got {type(spec).__name__}")
        return cls(spec.sigma, spec.iterations, spec.p, spec.method, rng=rng)

    @classmethod
    def ts_def(cls, sigma: float | torch.Tensor = DEFAULT_SIGMA, **kwargs: Any) -> TSNoiseModel:
        """TS-Def. (paper section 4.2): Gaussian:TS = 1:1, i.e. ``p = 1/2``
        (:meth:`NoiseSpec.ts_def <denoise_adv.noise.NoiseSpec.ts_def>`)."""
        return cls._preset("ts-def", sigma, kwargs)

    @classmethod
    def ts_pres(cls, sigma: float | torch.Tensor = DEFAULT_SIGMA, **kwargs: Any) -> TSNoiseModel:
        """TS-Pres. (paper section 4.2): Gaussian:TS = 2:1, i.e. ``p = 1/3``
        (:meth:`NoiseSpec.ts_pres <denoise_adv.noise.NoiseSpec.ts_pres>`)."""
        return cls._preset("ts-pres", sigma, kwargs)

    @classmethod
    def _preset(cls, name: str, sigma: float | torch.Tensor, kwargs: dict[str, Any]
                ) -> TSNoiseModel:
        fields = {k: kwargs.pop(k) for k in ("iterations", "method") if k in kwargs}
        return cls.from_spec(NoiseSpec.preset(name, sigma, **fields), **kwargs)

    @property
    def spec(self) -> NoiseSpec:
        """The :class:`~denoise_adv.noise.NoiseSpec` of the current parameters (derived at each
        draw, so ``update_parameters`` is always followed)."""
        return NoiseSpec(_level(self.sigma), self.iterations, self.p, self.method)

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None,
                seed: int | None = None, **kwargs: Any) -> torch.Tensor:
        """Add noise to ``x`` (B, ...); ``sigma`` (if given) replaces the level first."""
        return super().forward(x, seed=seed, sigma=sigma, **kwargs)

    def update_parameters(self, sigma: float | torch.Tensor | None = None,
                          iterations: float | None = None, p: float | None = None,
                          **kwargs: Any) -> None:
        """Replace ``sigma``, ``iterations`` or ``p``; other physics parameters are ignored."""
        if sigma is not None:
            self.sigma = _sigma_tensor(sigma)
        if iterations is not None or p is not None:
            self.iterations, self.p, _ = check_ts(
                self.iterations if iterations is None else iterations,
                self.p if p is None else p, self.method)

    def _draw(self, shape, device, dtype):
        return self.spec.sample(shape, self.rng, device, dtype)

    def _scaled(self, factor: Any) -> TSNoiseModel:
        if isinstance(factor, torch.Tensor) and factor.dim() > 0:
            factor = factor.reshape(factor.shape[0])
            sigma = self.sigma.reshape(-1).to(factor.device) * factor
        elif isinstance(factor, (torch.Tensor, float, int)) and not isinstance(factor, bool):
            sigma = self.sigma * factor
        else:
            raise TypeError(f"a TSNoiseModel scales by a number or a per-sample tensor, got "
                            f"{type(factor).__name__}")
        return TSNoiseModel(sigma, self.iterations, self.p, self.method, rng=self.rng)

    def extra_repr(self) -> str:
        sigma = self.sigma.item() if self.sigma.numel() == 1 else "per-sample"
        return f"sigma={sigma}, iterations={self.iterations}, p={self.p}, method={self.method!r}"


class MixedNoiseModel(_SamplerNoiseModel):
    """Mixed-level Gaussian noise (paper section 4.3) as a deepinv noise model: each sample gets
    Gaussian noise of a level drawn from ``sigmas`` with probabilities ``weights``.

    ``sigma`` (read-only) is the root-mean-square level :math:`\\sqrt{\\sum_i w_i \\sigma_i^2}`,
    the standard deviation of a pixel's noise over the mixture: what a deepinv reconstructor
    reads from ``physics.noise_model.sigma``. Update ``sigmas``/``weights``, not ``sigma``.

    Args:
        sigmas: candidate levels in [0, 1] units. (Default: 25/255 and 26/255, "mixed-26")
        weights: their probabilities (normalised); ``None`` for equal weights (the 1:1 ratio is
            our reconstruction).
        rng: generator of the draws; ``None`` for the global RNG (until ``seed=`` is given).

    Example:
        >>> import deepinv as dinv
        >>> physics = dinv.physics.Denoising(noise_model=MixedNoiseModel((0.1, 0.2)))
        >>> round(physics.noise_model.sigma.item(), 4)  # sqrt((0.01 + 0.04) / 2)
        0.1581
    """

    def __init__(self, sigmas: tuple[float, ...] = DEFAULT_MIXED_SIGMAS,
                 weights: tuple[float, ...] | None = None,
                 rng: torch.Generator | None = None) -> None:
        super().__init__(rng)
        self._set_levels(sigmas, weights)

    def _set_levels(self, sigmas, weights) -> None:
        levels, probs = mixing_levels(sigmas, weights)
        self.register_buffer("sigmas", levels)
        self.register_buffer("weights", probs)

    @property
    def sigma(self) -> torch.Tensor:
        """Root-mean-square noise level of the mixture (a 0-d float32 tensor)."""
        return (self.weights * self.sigmas.pow(2)).sum().sqrt().float()

    def update_parameters(self, sigmas: tuple[float, ...] | None = None,
                          weights: tuple[float, ...] | None = None, **kwargs: Any) -> None:
        """Replace ``sigmas`` and/or ``weights``; other physics parameters are ignored."""
        if kwargs.get("sigma") is not None:
            raise ValueError("MixedNoiseModel draws its level from sigmas: update sigmas (and "
                             "weights), not sigma")
        if sigmas is not None or weights is not None:
            if sigmas is None:
                sigmas = self.sigmas.tolist()
            if weights is None and len(sigmas) == self.weights.numel():
                weights = self.weights.tolist()
            self._set_levels(sigmas, weights)

    def _draw(self, shape, device, dtype):
        return mixed_noise(shape, self.sigmas.tolist(), self.weights.tolist(), self.rng, device,
                           dtype)

    def _scaled(self, factor: Any) -> MixedNoiseModel:
        factor = check_real(factor, "factor", minimum=0.0)
        return MixedNoiseModel((self.sigmas * factor).tolist(), self.weights.tolist(),
                               rng=self.rng)

    def extra_repr(self) -> str:
        return f"sigmas={self.sigmas.tolist()}, weights={self.weights.tolist()}"


class DeepinvDenoiser(Denoiser):
    """One of our denoisers as a ``deepinv.models.Denoiser``: ``denoiser(x, sigma)``.

    Built by :func:`as_deepinv_denoiser` around :func:`denoise_adv.models.as_prior`, on the
    denoiser contract (:mod:`denoise_adv.models.contract`), so no level is dropped silently:

    - ``takes_sigma`` models (FFDNet, DRUNet, :class:`~denoise_adv.models.PnPDenoiser`, whose
      level is DPIR's sigma) receive ``sigma``; called without one, ``denoiser(x)``, they
      denoise at their own default level (FFDNet from ``pretrained``: 25/255), as when called
      directly (:func:`~denoise_adv.models.contract.level_for`);
    - fixed-level models ignore ``sigma`` (they denoise at the level they were trained for) and
      warn once when given another level (DPIR anneals sigma: such a model cannot follow);
    - a foreign model that declares no ``takes_sigma`` is called ``model(x)`` and warns once
      that a level it was given is not passed on
      (:func:`~denoise_adv.models.contract.warn_ignored_level`).

    The wrapped model is ``denoiser.prior.model``.
    """

    WHERE = "the deepinv adapter (as_deepinv_denoiser)"

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.prior = PriorAdapter(check_module(model, "model"), where=self.WHERE)
        self._warned = False  # the foreign-model warning (PriorAdapter keeps the fixed-level one)

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None,
                *args: Any, **kwargs: Any) -> torch.Tensor:
        model = self.prior.model
        sigma = level_for(model, sigma)
        if not self._warned and not fixed_level(model):
            self._warned = warn_ignored_level(model, sigma, self.WHERE)
        return self.prior(x, sigma, *args, **kwargs)


def as_deepinv_denoiser(model: nn.Module) -> Denoiser:
    """Our denoiser as a ``deepinv.models.Denoiser`` (deepinv's ``isinstance`` checks pass): the
    prior of ``deepinv.optim.prior.PnP``, the backbone of ``deepinv.models.ArtifactRemoval``.

    A deepinv ``Denoiser`` is returned unchanged. Every level the result is given is used or
    refused aloud (:class:`DeepinvDenoiser`): a model that takes a level gets it (without one,
    its own default), a fixed-level model (``takes_sigma = False``, e.g. the shipped zoo's
    DnCNNs) ignores it and warns once when given another level than its own.

    Example:
        >>> import deepinv as dinv
        >>> from denoise_adv.models import DnCNN, FFDNet
        >>> prior = dinv.optim.prior.PnP(denoiser=as_deepinv_denoiser(DnCNN(depth=3, features=4)))
        >>> prior.prox(torch.rand(1, 1, 8, 8), sigma_denoiser=0.1).shape
        torch.Size([1, 1, 8, 8])
        >>> ffdnet = FFDNet(depth=3, features=4)
        >>> ffdnet.sigma = 25 / 255  # its default level, as pretrained() sets it
        >>> y = torch.rand(1, 1, 8, 8)
        >>> torch.equal(as_deepinv_denoiser(ffdnet)(y), ffdnet(y))
        True
    """
    check_module(model, "model")
    return model if isinstance(model, Denoiser) else DeepinvDenoiser(model)


class PhysicsDenoiser(nn.Module):
    """``f(noisy) -> clean`` around ``model(noisy, sigma)``, with ``sigma`` read from a deepinv
    physics at each call; built by :func:`denoiser_from_physics`."""

    def __init__(self, model: nn.Module, physics: nn.Module) -> None:
        super().__init__()
        self.model = check_module(model, "model")
        noise_model = getattr(physics, "noise_model", physics)
        if not hasattr(noise_model, "sigma"):
            raise TypeError(f"physics must be a deepinv physics (or noise model) with a noise "
                            f"level .sigma, got {type(noise_model).__name__} without one")
        self.physics = physics
        self._warned = False

    @property
    def sigma(self) -> float | torch.Tensor:
        """The physics' current noise level (a float, or a per-sample tensor)."""
        sigma = getattr(self.physics, "noise_model", self.physics).sigma
        if isinstance(sigma, torch.Tensor) and sigma.numel() == 1:
            return float(sigma)
        return sigma

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        sigma = self.sigma
        if not self._warned:  # a fixed-level model cannot follow the physics: say so once
            self._warned = warn_fixed_level(self.model, sigma, "denoiser_from_physics")
        return as_denoiser(self.model, sigma=sigma)(noisy)


def denoiser_from_physics(model: nn.Module, physics: nn.Module) -> nn.Module:
    """``model`` as the package's denoiser ``f(noisy) -> clean``, at the noise level of a deepinv
    ``physics`` (``physics.noise_model.sigma``, read at each call, so ``physics.update(sigma=...)``
    is followed). ``physics`` may also be the noise model itself.

    ``model`` is anything :func:`denoise_adv.models.as_denoiser` takes: a deepinv denoiser
    (``DRUNet``, ``DnCNN``, ``Denoiser``), a ``takes_sigma`` model of ours; fixed-level models of
    ours ignore the level, and warn once when it differs from their own. The result plugs into
    the package's attacks.

    Example:
        >>> import deepinv as dinv
        >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(25 / 255))
        >>> drunet = dinv.models.DRUNet(1, 1, nc=(4, 8, 16, 32), nb=1, pretrained=None)
        >>> f = denoiser_from_physics(drunet, physics)
        >>> f(torch.rand(1, 1, 16, 16)).shape
        torch.Size([1, 1, 16, 16])
    """
    return PhysicsDenoiser(model, physics)
