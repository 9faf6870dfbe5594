"""Atomic file writing: a reader never sees a half-written file.

Everything the package writes (checkpoints, adversarial sets, reports, images) goes through
:func:`atomic_write`, which writes to a temporary file in the target's folder and then moves it into
place with :func:`os.replace` (atomic on POSIX and Windows within one file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

__all__ = ["atomic_open", "atomic_torch_save", "atomic_write", "file_sha256", "load_weights",
           "plain_values", "read_json", "remove_stale_temporaries", "resolve_device",
           "strict_json", "writable_file", "writable_folder", "write_json"]


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
        reason = _not_a_torch_file(path) or _load_error(exc)
        raise ValueError(f"cannot read {what} {path}: {reason}") from exc


def _not_a_torch_file(path: Path) -> str | None:
    """Why ``path`` cannot be a file :func:`torch.save` wrote (a zip archive, or a pickle in
    the legacy format), or ``None`` when it looks like one. A text file otherwise fails with
    ``KeyError: '101'`` (its bytes read as pickle opcodes)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return None
    expected = "a PyTorch checkpoint (a zip archive written by torch.save)"
    if not head:
        return f"the file is empty, not {expected}"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text.strip() or not all(c.isprintable() or c.isspace() for c in text):
        return f"it is not {expected}"
    return f"it is a text file (starting {text.strip().splitlines()[0][:30]!r}), not {expected}"


def _load_error(exc: Exception) -> str:
    """One line saying why ``torch.load(weights_only=True)`` refused a file, without PyTorch's
    advice to retry with ``weights_only=False`` (which would run code from the file)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        after = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        reason = after[0].split(" Please ")[0].rstrip(". ") if after else ""
        return (f"it is not plain weights and values ({reason or 'unreadable pickle'}); files "
                "are only read with weights_only=True")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _convert(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {_convert(k): _convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_convert(v) for v in value)
    return value


def _reads_back(value: Any) -> bool:
    buffer = io.BytesIO()
    try:
        torch.save(value, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception:
        return False
    return True


def _first_unreadable(value: Any, name: str) -> str:
    """The entry of ``value`` (named from ``name``) that ``weights_only=True`` cannot read."""
    items = (value.items() if isinstance(value, Mapping) else enumerate(value)
             if isinstance(value, (list, tuple)) else ())
    for key, child in items:
        if not _reads_back(key):
            return f"{name} key {key!r} (a {type(key).__name__})"
        if not _reads_back(child):
            return _first_unreadable(child, f"{name}[{key!r}]")
    return f"{name} (a {type(value).__name__})"


def plain_values(value: Any, name: str = "meta") -> Any:
    """``value`` made storable in a file that ``torch.load(weights_only=True)`` reads back:
    NumPy scalars become Python numbers, NumPy arrays lists, paths strings (recursively through
    dicts, lists and tuples). Anything else that would not read back raises
    :class:`TypeError` naming the entry, at save time rather than at load time.

    Example:
        >>> plain_values({"psnr": np.float64(30.5), "file": Path("a/b.pt")})
        {'psnr': 30.5, 'file': 'a/b.pt'}
    """
    converted = _convert(value)
    if not _reads_back(converted):
        raise TypeError(f"{_first_unreadable(converted, name)} cannot be stored: files hold "
                        "plain values only (numbers, strings, bools, None, lists, tuples, dicts, "
                        "tensors)")
    return converted


def strict_json(value: Any, where: str = "") -> tuple[Any, dict[str, str]]:
    """``value`` with every NaN and infinity (Python or NumPy floats, inside dicts, lists and
    tuples) replaced by ``None``, and ``{JSON pointer: "NaN" | "Infinity" | "-Infinity"}`` of
    what was replaced (RFC 6901 pointers such as ``/images/0/psnr_noisy``).

    Example:
        >>> strict_json({"psnr": [30.5, float("inf")]})
        ({'psnr': [30.5, None]}, {'/psnr/1': 'Infinity'})
    """
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v):
            return value, {}
        return None, {where or "/": "NaN" if math.isnan(v) else
                      ("Infinity" if v > 0 else "-Infinity")}
    replaced: dict[str, str] = {}
    if isinstance(value, Mapping):
        out = {}
        for key, child in value.items():
            token = str(key).replace("~", "~0").replace("/", "~1")
            out[key], found = strict_json(child, f"{where}/{token}")
            replaced.update(found)
        return out, replaced
    if isinstance(value, (list, tuple)):
        items = []
        for i, child in enumerate(value):
            item, found = strict_json(child, f"{where}/{i}")
            items.append(item)
            replaced.update(found)
        return items, replaced
    return value, replaced


#: Key of the entry :func:`write_json` adds to a dict that held non-finite numbers.
NON_FINITE_KEY = "non_finite"


def write_json(path: str | os.PathLike, value: Any, *, indent: int | None = 2,
               default: Callable[[Any], Any] | None = None) -> Path:
    """Write ``value`` to ``path`` as strict JSON (RFC 8259), atomically.

    :func:`json.dump` writes NaN and infinities as bare ``NaN`` / ``Infinity``, which strict
    parsers (JavaScript's, jq, most languages' standard libraries) reject. Here they are
    written as ``null``, and when ``value`` is a dict, an entry ``"non_finite"`` says which
    values they stand for: ``{"/images/0/psnr_noisy": "Infinity"}`` (a JSON pointer to each
    entry; e.g. the PSNR of two identical images is +Infinity). The file is then written with
    ``allow_nan=False``, so nothing non-standard can slip through.

    Args:
        path: the file.
        value: dicts, lists, tuples, strings, numbers, bools and ``None``.
        indent: as :func:`json.dump`'s. (Default: 2)
        default: as :func:`json.dump`'s, for other objects (e.g. ``str``).

    Example:
        >>> import tempfile, os, json
        >>> target = os.path.join(tempfile.mkdtemp(), "r.json")
        >>> json.loads(write_json(target, {"psnr": float("inf")}).read_text())
        {'psnr': None, 'non_finite': {'/psnr': 'Infinity'}}
    """
    if default is not None:  # convert what json would convert, then look for non-finite
        value = json.loads(json.dumps(value, default=default, allow_nan=True))
    value, replaced = strict_json(value)
    if replaced:
        if not isinstance(value, dict):
            raise ValueError(f"cannot write {path} as strict JSON: it holds non-finite numbers "
                             f"at {sorted(replaced)}")
        value = {**value, NON_FINITE_KEY: {**value.get(NON_FINITE_KEY, {}), **replaced}}
    with atomic_open(path, "w") as f:
        json.dump(value, f, indent=indent, allow_nan=False)
        f.write("\n")
    return Path(path)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"a bare {name} (strict JSON has none)")


def _restore(value: Any, pointer: str, number: float) -> None:
    """Put ``number`` back at the JSON pointer ``pointer`` of ``value`` (in place)."""
    *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    for token in parents:
        value = value[int(token) if isinstance(value, list) else token]
    value[int(last) if isinstance(value, list) else last] = number


def read_json(path: str | os.PathLike) -> Any:
    """Read a file :func:`write_json` wrote: strict JSON (a bare ``NaN`` or ``Infinity`` is
    refused), with the non-finite numbers its ``"non_finite"`` entry lists put back in place
    (and that entry removed).

    Raises:
        ValueError: the file is not strict JSON, or its ``"non_finite"`` entry points nowhere.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "r.json")
        >>> read_json(write_json(target, {"psnr": [1.0, float("nan")]}))
        {'psnr': [1.0, nan]}
    """
    try:
        value = json.loads(Path(path).read_text(), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path} is not strict JSON: {exc}") from None
    if isinstance(value, dict) and NON_FINITE_KEY in value:
        replaced = value.pop(NON_FINITE_KEY)
        numbers = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        try:
            for pointer, name in dict(replaced).items():
                _restore(value, pointer, numbers[name])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: a broken {NON_FINITE_KEY!r} entry ({exc!r})") from None
    return value


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    # Reached when "." itself reads as missing: Python >= 3.14's exists() is False, not a
    # PermissionError, in a working folder without search permission.
    return Path.cwd()


def writable_folder(path: str | os.PathLike, name: str = "out", create: bool = True, *,
                    file: Path | None = None) -> Path:
    """Check that files can be written in the folder ``path`` (creating it when ``create``);
    :class:`ValueError` naming ``name`` otherwise (a file in the way, no permission...).
    ``create=False`` checks without leaving anything behind: the nearest existing folder on
    the way must be writable. ``file``: the file to be written there, which the messages then
    name (see :func:`writable_file`).

    Example:
        >>> import tempfile, os
        >>> writable_folder(os.path.join(tempfile.mkdtemp(), "a", "b")).is_dir()
        True
    """
    path = Path(path)
    base = _existing_ancestor(path)
    if not base.is_dir():
        if file is not None:
            raise ValueError(f"{name}: cannot write {file}: {base} is a file, not a folder")
        where = "is a file" if base == path else f"lies under the file {base}"
        raise ValueError(f"{name} must be a folder, but {path} {where}")
    if not os.access(base, os.W_OK | os.X_OK):
        target = f"in {path}" if file is None else file
        raise ValueError(f"{name}: cannot write {target} (no write permission on {base})")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{name}: cannot create the folder {path} "
                             f"({exc.strerror or exc})") from None
    return path


def writable_file(path: str | os.PathLike, name: str = "out") -> Path:
    """Check, without writing anything, that the file ``path`` can be written;
    :class:`ValueError` naming ``name`` otherwise (a folder at ``path``, a read-only folder...).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name} must be a file, but {path} is a folder")
    writable_folder(path.parent, name, create=False, file=path)
    return path


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


def resolve_device(name: str | torch.device, local_rank: int = 0,
                   flag: str = "device") -> torch.device:
    """``"auto"`` -> CUDA (``cuda:local_rank``) when available, else the CPU; other names are
    checked before anything is loaded onto them, and refused with a :class:`ValueError` that
    names ``flag`` (``--device`` on the command line): an unknown name, ``meta`` (it holds no
    data), a CPU index other than 0 (there is one CPU device), CUDA without a GPU or with
    fewer GPUs than the index, and MPS or XPU where PyTorch does not find them.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if str(name) == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device(
            "cpu")
    expected = "auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{flag} must be {expected}, got {name!r}") from exc
    if device.type == "cpu":
        if device.index not in (None, 0):
            raise ValueError(f"{flag} {name}: there is one CPU device (cpu or cpu:0)")
        return torch.device("cpu")  # cpu:0 is cpu (torch.load cannot map to "cpu:0")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{flag} {name} requested but CUDA is not available")
        if (device.index or 0) >= count:
            raise ValueError(f"{flag} {name} requested but there are only {count} CUDA "
                             "device(s)")
    elif device.type in ("mps", "xpu"):
        backend = getattr(torch.backends, "mps", None) if device.type == "mps" else getattr(
            torch, "xpu", None)
        if backend is None or not backend.is_available():
            raise ValueError(f"{flag} {name} requested but {device.type.upper()} is not "
                             f"available on this machine; use {expected}")
    else:
        raise ValueError(f"{flag} must be {expected}, got {name!r} (models and images cannot "
                         f"be computed on {device.type!r})")
    return device
