"""ART preprocessor: TS noise as a data augmentation, in the manner of ART's
``GaussianAugmentation`` (:class:`TSAugmentation`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.defences.preprocessor.preprocessor import Preprocessor

from ..._checks import check_int, check_real
from ...noise import DEFAULT_SIGMA, DEFAULT_TS_ITERATIONS, NoiseSpec
from .estimator import _numpy

__all__ = ["TSAugmentation"]


class TSAugmentation(Preprocessor):
    """TS noise as an ART preprocessor, in the manner of ART's ``GaussianAugmentation``.

    With ``augmentation=True`` (training), ``ratio * N`` noisy copies of randomly chosen samples
    are appended to ``x`` and the matching ``y`` are duplicated, so ``y`` stays aligned. With
    ``augmentation=False`` every sample of ``x`` is replaced by ``x + noise``. For denoiser
    training pass clean ``x`` and ``y = clean``: the copies become (noisy, clean) pairs.

    Each noisy copy gets TS noise with probability ``p`` (else Gaussian), per sample, drawn over
    all values of the sample (layout-independent) by the :class:`~denoise_adv.noise.NoiseSpec`
    of the current parameters (:attr:`spec`), derived at each call.

    Parameters follow ART's convention: ``__init__`` sets them and calls :meth:`_check_params`,
    the one validator; ``set_params(sigma=0.5)`` sets and checks them the same way, and is then
    what the next call draws with (a refused value leaves the parameters as they were).

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
        >>> aug.set_params(sigma=0.5, p=0.0)
        >>> round(float(aug(np.zeros((64, 1, 16, 16), dtype=np.float32))[0][64:].std()), 1)
        0.5
    """

    params = ["sigma", "iterations", "ratio", "method", "p", "augmentation", "clip_values",
              "_apply_fit", "_apply_predict"]

    def __init__(self, sigma: float = DEFAULT_SIGMA, iterations: float = DEFAULT_TS_ITERATIONS,
                 ratio: float = 1.0, method: str = "exact", p: float = 1.0,
                 augmentation: bool = True, clip_values: tuple[float, float] | None = None,
                 apply_fit: bool = True, apply_predict: bool = False,
                 seed: int | None = None) -> None:
        super().__init__(is_fitted=True, apply_fit=apply_fit, apply_predict=apply_predict)
        self.sigma, self.iterations, self.p, self.method = sigma, iterations, p, method
        self.ratio = ratio
        self.augmentation = augmentation
        self.clip_values = clip_values
        self._check_params()
        self.seed = None if seed is None else check_int(seed, "seed")
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    @property
    def spec(self) -> NoiseSpec:
        """The :class:`~denoise_adv.noise.NoiseSpec` of the current parameters (checked)."""
        return NoiseSpec(self.sigma, self.iterations, self.p, self.method)

    def _check_params(self) -> None:
        """The one validator, behind ``__init__`` and ``set_params`` (ART's convention): the
        noise by :class:`~denoise_adv.noise.NoiseSpec`'s check, then the augmentation."""
        self.spec  # noqa: B018 - building the spec checks sigma, iterations, p and method
        if not isinstance(self.augmentation, (bool, np.bool_)):
            raise TypeError(f"augmentation must be a bool, got {type(self.augmentation).__name__}")
        if self.augmentation and not self.apply_fit and self.apply_predict:
            raise ValueError("If `augmentation` is `True`, then `apply_fit` must be `True` and "
                             "`apply_predict` must be `False`.")
        if self.augmentation and not (self.apply_fit or self.apply_predict):
            raise ValueError("If `augmentation` is `True`, then `apply_fit` and `apply_predict` "
                             "can't be both `False`.")
        check_real(self.ratio, "ratio", minimum=0.0, strict=self.augmentation)
        clip = self.clip_values
        if clip is not None and (len(clip) != 2 or clip[0] >= clip[1]):
            raise ValueError(f"clip_values must be (min, max) with min < max, got {clip!r}")

    def set_params(self, **kwargs: Any) -> None:
        """Set parameters of :attr:`params` and check them all (:meth:`_check_params`); if the
        check refuses them, the previous parameters are kept and the error is raised."""
        previous = {key: getattr(self, key) for key in self.params}
        try:
            super().set_params(**kwargs)
        except (TypeError, ValueError):
            for key, value in previous.items():
                setattr(self, key, value)
            raise

    def _noisy(self, x: np.ndarray) -> np.ndarray:
        clean = torch.from_numpy(x.astype(np.float32))
        out = (clean + self.spec.sample(tuple(clean.shape), self._generator, clean.device,
                                        clean.dtype)).numpy()
        if self.clip_values is not None:
            out = np.clip(out, self.clip_values[0], self.clip_values[1])
        return out

    def __call__(self, x: np.ndarray, y: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        x = _numpy(x)
        if x.ndim != 4:
            raise ValueError(f"x must be a batch of images (N, C, H, W) or (N, H, W, C), got "
                             f"shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x must be a floating-point array in the units of sigma, got dtype "
                            f"{x.dtype}: convert 8-bit images with x.astype(np.float32) / 255 "
                            "(and sigma to the same units)")
        if y is not None and len(y) != len(x):
            raise ValueError(f"y must have one entry per sample of x: got {len(y)} and {len(x)}")
        if not self.augmentation:
            return self._noisy(x), y
        size = int(x.shape[0] * self.ratio)
        index = torch.randint(0, x.shape[0], (size,), generator=self._generator).numpy()
        x_aug = np.concatenate([x.astype(np.float32), self._noisy(x[index])])
        y_aug = None if y is None else np.concatenate([y, np.asarray(y)[index]])
        return x_aug, y_aug
