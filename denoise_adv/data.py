"""Images: the built-in samples shipped with scikit-image, image files and folders.

Every loader returns float tensors in [0, 1] of shape (C, H, W) (gray C = 1, colour C = 3).

Built-in images need no network: they ship inside scikit-image (``skimage.data``; public domain
or CC0, see scikit-image's ``data/README``). Name one as ``builtin:NAME`` (``builtin:camera``) or a
set as ``builtin:test`` / ``builtin:train`` (disjoint lists below).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ._checks import check_int
from ._io import atomic_write

__all__ = [
    "BUILTIN_SETS",
    "IMAGE_SUFFIXES",
    "NoisyPairs",
    "builtin_image",
    "iter_images",
    "load_image",
    "save_png",
    "to_tensor",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

#: Disjoint built-in sets. ``test`` plays the role of Set12 (natural gray-scale photographs);
#: ``train`` holds the rest of scikit-image's bundled photographs and textures.
BUILTIN_SETS: dict[str, tuple[str, ...]] = {
    "test": ("camera", "moon", "coins", "astronaut", "chelsea", "brick"),
    "train": ("coffee", "rocket", "grass", "gravel", "clock", "cat", "immunohistochemistry",
              "hubble_deep_field", "page", "text", "cell"),
}
_BUILTIN_NAMES = tuple(sorted({n for names in BUILTIN_SETS.values() for n in names}))


def to_tensor(array: np.ndarray, channels: int = 1) -> torch.Tensor:
    """Convert an image array (H, W), (H, W, 3) or (H, W, 4) of any dtype to (C, H, W) in [0, 1].

    Integer images are divided by their dtype's maximum; colour is converted to gray with
    ITU-R 601 weights when ``channels == 1``; gray is repeated when ``channels == 3``.

    Example:
        >>> to_tensor(np.full((2, 3), 255, dtype=np.uint8)).shape
        torch.Size([1, 2, 3])
    """
    channels = check_int(channels, "channels", minimum=1)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64) / np.iinfo(a.dtype).max
    else:
        a = np.clip(a.astype(np.float64), 0.0, 1.0)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = a[..., None].repeat(channels, axis=2)
    elif a.ndim == 3 and a.shape[2] == 3:
        if channels == 1:
            a = (a @ np.array([0.299, 0.587, 0.114]))[..., None]
    else:
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()


def builtin_image(name: str, channels: int = 1) -> torch.Tensor:
    """A scikit-image sample image by name (``"camera"``), as (C, H, W) in [0, 1].

    Example:
        >>> builtin_image("camera").shape
        torch.Size([1, 512, 512])
    """
    import skimage.data

    if name not in _BUILTIN_NAMES:
        raise ValueError(f"unknown built-in image {name!r}; known: {', '.join(_BUILTIN_NAMES)}")
    return to_tensor(getattr(skimage.data, name)(), channels)


def load_image(path: str | os.PathLike, channels: int = 1) -> torch.Tensor:
    """Read an image file (PNG/JPEG/TIFF/BMP) or ``builtin:NAME`` as (C, H, W) in [0, 1].

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded as an image (the message names the file).
    """
    spec = str(path)
    if spec.startswith("builtin:"):
        return builtin_image(spec.split(":", 1)[1], channels)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    import skimage.io

    try:
        array = skimage.io.imread(path)
    except Exception as exc:
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    return to_tensor(array, channels)


def iter_images(spec: str | os.PathLike, channels: int = 1) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, image)`` for a file, a folder (sorted, image suffixes only),
    ``builtin:NAME``, ``builtin:test`` or ``builtin:train``.

    Example:
        >>> [name for name, _ in iter_images("builtin:test")][:2]
        ['camera', 'moon']
    """
    text = str(spec)
    if text.startswith("builtin:"):
        key = text.split(":", 1)[1]
        for name in BUILTIN_SETS.get(key, (key,)):
            yield name, builtin_image(name, channels)
        return
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        for file in files:
            yield file.stem, load_image(file, channels)
    else:
        yield path.stem, load_image(path, channels)


def save_png(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (C, H, W) or (1, C, H, W) image in [0, 1] as an 8-bit PNG, atomically.

    Values outside [0, 1] are clipped (PNG previews of unclipped noisy images).
    """
    from PIL import Image

    x = image.detach().cpu()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"image must hold one image, got batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"image must have shape (C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    array = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    return atomic_write(path, lambda f: pil.save(f, format="PNG"))


class NoisyPairs(torch.utils.data.Dataset):
    """Turn a dataset of clean images into ``(noisy, clean)`` pairs, the form denoiser training
    wants; the noise is any callable on a (C, H, W) tensor, e.g. a transform of
    :mod:`denoise_adv.transforms`.

    Items of ``dataset`` may be images or tuples whose first element is the image (labels are
    dropped).

    Args:
        dataset: map-style dataset of clean (C, H, W) float tensors in [0, 1].
        noise: callable adding noise, e.g. ``TSNoise.ts_def(25 / 255)``.

    Example:
        >>> from denoise_adv.transforms import GaussianNoise
        >>> pairs = NoisyPairs([torch.zeros(1, 4, 4)], GaussianNoise(0.1, seed=0))
        >>> noisy, clean = pairs[0]
        >>> bool(noisy.abs().sum() > 0), bool(clean.abs().sum() == 0)
        (True, True)
    """

    def __init__(self, dataset, noise) -> None:
        if not callable(noise):
            raise TypeError(f"noise must be callable, got {type(noise).__name__}")
        self.dataset = dataset
        self.noise = noise

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.dataset[index]
        clean = item[0] if isinstance(item, (tuple, list)) else item
        return self.noise(clean), clean
