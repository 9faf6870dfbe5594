"""One adapter that turns any denoiser into the package's contract ``model(noisy) -> clean``."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_module, check_real

__all__ = ["DenoiserAdapter", "as_denoiser", "fixed_level_denoiser"]


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
            if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
                raise ValueError("sigma must be finite and >= 0")
            self.register_buffer("sigma", sigma.detach().clone(), persistent=False)
        else:
            self.sigma = None if sigma is None else check_real(sigma, "sigma", minimum=0.0)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        out = self.model(noisy) if self.sigma is None else self.model(noisy, self.sigma)
        return noisy - out if self.residual else out

    def extra_repr(self) -> str:
        sigma = self.sigma if not isinstance(self.sigma, torch.Tensor) else "tensor"
        return f"sigma={sigma}, residual={self.residual}"


def as_denoiser(
    model: nn.Module, sigma: float | torch.Tensor | None = None, residual: bool = False
) -> nn.Module:
    """Adapt ``model`` to the denoiser contract ``f(noisy) -> clean estimate``.

    Covers the three common forms, so attacks never special-case a model:

    - plain denoisers ``model(noisy) -> clean`` (returned unchanged when ``sigma`` is ``None`` and
      ``residual`` is ``False``);
    - noise-level-conditioned ones ``model(noisy, sigma)`` (FFDNet, DRUNet, deepinv's
      ``Denoiser``): ``sigma`` is fixed by the wrapper and passed as given (a float, or a tensor
      shaped as the model expects, e.g. ``(B, 1, 1, 1)``), in [0, 1] units;
    - residual predictors ``model(noisy) -> noise``: the wrapper returns ``noisy - model(...)``.

    Args:
        model: the network.
        sigma: noise level passed as second argument, or ``None``. (Default: None)
        residual: the model predicts the noise instead of the image. (Default: False)

    Returns:
        An :class:`torch.nn.Module` mapping noisy -> clean.

    Example:
        >>> class NoisePredictor(torch.nn.Module):
        ...     def forward(self, y, sigma):
        ...         return torch.full_like(y, sigma)
        >>> f = as_denoiser(NoisePredictor(), sigma=0.1, residual=True)
        >>> f(torch.ones(1, 1, 2, 2))
        tensor([[[[0.9000, 0.9000],
                  [0.9000, 0.9000]]]])
    """
    check_module(model, "model")
    if sigma is None and not residual:
        return model
    return DenoiserAdapter(model, sigma=sigma, residual=residual)


def fixed_level_denoiser(model: nn.Module, sigma: float) -> nn.Module:
    """``model`` as a plain denoiser at noise level ``sigma``: models of this package that take
    a noise level (``takes_sigma = True``: FFDNet, DRUNet) are wrapped by :func:`as_denoiser`,
    the others are returned unchanged.

    Example:
        >>> from denoise_adv.models import DnCNN, FFDNet
        >>> isinstance(fixed_level_denoiser(FFDNet(depth=2, features=4), 0.1), DenoiserAdapter)
        True
        >>> m = DnCNN(depth=2, features=4)
        >>> fixed_level_denoiser(m, 0.1) is m
        True
    """
    return as_denoiser(model, sigma=sigma) if getattr(model, "takes_sigma", False) else model
