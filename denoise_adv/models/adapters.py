"""The two adapters of the denoiser contract (:mod:`denoise_adv.models.contract`).

The contract: a *denoiser* is an ``nn.Module`` with ``model(noisy) -> clean estimate``; a model
that takes a noise level declares ``takes_sigma = True`` (FFDNet, DRUNet), a fixed-level model
of ours ``takes_sigma = False``. Two adapters cross between the forms, so attacks, training and
analyses never special-case a model:

- :func:`as_denoiser`: anything (``model(y, sigma)``, a residual predictor, deepinv's
  ``Denoiser``) -> ``model(noisy)``;
- :func:`as_prior`: any of our models -> ``model(x, sigma)``, the signature of deepinv's
  denoisers and of plug-and-play priors (:class:`~denoise_adv.models.PnPDenoiser`); a
  fixed-level model given another level warns once.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_module, check_sigma
from .contract import (
    default_level,
    fixed_level,
    is_differentiable,
    level_for,
    takes_sigma,
    warn_fixed_level,
)

__all__ = ["DenoiserAdapter", "PriorAdapter", "as_denoiser", "as_prior", "is_differentiable",
           "takes_sigma"]


class DenoiserAdapter(nn.Module):
    """Wrap a model so that ``adapter(noisy)`` returns the clean estimate.

    Built by :func:`as_denoiser`; the wrapped model is the submodule ``model``, so parameters,
    device moves and train/eval modes pass through.
    """

    def __init__(
        self, model: nn.Module, sigma: float | torch.Tensor | None = None, residual: bool = False
    ) -> None:
        super().__init__()
        self.model = model
        self.residual = bool(residual)
        if isinstance(sigma, torch.Tensor):
            self.register_buffer("sigma", check_sigma(sigma).detach().clone(), persistent=False)
        else:
            self.sigma = None if sigma is None else check_sigma(sigma)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        out = self.model(noisy) if self.sigma is None else self.model(noisy, self.sigma)
        return noisy - out if self.residual else out

    def pixels_pass_to(self) -> nn.Module | None:
        """The model whose locality is this adapter's (see
        :func:`~denoise_adv.models.contract.receptive_field`): the wrapped one, unless the
        adapter holds one level per image (a crop of the batch would get the wrong ones)."""
        per_image = isinstance(self.sigma, torch.Tensor) and self.sigma.numel() > 1
        return None if per_image else self.model

    def extra_repr(self) -> str:
        sigma = self.sigma if not isinstance(self.sigma, torch.Tensor) else "tensor"
        return f"sigma={sigma}, residual={self.residual}"


def as_denoiser(
    model: nn.Module, sigma: float | torch.Tensor | None = None, residual: bool = False
) -> nn.Module:
    """Adapt ``model`` to the denoiser contract ``f(noisy) -> clean estimate``.

    - A model of this package: fixed-level models are returned unchanged (``sigma`` is then
      only the level they were trained for); ``takes_sigma`` models (FFDNet, DRUNet) are called
      with ``sigma``, which they need.
    - A foreign model: with ``sigma`` it is called ``model(noisy, sigma)`` (deepinv's
      ``DRUNet``/``DnCNN``/``Denoiser``, KAIR's FFDNet...), else ``model(noisy)``.
    - ``residual=True``: the model predicts the noise; the wrapper returns ``noisy - model(...)``.

    ``sigma`` is in [0, 1] units: a float, or a tensor shaped as the model expects (e.g.
    ``(B, 1, 1, 1)``).

    Example:
        >>> class NoisePredictor(torch.nn.Module):
        ...     def forward(self, y, sigma):
        ...         return torch.full_like(y, sigma)
        >>> f = as_denoiser(NoisePredictor(), sigma=0.1, residual=True)
        >>> f(torch.ones(1, 1, 2, 2))
        tensor([[[[0.9000, 0.9000],
                  [0.9000, 0.9000]]]])
        >>> from denoise_adv.models import DnCNN, FFDNet
        >>> m = DnCNN(depth=2, features=4)
        >>> as_denoiser(m, sigma=0.1) is m
        True
        >>> isinstance(as_denoiser(FFDNet(depth=2, features=4), 0.1), DenoiserAdapter)
        True
    """
    check_module(model, "model")
    if fixed_level(model):
        sigma = None  # one of ours, fixed-level: the level is a property of its weights
    if takes_sigma(model) and sigma is None:
        if default_level(model) is not None:
            return model  # a default level of its own (a published model of the zoo)
        raise ValueError(f"{type(model).__name__} takes a noise level: give sigma")
    if sigma is None and not residual:
        return model
    return DenoiserAdapter(model, sigma=sigma, residual=residual)


class PriorAdapter(nn.Module):
    """``adapter(x, sigma)`` around a denoiser; built by :func:`as_prior`. A fixed-level model
    given a level it cannot honour warns once (:func:`~denoise_adv.models.contract.
    warn_fixed_level`); the adapter remembers it has warned."""

    def __init__(self, model: nn.Module, where: str = "as_prior") -> None:
        super().__init__()
        self.model = model
        self.where = where  # named in the warning
        self._warned = False

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None,
                *args, **kwargs) -> torch.Tensor:
        if takes_sigma(self.model):  # the level given, else the model's own default
            return self.model(x, check_sigma(level_for(self.model, sigma)))
        if not self._warned:
            self._warned = warn_fixed_level(self.model, sigma, self.where)
        return self.model(x)

    def pixels_pass_to(self) -> nn.Module:
        """The wrapped model: its locality is this adapter's."""
        return self.model


def as_prior(model: nn.Module) -> nn.Module:
    """Our denoiser as a ``prior(x, sigma)``: the signature of deepinv's denoisers
    (``deepinv.optim.prior.PnP(denoiser=...)``) and of :class:`PnPDenoiser`'s prior.

    ``takes_sigma`` models receive ``sigma``; other models ignore it (fixed-level models denoise
    at the level they were trained for, and warn once when given another level). deepinv's
    extra arguments are accepted and ignored.

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> prior = as_prior(DnCNN(depth=2, features=4))
        >>> prior(torch.rand(1, 1, 8, 8), 0.1).shape
        torch.Size([1, 1, 8, 8])
    """
    check_module(model, "model")
    return PriorAdapter(model)
