"""Atomic file writing: a reader never sees a half-written file.

Everything the package writes (checkpoints, adversarial sets, reports, images) goes through
:func:`atomic_write`, which writes to a temporary file in the target's folder and then moves it into
place with :func:`os.replace` (atomic on POSIX and Windows within one file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["atomic_open", "atomic_torch_save", "atomic_write", "file_sha256", "load_weights",
           "remove_stale_temporaries",
           "resolve_device"]


def _plain_open_mode(path: Path) -> int:
    """The permissions ``open(path, "w")`` would leave: the file's own when it exists, else
    0o666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "hello.txt")
        >>> with atomic_open(target, "w") as f:
        ...     _ = f.write("hi")
        >>> open(target).read()
        'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _plain_open_mode(path))  # mkstemp makes 0600 files
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, writer: Callable[[IO[bytes]], None]) -> Path:
    """Call ``writer(binary_file)`` and move the result to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        writer(f)
    return Path(path)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """:func:`torch.save` ``obj`` to ``path`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def load_weights(path: str | os.PathLike, what: str,
                 map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file and what it was
    meant to be: :class:`FileNotFoundError` for a missing file, :class:`ValueError` for one
    that cannot be read safely (a pickle that is not plain weights, a truncated file...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors carry no file name
        raise ValueError(f"cannot read {what} {path} (weights_only=True): {exc}") from exc


def file_sha256(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_stale_temporaries(folder: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files :func:`atomic_open` leaves when a process is killed mid-write
    (``.NAME.XXXX.tmp`` for each of ``names`` in ``folder``); returns what was removed."""
    folder = Path(folder)
    removed = []
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def resolve_device(name: str | torch.device, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA (``cuda:local_rank``) when available, else the CPU; other names are
    checked: an unknown device or CUDA without a GPU raises :class:`ValueError`.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if str(name) == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device(
            "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name} requested but CUDA is not available")
    return device
