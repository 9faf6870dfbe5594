"""Classical (non-learned) denoisers as baselines: BM3D and non-local means.

Both follow the denoiser contract ``model(noisy) -> clean`` on (B, C, H, W) float tensors, gray
(C = 1) or colour (C = 3), so every scoring path of the package (``evaluate``, ``transfer``,
:func:`denoise_adv.analysis.score`) takes them like a network. Each image is denoised by its
library on the CPU in float64 numpy; the result comes back on the input's device and dtype.

They are not differentiable (class attribute ``differentiable = False``): white-box attacks
refuse them with a :class:`ValueError`. Attack them by transfer: score them on adversarial sets
crafted on another model (``denoise-adv transfer`` / ``denoise-adv evaluate --adv-set``).

The noise level is a constructor argument (``takes_sigma = False``), in [0, 1] units like every
level of the Python API; both libraries receive it unchanged since the images are in [0, 1].
BM3D needs the optional ``bm3d`` package: ``pip install "denoise-adv[baselines]"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from .._checks import MissingExtra, check_channels, check_image_batch, check_int, check_real
from .registry import register_model

__all__ = ["BM3D", "NLMeans"]

BM3D_PROFILES = ("np", "refilter", "vn", "vn_old", "high", "deb")
#: The ``bm3d`` package's class of each profile name (what ``bm3d.bm3d`` picks for the name).
_PROFILE_CLASSES = {"np": "BM3DProfile", "refilter": "BM3DProfileRefilter",
                    "vn": "BM3DProfileVN", "vn_old": "BM3DProfileVNOld",
                    "high": "BM3DProfileHigh", "deb": "BM3DProfileDeb"}


def _import_bm3d() -> Any:
    try:
        import bm3d
    except ImportError as exc:
        raise MissingExtra('BM3D needs the optional bm3d package: pip install '
                          '"denoise-adv[baselines]" (or pip install "bm3d>=4")') from exc
    return bm3d


def _per_image(noisy: torch.Tensor, denoise: Callable[[np.ndarray], np.ndarray]
               ) -> torch.Tensor:
    """Apply ``denoise`` to each image of ``noisy`` as an (H, W) (gray) or (H, W, C) float64
    array; return the stacked results on ``noisy``'s device and dtype."""
    array = noisy.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
    gray = array.shape[-1] == 1
    outs = []
    for image in array:
        out = np.asarray(denoise(image[..., 0] if gray else image), dtype=np.float64)
        outs.append(out.reshape(image.shape))
    result = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)
    return result.to(device=noisy.device, dtype=noisy.dtype).contiguous()


class _Classical(nn.Module):
    """Shared contract of the classical denoisers (no parameters, no gradients)."""

    #: The level is a constructor argument: ``forward`` takes only the noisy image.
    takes_sigma = False
    #: White-box attacks refuse models with ``differentiable = False`` (see
    #: :class:`denoise_adv.attacks.DenoiseAttack`); attack them by transfer.
    differentiable = False

    def __init__(self, sigma: float, channels: int) -> None:
        super().__init__()
        self.sigma = check_real(sigma, "sigma", minimum=0.0, strict=True)
        self.channels = check_channels(channels)

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """Return the clean estimate, image by image (no gradient flows through it)."""
        # A data check costs nothing next to these filters: refuse NaN/Inf as well.
        check_image_batch(noisy, "noisy")
        if noisy.shape[1] != self.channels:
            raise ValueError(f"noisy must have {self.channels} channel(s) for this "
                             f"{type(self).__name__} (channels={self.channels}), got "
                             f"{noisy.shape[1]}")
        return _per_image(noisy, self._denoise)


@register_model("bm3d")
class BM3D(_Classical):
    r"""BM3D (Dabov et al., IEEE TIP 2007) through the ``bm3d`` package (Mäkinen et al.).

    Gray images go through ``bm3d.bm3d(y, sigma_psd=sigma)``, colour images through
    ``bm3d.bm3d_rgb`` (block matching in the opponent colour space's luminance). Slow: about
    3.5 s per 256x256 gray image on our shared 2-core CPU. Runs the package's compiled core
    on one thread (its profile's ``num_threads = 1``): with its default, all cores, two calls
    on one image differed by ~1e-7 (PSNRs by ~1e-5 dB, enough to move a board's printed
    digit), so a benchmark could not regenerate its rows bit for bit. Needs ``pip install
    "denoise-adv[baselines]"``.

    Args:
        sigma: noise standard deviation in [0, 1] units (25/255), > 0.
        channels: 1 (gray) or 3 (colour). (Default: 1)
        profile: the ``bm3d`` settings profile: ``"np"`` (the package's default),
            ``"refilter"``, ``"vn"``, ``"vn_old"``, ``"high"`` or ``"deb"``. (Default: ``"np"``)

    Example:
        >>> model = BM3D(sigma=25 / 255)
        >>> model(torch.rand(2, 1, 16, 16)).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, sigma: float, channels: int = 1, profile: str = "np") -> None:
        super().__init__(sigma, channels)
        if profile not in BM3D_PROFILES:
            raise ValueError(f"profile must be one of {BM3D_PROFILES}, got {profile!r}")
        self.profile = profile
        _import_bm3d()  # fail at construction, not at the first image

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments, stored in checkpoints to rebuild the model."""
        return {"sigma": self.sigma, "channels": self.channels, "profile": self.profile}

    def _settings(self):
        """The profile's settings object, on one thread (bit-reproducible)."""
        bm3d = _import_bm3d()
        profile = getattr(bm3d, _PROFILE_CLASSES[self.profile])()
        profile.num_threads = 1
        return profile

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        bm3d = _import_bm3d()
        if image.ndim == 2:
            return bm3d.bm3d(image, sigma_psd=self.sigma, profile=self._settings())
        return bm3d.bm3d_rgb(image, sigma_psd=self.sigma, profile=self._settings())

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, channels={self.channels}, profile={self.profile!r}"


@register_model("nlmeans")
class NLMeans(_Classical):
    r"""Non-local means (Buades et al., CVPR 2005) through scikit-image's
    ``restoration.denoise_nl_means``.

    Defaults are the settings of the package's recorded baseline: ``h = 0.8 * sigma``, 5x5
    patches, search distance 6, ``fast_mode=True``, and the noise level passed as ``sigma`` (so
    skimage subtracts the expected patch distance). Colour images are filtered jointly
    (``channel_axis=-1``).

    Args:
        sigma: noise standard deviation in [0, 1] units (25/255), > 0.
        channels: 1 (gray) or 3 (colour). (Default: 1)
        h_factor: filter strength ``h`` as a multiple of ``sigma``. (Default: 0.8)
        patch_size: side of the compared patches. (Default: 5)
        patch_distance: maximal offset of the searched patches. (Default: 6)
        fast_mode: skimage's fast (uniform patch weights) algorithm. (Default: ``True``)

    Example:
        >>> model = NLMeans(sigma=25 / 255)
        >>> model(torch.rand(2, 1, 16, 16)).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, sigma: float, channels: int = 1, h_factor: float = 0.8,
                 patch_size: int = 5, patch_distance: int = 6, fast_mode: bool = True) -> None:
        super().__init__(sigma, channels)
        self.h_factor = check_real(h_factor, "h_factor", minimum=0.0, strict=True)
        self.patch_size = check_int(patch_size, "patch_size", minimum=1)
        self.patch_distance = check_int(patch_distance, "patch_distance", minimum=1)
        self.fast_mode = bool(fast_mode)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments, stored in checkpoints to rebuild the model."""
        return {"sigma": self.sigma, "channels": self.channels, "h_factor": self.h_factor,
                "patch_size": self.patch_size, "patch_distance": self.patch_distance,
                "fast_mode": self.fast_mode}

    @property
    def receptive_radius(self) -> int:
        """``patch_distance + patch_size // 2``: a pixel's estimate averages the pixels within
        the search distance, weighted by the patches around them (skimage reflects the image
        at its borders, so a crop's edges act as borders): the denoiser contract's locality.

        Example:
            >>> NLMeans(sigma=0.1).receptive_radius  # 6 + 5 // 2
            8
        """
        return self.patch_distance + self.patch_size // 2

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        from skimage.restoration import denoise_nl_means

        return denoise_nl_means(
            image, patch_size=self.patch_size, patch_distance=self.patch_distance,
            h=self.h_factor * self.sigma, fast_mode=self.fast_mode, sigma=self.sigma,
            channel_axis=None if image.ndim == 2 else -1)

    def extra_repr(self) -> str:
        return (f"sigma={self.sigma:g}, channels={self.channels}, h_factor={self.h_factor:g}, "
                f"patch_size={self.patch_size}, patch_distance={self.patch_distance}, "
                f"fast_mode={self.fast_mode}")
