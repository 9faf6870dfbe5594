"""The restoration tasks: deepinv physics at a fixed noise level, DPIR pipelines around a given
denoiser prior, and a classical baseline per task.

========================  =====================================================================
task                      physics (deepinv 0.5), Gaussian noise 0.01 by default
========================  =====================================================================
``deblur``                ``BlurFFT``, Gaussian kernel of standard deviation 1.6 pixels
``deblur-motion``         ``BlurFFT``, a 15x15 motion kernel of ``MotionBlurGenerator``, seeded
``sr2``, ``sr4``          ``Downsampling`` by 2 or 4, bicubic anti-aliasing filter
``inpaint``               ``Inpainting``, a fixed random mask keeping half the pixels, seeded
========================  =====================================================================

Baselines (:mod:`~denoise_adv.restoration.baselines`): Wiener deconvolution for both blurs,
bicubic upsampling for super-resolution, normalised convolution for inpainting.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_channels, check_int, check_module, check_real
from .._tasks import DEFAULT_NOISE, FACTORS, TASKS, check_task
from .baselines import BicubicUpsampling, MaskedAverageInpainting, WienerDeconvolution
from .restorer import Restorer

try:
    import deepinv as dinv
    from deepinv.models import Denoiser
    from deepinv.optim import BaseOptim
    from deepinv.optim.data_fidelity import L2
    from deepinv.optim.optimizers import create_iterator
    from deepinv.optim.prior import PnP
except ImportError as error:  # pragma: no cover - exercised only without the extra
    from .._checks import MissingExtra

    raise MissingExtra("denoise_adv.restoration needs deepinv 0.5: pip install "
                       "\"denoise-adv[deepinv]\"") from error

__all__ = ["TASKS", "baseline_restorer", "dpir", "dpir_restorer", "make_physics"]

def _check_size(size: object) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size must be an int or (height, width), got {size!r}")
    return (check_int(size[0], "size", minimum=8), check_int(size[1], "size", minimum=8))


def _kernel(task: str, seed: int) -> torch.Tensor:
    """The blur kernel (1, 1, k, k) of a deblurring task."""
    if task == "deblur":
        return dinv.physics.functional.gaussian_blur(sigma=1.6)
    generator = dinv.physics.generator.MotionBlurGenerator(
        (15, 15), rng=torch.Generator().manual_seed(seed))
    return generator.step(1)["filter"]


def _mask(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """A fixed random inpainting mask (1, C, H, W) keeping each pixel with probability 1/2
    (all channels of a pixel together)."""
    generator = torch.Generator().manual_seed(seed)
    keep = torch.rand((1, 1, *shape[1:]), generator=generator) < 0.5
    return keep.float().expand(1, *shape).clone()


def make_physics(task: str, size: int | tuple[int, int], channels: int = 1,
                 noise: float = DEFAULT_NOISE, seed: int = 0) -> dinv.physics.Physics:
    """The deepinv physics of ``task`` for clean images of ``size`` (see the module table).

    Args:
        task: one of :data:`TASKS`.
        size: the clean image's ``(height, width)`` (or one int); super-resolution needs
            multiples of the factor.
        channels: image channels (1 or 3).
        noise: the Gaussian noise's standard deviation, [0, 1] units, >= 0.
        seed: the seed of the motion kernel and the inpainting mask (fixed per task).

    Raises:
        ValueError: unknown task, a size below 8 or not divisible by the factor, bad noise.

    Example:
        >>> physics = make_physics("sr2", 16)
        >>> physics.A(torch.rand(1, 1, 16, 16)).shape, round(float(physics.noise_model.sigma), 6)
        (torch.Size([1, 1, 8, 8]), 0.01)
    """
    task = check_task(task)
    height, width = _check_size(size)
    channels = check_channels(channels)
    noise_model = dinv.physics.GaussianNoise(check_real(noise, "noise", minimum=0.0))
    shape = (channels, height, width)
    seed = check_int(seed, "seed")
    if task in FACTORS:
        factor = FACTORS[task]
        if height % factor or width % factor:
            raise ValueError(f"size must be a multiple of the factor {factor} for {task}, got "
                             f"{height}x{width}")
        return dinv.physics.Downsampling(img_size=shape, factor=factor, filter="bicubic",
                                         noise_model=noise_model)
    if task == "inpaint":
        return dinv.physics.Inpainting(img_size=shape, mask=_mask(shape, seed),
                                       noise_model=noise_model)
    kernel = _kernel(task, seed)
    return dinv.physics.BlurFFT(img_size=shape, filter=kernel, noise_model=noise_model)


class _StartFrom(nn.Module):
    """deepinv's ``custom_init``: both HQS iterates start at ``method(y, physics)``."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, y: torch.Tensor, physics: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        start = self.method(y, physics)
        return start, start


def dpir(prior: nn.Module, noise: float = DEFAULT_NOISE, iterations: int = 8,
         init: nn.Module | None = None) -> BaseOptim:
    """deepinv's DPIR (half-quadratic splitting, a denoiser prior at levels falling
    geometrically from 49/255 to ``noise``) with ``iterations`` steps: at 8, deepinv's
    ``DPIR(sigma=noise, denoiser=prior)`` exactly; fewer steps keep the schedule's two ends
    (for quick studies on the CPU).

    Args:
        prior: a deepinv ``Denoiser`` or a model of this package (adapted by
            :func:`~denoise_adv.integrations.deepinv.as_deepinv_denoiser`; a fixed-level
            model, such as the zoo's DnCNNs, ignores DPIR's levels and warns once).
        noise: the measurement noise level, [0, 1] units, > 0.
        iterations: HQS iterations, >= 1.
        init: a module ``init(y, physics)`` whose output starts the iterations (``None``:
            deepinv's start, the adjoint ``A^T y``).

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> algorithm = dpir(DnCNN(depth=3, features=4), noise=0.01, iterations=3)
        >>> algorithm.max_iter, [round(float(s), 4) for s in algorithm.init_params_algo["g_param"]]
        (3, [0.1922, 0.0438, 0.01])
    """
    from ..integrations.deepinv import as_deepinv_denoiser

    check_module(prior, "prior")
    noise = check_real(noise, "noise", minimum=0.0, strict=True)
    iterations = check_int(iterations, "iterations", minimum=1)
    denoiser = prior if isinstance(prior, Denoiser) else as_deepinv_denoiser(prior)
    levels = torch.logspace(torch.log10(torch.tensor(49 / 255)), torch.log10(torch.tensor(noise)),
                            steps=iterations, dtype=torch.float32)
    stepsize = (levels / max(0.01, noise)) ** 2 / 0.23
    pnp = PnP(denoiser=denoiser)
    if init is not None:
        init = _StartFrom(check_module(init, "init"))
    return BaseOptim(create_iterator("HQS", prior=pnp, cost_fn=None, g_first=False),
                     max_iter=iterations, data_fidelity=L2(), prior=pnp, early_stop=False,
                     params_algo={"stepsize": stepsize, "g_param": levels}, custom_init=init)


def dpir_restorer(task: str, prior: nn.Module, size: int | tuple[int, int], channels: int = 1,
                  noise: float = DEFAULT_NOISE, iterations: int = 8, seed: int = 0
                  ) -> Restorer:
    """DPIR with ``prior`` on ``task`` (:func:`make_physics`, :func:`dpir`), as a
    :class:`Restorer`; arguments as there. Inpainting starts from the baseline's fill
    (:class:`MaskedAverageInpainting`): from deepinv's start, ``A^T y``, the missing pixels
    are 0 and 8 iterations leave them dark (measured on three 64x64 crops of ``builtin:test``
    with the published FFDNet prior: 24.7 dB from ``A^T y``, 34.2 dB from the fill, 30.9 dB
    for the fill alone).

    Example:
        >>> from denoise_adv.models import DnCNN
        >>> restorer = dpir_restorer("deblur", DnCNN(depth=3, features=4), 16, iterations=2)
        >>> restorer(restorer.measure(torch.rand(1, 1, 16, 16), seed=0)).shape
        torch.Size([1, 1, 16, 16])
    """
    physics = make_physics(task, size, channels, noise, seed)
    init = MaskedAverageInpainting() if task == "inpaint" else None
    return Restorer(dpir(prior, noise, iterations, init), physics, channels=channels)


def baseline_restorer(task: str, size: int | tuple[int, int], channels: int = 1,
                      noise: float = DEFAULT_NOISE, seed: int = 0) -> Restorer:
    """The classical baseline of ``task`` as a :class:`Restorer`: Wiener deconvolution
    (``lam = 1e-2``) for the blurs, bicubic upsampling for super-resolution, normalised
    convolution (``sigma = 1`` pixel) for inpainting.

    Example:
        >>> restorer = baseline_restorer("sr4", 16)
        >>> restorer(restorer.measure(torch.rand(1, 1, 16, 16), seed=0)).shape
        torch.Size([1, 1, 16, 16])
    """
    physics = make_physics(task, size, channels, noise, seed)
    if task in FACTORS:
        method: nn.Module = BicubicUpsampling()
    elif task == "inpaint":
        method = MaskedAverageInpainting()
    else:
        method = WienerDeconvolution()
    return Restorer(method, physics, channels=channels)
