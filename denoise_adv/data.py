"""Images: the built-in samples shipped with scikit-image, image files and folders.

Every loader returns float tensors in [0, 1] of shape (C, H, W) (gray C = 1, colour C = 3).

Built-in images need no network: they are files shipped inside installed packages
(scikit-image, matplotlib, scikit-learn; see :data:`BUILTIN_FILES`). Name one as
``builtin:NAME`` (``builtin:camera``) or a set as ``builtin:test`` / ``builtin:train`` (disjoint
lists below).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from . import seeding
from ._checks import check_int
from ._io import atomic_write

__all__ = [
    "BUILTIN_FILES",
    "BUILTIN_SETS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "NoisyPairs",
    "PatchDataset",
    "TEST_SIZE",
    "augment",
    "builtin_image",
    "builtin_path",
    "center_crop",
    "iter_images",
    "load_image",
    "pixel_sha256",
    "png_bytes",
    "pixels_of",
    "save_png",
    "to_tensor",
    "unit_range",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

#: Largest image (width x height) the loaders read by default: 4096 x 4096. Denoisers work at
#: full resolution, so memory grows with the pixel count (one 64-feature convolution of a
#: 10000 x 10000 image allocates 25.6 GB); larger files are refused with a clear error before
#: they are decoded. Raise it with ``max_pixels=`` (``--max-pixels`` on the command line);
#: ``None`` lifts it (Pillow's own decompression-bomb guard, which refuses images of more than
#: twice ``PIL.Image.MAX_IMAGE_PIXELS``, about 179 million pixels, still applies).
MAX_PIXELS = 4096 * 4096

#: Every built-in image: ``name -> (package, file inside the package)``. Each file ships inside
#: an installed package (scikit-image's ``data`` folder, matplotlib's ``sample_data``,
#: scikit-learn's sample images), so nothing is downloaded at run time. skimage's ``data.cat()``
#: is not listed: it is ``data.chelsea()``, a test image.
BUILTIN_FILES: dict[str, tuple[str, str]] = {
    # scikit-image (public domain or CC0, see skimage/data/README.txt)
    "astronaut": ("skimage", "data/astronaut.png"),
    "brick": ("skimage", "data/brick.png"),
    "camera": ("skimage", "data/camera.png"),
    "cell": ("skimage", "data/cell.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "clock": ("skimage", "data/clock_motion.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "coins": ("skimage", "data/coins.png"),
    "grass": ("skimage", "data/grass.png"),
    "gravel": ("skimage", "data/gravel.png"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "immunohistochemistry": ("skimage", "data/ihc.png"),
    "moon": ("skimage", "data/moon.png"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),
    "page": ("skimage", "data/page.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "text": ("skimage", "data/text.png"),
    # matplotlib's sample data
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "present": ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png"),
    # scikit-learn's sample images (Creative Commons, see sklearn/datasets/images/README.txt)
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
}

#: Disjoint built-in sets. ``test`` plays the role of Set12: natural photographs, centre-cropped
#: to :data:`TEST_SIZE` squares (gray by default; ``channels=3`` gives colour, gray sources
#: repeated). ``train`` holds every other bundled natural photograph, whole; drawings, text,
#: microscopy, astronomy and the motion-blurred ``clock`` stay out of it (they remain
#: available as ``builtin:NAME``). No training image equals or contains a test crop: the tests
#: check it by pixel content.
BUILTIN_SETS: dict[str, tuple[str, ...]] = {
    "test": ("camera", "moon", "coins", "astronaut", "chelsea", "brick"),
    "train": ("coffee", "rocket", "grass", "gravel", "motorcycle_left", "motorcycle_right",
              "grace_hopper", "present", "china", "flower"),
}
#: Side of the centre crops of ``builtin:test`` (Set12's images are 256x256 and 512x512).
TEST_SIZE = 256


def center_crop(image: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The centred ``size`` crop of ``image`` (..., H, W), zero-padded where ``image`` is
    smaller: torchvision's ``transforms.v2.functional.center_crop`` on tensors, pixel for pixel
    (tested), without importing torchvision (about 1.7 s of every command's start here).

    Raises:
        ValueError: a side of ``size`` below 1.

    Example:
        >>> center_crop(torch.arange(16.).reshape(4, 4), 2).tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """
    th, tw = (size, size) if isinstance(size, int) else (size[0], size[-1])
    if min(th, tw) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    h, w = image.shape[-2:]
    if th > h or tw > w:  # pad as torchvision does: the odd pixel goes to the bottom / right
        pad_h, pad_w = max(th - h, 0), max(tw - w, 0)
        image = torch.nn.functional.pad(
            image, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2))
        h, w = image.shape[-2:]
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return image[..., top:top + th, left:left + tw]


def to_tensor(array: np.ndarray, channels: int = 1, *, noisy: bool = False) -> torch.Tensor:
    """Convert an image array (H, W), (H, W, 3) or (H, W, 4) of any dtype to (C, H, W).

    A clean image (the default) comes out in [0, 1]: values are scaled by the rules of
    :func:`unit_range` (8- and 16-bit unsigned integers by their dtype's maximum; other dtypes
    by the range their values occupy, or refused). A fourth channel (alpha) is dropped; colour
    is converted to gray with ITU-R 601 weights when ``channels == 1``; gray is repeated when
    ``channels == 3``.

    Nothing is clipped beyond rounding (half an 8-bit level): a float array outside [0, 1] is
    refused with a :class:`ValueError` that names ``noisy=True``. A *noisy* image is not
    clipped (the DnCNN convention): with ``noisy=True`` a float array is taken in [0, 1] units
    and kept exactly as it is, tails below 0 and above 1 included, as
    ``skimage.util.random_noise(image, clip=False)`` returns it; ``uint8``/``uint16``/``bool``
    arrays are scaled by their dtype as above (their format has clipped them already).

    Args:
        array: the image.
        channels: 1 (gray) or 3 (colour) channels out.
        noisy: keep float values as they are (a noisy image in [0, 1] units).

    Returns:
        A float32 tensor (C, H, W).

    Raises:
        ValueError: for an unknown layout, NaN or Inf, values that are not pixel intensities,
            or (with ``noisy=True``) an integer dtype other than ``uint8``/``uint16``.

    Example:
        >>> to_tensor(np.full((2, 3), 255, dtype=np.uint8)).shape
        torch.Size([1, 2, 3])
        >>> to_tensor(np.array([[0.0, 127.5, 255.0]], dtype=np.float32))  # 8-bit levels
        tensor([[[0.0000, 0.5000, 1.0000]]])
        >>> to_tensor(np.array([[-0.25, 1.5]]), noisy=True)  # noisy: nothing clipped
        tensor([[[-0.2500,  1.5000]]])
    """
    if not isinstance(noisy, bool):
        raise TypeError(f"noisy must be True or False, got {noisy!r}")
    array = np.asarray(array)
    if not noisy:
        _refuse_unclipped(array)
    return _to_tensor(array, channels, "array", noisy=noisy)


def _refuse_unclipped(a: np.ndarray) -> None:
    """Raise a :class:`ValueError` naming ``noisy=True`` for a float array that reads as [0, 1]
    data with values outside it (a noisy image): :func:`unit_range` would refuse it with a
    message about files."""
    if not np.issubdtype(a.dtype, np.floating) or a.size == 0 or not np.isfinite(a).all():
        return
    low, high = float(a.min()), float(a.max())
    if low < -_UNIT_SLACK and high < 2 or 1 + _UNIT_SLACK < high < 2:
        raise ValueError(
            f"array holds {a.dtype} values in [{low:g}, {high:g}], outside [0, 1], and "
            "to_tensor does not clip: for a noisy image in [0, 1] units (such as "
            "skimage.util.random_noise(image, clip=False)) pass noisy=True to keep its values; "
            "for a clean image, rescale it to 0..1, 0..255 or 0..65535")


def _noisy_values(a: np.ndarray) -> np.ndarray:
    """A noisy image's values as float64, unclipped: floats as they are (NaN/Inf refused),
    ``bool``/``uint8``/``uint16`` scaled by their dtype."""
    if a.dtype == bool or a.dtype in (np.uint8, np.uint16):
        return unit_range(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"array: noisy=True takes float values in [0, 1] units (or uint8 / "
                         f"uint16), got dtype {a.dtype}")
    if a.size and not np.isfinite(a).all():
        raise ValueError("array holds NaN or Inf values: not an image")
    return a.astype(np.float64)


def _to_tensor(array: np.ndarray, channels: int, source: str, noisy: bool = False
               ) -> torch.Tensor:
    """:func:`to_tensor`, with errors that name ``source`` (the file)."""
    channels = check_int(channels, "channels", minimum=1)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    a = _noisy_values(np.asarray(array)) if noisy else unit_range(np.asarray(array), source)
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
        where = "" if source == "array" else f"{source}: "
        raise ValueError(f"{where}image must have shape (H, W), (H, W, 3) or (H, W, 4), got "
                         f"{a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()


#: Values this far outside [0, 1] (half an 8-bit level) still read as [0, 1] data, clipped:
#: rounding in whatever wrote them.
_UNIT_SLACK = 0.5 / 255


def unit_range(a: np.ndarray, source: str = "array") -> np.ndarray:
    """Pixel values as float64 in [0, 1], scaled by what their dtype and values say.

    - ``bool``: 0 and 1. ``uint8`` / ``uint16``: divided by 255 / 65535 (their white point).
    - Any other dtype (floats, signed integers, ``uint32``, ...) has no white point of its own
      (a float32 or int32 TIFF may hold 0..1, 0..255 or 0..65535), so the values decide: all in
      [0, 1] (within half an 8-bit level, clipped): as they are; a maximum in [2, 255]: 8-bit
      levels, divided by 255; a maximum in (255, 65535]: 16-bit levels, divided by 65535.
      Anything else is refused with a :class:`ValueError` naming ``source`` and the range
      found: negative values, NaN or Inf, a maximum above 65535, or a maximum in (1, 2), which
      could be [0, 1] data that overshoots or a nearly black 8-bit image. The range is never
      stretched to the file's own minimum and maximum (that would change the image).

    Example:
        >>> unit_range(np.array([0, 51, 255], dtype=np.int32)).tolist()
        [0.0, 0.2, 1.0]
    """
    if a.dtype == bool:
        return a.astype(np.float64)
    if a.dtype in (np.uint8, np.uint16):
        return a.astype(np.float64) / np.iinfo(a.dtype).max
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{source}: cannot read pixel values of dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.size == 0:
        return a
    if not np.isfinite(a).all():
        raise ValueError(f"{source} holds NaN or Inf values: not an image")
    low, high = float(a.min()), float(a.max())
    kind = f"{source} holds {a.dtype} values in [{low:g}, {high:g}]"
    if low < -_UNIT_SLACK:
        raise ValueError(f"{kind}: negative values have no meaning as pixel intensities; "
                         "rescale the file to 0..1, 0..255 or 0..65535")
    if high <= 1 + _UNIT_SLACK:
        return np.clip(a, 0.0, 1.0)
    if high < 2:
        raise ValueError(f"{kind}: ambiguous (0..1 data that overshoots, or a nearly black "
                         "image in 8-bit levels?); rescale the file to 0..1 or 0..255")
    if high <= 65535:
        return np.clip(a, 0.0, None) / (255.0 if high <= 255 else 65535.0)
    raise ValueError(f"{kind}: above the 16-bit range (65535), so there is no white point to "
                     "scale by; rescale the file to 0..1, 0..255 or 0..65535")


def builtin_path(name: str) -> Path:
    """The file of the built-in image ``name`` inside its installed package.

    Example:
        >>> builtin_path("camera").name
        'camera.png'
    """
    import importlib.resources

    if name not in BUILTIN_FILES:
        raise ValueError(f"unknown built-in image {name!r}; known: "
                         f"{', '.join(sorted(BUILTIN_FILES))}")
    package, file = BUILTIN_FILES[name]
    return Path(str(importlib.resources.files(package).joinpath(file)))


def builtin_image(name: str, channels: int = 1) -> torch.Tensor:
    """A built-in sample image by name (``"camera"``), as (C, H, W) in [0, 1].

    Example:
        >>> builtin_image("camera").shape
        torch.Size([1, 512, 512])
    """
    return load_image(builtin_path(name), channels)


def _open_tiff(path: Path):
    """``tifffile.TiffFile`` of a one-page TIFF (use it in ``with``), or ``None`` when tifffile
    cannot read the file; a multi-page TIFF raises :class:`ValueError`."""
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except Exception:
        return None
    if len(tif.pages) != 1:
        tif.close()
        if not tif.pages:
            return None
        raise ValueError(f"cannot read image file {path}: it holds {len(tif.pages)} pages "
                         "(a stack or a multi-page TIFF); give one image per file")
    return tif


def _check_size(path: Path, max_pixels: int | None) -> None:
    """Refuse a file of more than ``max_pixels`` pixels, reading only its header."""
    if max_pixels is None:
        return
    from PIL import Image

    tif = _open_tiff(path) if path.suffix.lower() in (".tif", ".tiff") else None
    try:
        if tif is not None:
            with tif:
                width, height = tif.pages[0].imagewidth, tif.pages[0].imagelength
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    width, height = img.size
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image {path} is too large to read: {exc}") from None
    except Exception:
        return  # not a format PIL reads: the decoder below reports it
    if width * height > max_pixels:
        raise ValueError(f"image {path} has {width}x{height} = {width * height:,} pixels, more "
                         f"than the limit of {max_pixels:,} (--max-pixels / max_pixels=): crop "
                         "or downscale it, or raise the limit if memory allows")


#: PIL modes converted before reading, by what they hold: inks (CMYK: 4 channels that are not
#: RGBA), other colour spaces, palettes, 1-bit and gray with alpha.
_PIL_CONVERT = {"CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "RGBX": "RGB",
                "RGBa": "RGBA", "P": "RGB", "PA": "RGBA", "1": "L", "LA": "L", "La": "L"}


def _read_tiff(path: Path) -> np.ndarray | None:
    """A TIFF's samples in their own dtype, (H, W) or (H, W, S), or ``None`` when its
    photometric interpretation is not plain gray or RGB (PIL then converts it by mode)."""
    import tifffile

    tif = _open_tiff(path)
    if tif is None:
        return None
    with tif:
        page = tif.pages[0]
        if page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
            return None
        array, axes = page.asarray(), page.axes
    if "S" in axes and axes.index("S") == 0:  # planar (separate) samples
        array = np.moveaxis(array, 0, -1)
    return array


def _read_pil(path: Path) -> np.ndarray:
    """The image decoded by PIL, converted by mode (:data:`_PIL_CONVERT`): a CMYK JPEG reads as
    RGB, not as RGBA; 16-bit, 32-bit integer (``I``) and float (``F``) gray keep their dtype."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        elif img.mode in _PIL_CONVERT:
            img = img.convert(_PIL_CONVERT[img.mode])
        array = np.asarray(img)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def _decode(path: Path) -> np.ndarray:
    """The pixels of an image file, decoded by its format and mode (see :func:`load_image`)."""
    try:
        array = _read_tiff(path) if path.suffix.lower() in (".tif", ".tiff") else None
        return _read_pil(path) if array is None else array
    except Exception as exc:
        if isinstance(exc, ValueError) and str(path) in str(exc):
            raise  # ours, naming the file already
        raise ValueError(f"cannot read image file {path}: {exc}") from exc


def load_image(path: str | os.PathLike, channels: int = 1,
               max_pixels: int | None = MAX_PIXELS) -> torch.Tensor:
    """Read an image file (PNG/JPEG/TIFF/BMP) or ``builtin:NAME`` as (C, H, W) in [0, 1].

    Decoding goes by the file's mode: CMYK (and YCbCr, LAB, HSV, palette) images are converted
    to RGB by PIL, so a CMYK JPEG reads as its colours, not as RGBA; an alpha channel is
    dropped. Values are scaled by :func:`unit_range`: 8- and 16-bit files by their white point
    (255, 65535); files without one (float32, int32 TIFFs...) by the range their values
    occupy: [0, 1] as it is, a maximum up to 255 as 8-bit levels, up to 65535 as 16-bit
    levels; other ranges (negative values, above 65535, NaN) are refused, never clipped or
    divided by 2^31 - 1. Multi-page TIFFs are refused.

    Args:
        path: the file, or ``builtin:NAME``.
        channels: 1 (gray) or 3 (colour).
        max_pixels: refuse files of more pixels than this (width x height; its header is read
            first, so nothing large is decoded); ``None`` for no limit of ours (Pillow's
            decompression-bomb guard still refuses more than about 179 million). (Default:
            :data:`MAX_PIXELS`, 4096 x 4096)

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded as an image, holds values that are not an
            image's (see above), or is larger than ``max_pixels`` (the message names the file).
    """
    spec = str(path)
    if spec.startswith("builtin:"):
        return builtin_image(spec.split(":", 1)[1], channels)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if max_pixels is not None:
        max_pixels = check_int(max_pixels, "max_pixels", minimum=1)
    _check_size(path, max_pixels)
    return _to_tensor(_decode(path), channels, f"image file {path}")


def _names(files: Sequence[Path]) -> list[str]:
    """Each file's stem, or its whole name where two files share a stem (``a.bmp``,
    ``a.png``), so that names (and the outputs and noise keyed by them) stay distinct."""
    stems = [f.stem for f in files]
    return [f.name if stems.count(f.stem) > 1 else f.stem for f in files]


def iter_images(spec: str | os.PathLike, channels: int = 1, skip_errors: bool = False,
                max_pixels: int | None = MAX_PIXELS) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, image)`` for a file, a folder (sorted, image suffixes only),
    ``builtin:NAME``, ``builtin:test`` or ``builtin:train``.

    A name is the file's stem; files of one folder that share a stem (``a.bmp``, ``a.png``)
    are named by their whole file names instead. An unreadable file in a folder (or one larger
    than ``max_pixels``, see :func:`load_image`) raises :class:`ValueError` naming it, or, with
    ``skip_errors=True``, is skipped with a warning.

    Example:
        >>> [name for name, _ in iter_images("builtin:test")][:2]
        ['camera', 'moon']
    """
    text = str(spec)
    if text.startswith("builtin:"):
        key = text.split(":", 1)[1]
        for name in BUILTIN_SETS.get(key, (key,)):
            image = builtin_image(name, channels)
            if key == "test":
                image = center_crop(image, TEST_SIZE)
            yield name, image
        return
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        for name, file in zip(_names(files), files):
            try:
                image = load_image(file, channels, max_pixels)
            except ValueError as exc:
                if not skip_errors:
                    raise
                warnings.warn(f"skipping unreadable image: {exc}", stacklevel=2)
                continue
            yield name, image
    else:
        yield path.stem, load_image(path, channels, max_pixels)


def save_png(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (C, H, W) or (1, C, H, W) image in [0, 1] as an 8-bit PNG, atomically.

    Values outside [0, 1] are clipped (PNG previews of unclipped noisy images).
    """
    data = png_bytes(image)
    return atomic_write(path, lambda f: f.write(data))


def png_bytes(image: torch.Tensor) -> bytes:
    """A (C, H, W) or (1, C, H, W) image in [0, 1] encoded as an 8-bit PNG (values outside
    [0, 1] clipped): what :func:`save_png` writes, for pages that embed images.

    Example:
        >>> png_bytes(torch.zeros(1, 2, 2))[:4]
        b'\\x89PNG'
    """
    import io

    from PIL import Image

    x = image.detach().cpu()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"image must hold one image, got batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"image must have shape (C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    array = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    return buffer.getvalue()


def pixel_sha256(image: torch.Tensor) -> str:
    """The hex SHA-256 of an image's pixels: its identity by content, not by file name.

    What is hashed: the decoded image as the loaders return it (float values in [0, 1]),
    converted to little-endian float32, in C order, after a header with the shape (so a
    (1, 4, 4) and a (1, 2, 8) image of the same values differ). Hence the same pixels give the
    same hash whatever the file's format, name or metadata, on any machine and device; any
    change of a pixel (or of how a file decodes) changes it. Results that record it can tell
    when an image under an old name has new content.

    Args:
        image: a floating-point tensor of any shape, e.g. (C, H, W), on any device.

    Example:
        >>> a = torch.zeros(1, 2, 2)
        >>> pixel_sha256(a) == pixel_sha256(a.double().clone())
        True
        >>> pixel_sha256(a) == pixel_sha256(a.reshape(1, 1, 4))
        False
    """
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        got = f"a {image.dtype} tensor" if isinstance(image, torch.Tensor) else type(image).__name__
        raise TypeError(f"image must be a floating-point tensor, got {got}")
    values = image.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4")
    digest = hashlib.sha256(f"float32{tuple(image.shape)}".encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def pixels_of(images) -> dict[str, str]:
    """``{name: pixel_sha256(image)}`` of ``[(name, image)]``: a set of images' identity by
    content (what results record and compare, never a path).

    Example:
        >>> list(pixels_of([("a", torch.zeros(1, 2, 2))]))
        ['a']
    """
    return {name: pixel_sha256(image) for name, image in images}


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


def augment(patch: torch.Tensor, mode: int) -> torch.Tensor:
    """One of the 8 flips/rotations of Zhang et al.'s DnCNN data generator.

    Mode ``k``: rotate by ``(k // 2) * 90`` degrees, then flip vertically if ``k`` is odd.
    """
    if not 0 <= mode < 8:
        raise ValueError(f"mode must be in 0..7, got {mode}")
    out = torch.rot90(patch, mode // 2, dims=(-2, -1))
    return out.flip(-2) if mode % 2 else out


class PatchDataset(torch.utils.data.Dataset):
    """DnCNN-style training patches (Zhang et al., 2017, data generator).

    Each image is rescaled by each of ``scales`` (bicubic, antialiased), cut into
    ``patch_size`` patches with ``stride``, and each patch gets one of the 8 flips/rotations
    (:func:`augment`). The orientation and the noise of item ``i`` in epoch ``e`` are drawn from
    :func:`denoise_adv.seeding.generator` ``(seed, "patch", e, i)``: call :meth:`set_epoch` each
    epoch to regenerate them; the same (seed, epoch, index) always gives the same pair.

    Args:
        images: clean images (C, H, W) in [0, 1], all with the same C.
        patch_size: patch side. (Default: 40)
        stride: distance between patches. (Default: 10)
        scales: rescaling factors. (Default: (1, 0.9, 0.8, 0.7))
        augment: apply a random flip/rotation. (Default: True)
        noise: a transform of :mod:`denoise_adv.transforms` (anything with
            ``add_noise(x, generator)``); items are then ``(noisy, clean)``, else clean patches.
        seed: seed of orientations and noise. (Default: 0)
        levels: items are ``(noisy, clean, level)``: the level (a float32 scalar tensor) the
            item's noise was drawn at, for non-blind models' noise maps. A noise whose
            ``sigma`` is a ``(low, high)`` range draws it per item (read from a copy of the
            item's generator: the samplers of :mod:`denoise_adv.noise` draw the level first,
            so the noise is exactly what it is without ``levels``); a fixed ``sigma`` is
            itself. Needs a noise with a ``sigma`` (``GaussianNoise``, ``TSNoise``).
            (Default: False)

    Example:
        >>> from denoise_adv.transforms import GaussianNoise
        >>> ds = PatchDataset([torch.rand(1, 60, 60)], patch_size=40, stride=10, scales=(1,),
        ...                   noise=GaussianNoise(25 / 255))
        >>> len(ds), ds[0][0].shape
        (9, torch.Size([1, 40, 40]))
    """

    def __init__(self, images: Sequence[torch.Tensor], patch_size: int = 40, stride: int = 10,
                 scales: Sequence[float] = (1.0, 0.9, 0.8, 0.7), augment: bool = True,
                 noise: Callable | None = None, seed: int = 0, levels: bool = False) -> None:
        import torch.nn.functional as F

        self.patch_size = check_int(patch_size, "patch_size", minimum=1)
        self.stride = check_int(stride, "stride", minimum=1)
        self.augment = bool(augment)
        if noise is not None and not hasattr(noise, "add_noise"):
            raise TypeError("noise must have an add_noise(x, generator) method (a transform of "
                            "denoise_adv.transforms)")
        self.noise = noise
        self.levels = bool(levels)
        if self.levels and not isinstance(getattr(noise, "sigma", None), (float, tuple)):
            raise ValueError("levels needs a noise with one sigma, a level or a (low, high) "
                             f"range (GaussianNoise, TSNoise), got {type(noise).__name__}")
        self.seed = check_int(seed, "seed")
        self.epoch = 0
        if not images:
            raise ValueError("images must not be empty")
        self.images: list[torch.Tensor] = []
        index = []
        for i, image in enumerate(images):
            if not isinstance(image, torch.Tensor) or image.dim() != 3:
                raise ValueError(f"images[{i}] must be a (C, H, W) tensor")
            for scale in scales:
                if not 0 < scale <= 1:
                    raise ValueError(f"scales must be in (0, 1], got {scale}")
                h, w = int(image.shape[1] * scale), int(image.shape[2] * scale)
                if min(h, w) < self.patch_size:
                    continue
                scaled = image if scale == 1 else F.interpolate(
                    image[None], size=(h, w), mode="bicubic", align_corners=False,
                    antialias=True)[0].clamp(0, 1)
                k = len(self.images)
                self.images.append(scaled.contiguous())
                index += [(k, top, left)
                          for top in range(0, h - self.patch_size + 1, self.stride)
                          for left in range(0, w - self.patch_size + 1, self.stride)]
        if not index:
            raise ValueError(f"no image is at least {self.patch_size}x{self.patch_size} at any "
                             "scale")
        self.index = torch.tensor(index, dtype=torch.int64)

    def set_epoch(self, epoch: int) -> None:
        """Regenerate orientations and noise for ``epoch``."""
        self.epoch = check_int(epoch, "epoch", minimum=0)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        k, top, left = (int(v) for v in self.index[i])
        p = self.patch_size
        patch = self.images[k][:, top:top + p, left:left + p]
        generator = seeding.generator(self.seed, "patch", self.epoch, i)
        if self.augment:
            patch = augment(patch, int(torch.randint(8, (1,), generator=generator)))
        patch = patch.contiguous()
        if self.noise is None:
            return patch
        level = self._level(generator) if self.levels else None
        noisy = self.noise.add_noise(patch, generator)
        return (noisy, patch) if level is None else (noisy, patch, level)

    def _level(self, generator: torch.Generator) -> torch.Tensor:
        """The level the noise draws next from ``generator`` (left untouched)."""
        from .noise import draw_levels

        sigma = self.noise.sigma
        if isinstance(sigma, tuple):
            probe = torch.Generator(device=generator.device)
            probe.set_state(generator.get_state())
            sigma = draw_levels(sigma, 1, probe)[0]
        return torch.tensor(float(sigma), dtype=torch.float32)
