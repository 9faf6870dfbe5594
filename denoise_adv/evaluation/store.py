"""The results folder of a benchmark run: what it holds, and the finished work a rerun skips.

Layout of ``out/``:

- ``protocol.json``: the schema version, the protocol (every field), the reference model's
  fingerprint and the attacks' ``amp``. A run under another protocol (or reference, or
  precision) refuses the folder.
- ``models/MODEL.json``: each model's fingerprint; another model under the same label is
  refused (its rows would be stale).
- ``rows/MODEL/IMAGE-sSEED.json``: one finished (model, image, noise seed) row and its time,
  written atomically as it finishes, as strict JSON (:func:`~denoise_adv._io.write_json`: a
  NaN is ``null``) with the sha256 of its own content; a rerun skips it while the image's
  pixels are the same and the content matches its hash (an edited or damaged row is computed
  again, with a warning). :func:`write_row_file` and :func:`read_row_file` are its one writer
  and reader.
- ``worst/MODEL/IMAGE-sSEED.png``: the denoised worst case of that row (headline budget).
- ``cache/transfer/IMAGE-sSEED.pt``: the transfer inputs of an image, crafted once (per
  version of its pixels).
- ``results.json``, ``leaderboard.md``, ``leaderboard.html`` (one self-contained page),
  ``robust_vs_budget.png``, ``worst_case_strip.png``: the merged results (written last, by
  process 0).
- ``.denoise-adv.lock``: the lock of the run that writes the folder (:mod:`denoise_adv._lock`).

One writer: :meth:`ResultsFolder.open` takes the folder's lock (process 0 under ``torchrun``)
before it deletes stale temporaries or writes anything, and :meth:`ResultsFolder.close`
releases it; a second run into a folder in use is refused
(:class:`~denoise_adv._lock.OutputInUseError`, a :class:`ValueError`).

Identity by content: rows and cached transfer inputs record ``pixel_sha256``, the
:func:`~denoise_adv.data.pixel_sha256` of the image they were computed on (after the
protocol's crop). A row or cache entry whose image has changed since (or that records no
hash: folders of earlier versions) is stale: it is recomputed, never reused, so editing an
image of a data folder cannot leave old numbers under its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .._io import (
    atomic_torch_save,
    load_weights,
    read_json,
    remove_stale_temporaries,
    strict_json,
    write_json,
)
from .._lock import OutputLock
from ..data import pixels_of, save_png
from .protocol import Protocol

__all__ = ["SCHEMA_VERSION", "ResultsFolder", "read_row_file", "recorded_differences",
           "write_row_file"]

#: Version of the layout of ``results.json`` and of the folder's files (2: t-intervals, rank
#: groups by Holm, per-image values; verified strict row files).
SCHEMA_VERSION = 2


def safe_name(text: str) -> str:
    """``text`` as a file name (anything but letters, digits, ``.``, ``_``, ``-`` -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip(".") or "_"


def _write_json(path: Path, value: Any) -> None:
    """The store's own small files (protocol, models), strict JSON as every file we write."""
    write_json(path, value, indent=1)


def recorded_differences(saved: Any, new: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """The ``keys`` whose values differ between a recorded protocol ``saved`` (read from its
    JSON file) and ``new`` (compared in their JSON form): the one comparison behind every
    "this folder holds another protocol" refusal.

    Example:
        >>> recorded_differences({"sigma": 0.1, "seed": 0}, {"sigma": 0.1, "seed": (1,)},
        ...                      ["sigma", "seed"])
        ['seed']
    """
    saved = saved if isinstance(saved, dict) else {}
    return [k for k in keys if saved.get(k) != json.loads(json.dumps(new.get(k)))]


def _content_sha256(body: Mapping[str, Any]) -> str:
    """The sha256 of a row record's content (its strict-JSON form, keys sorted)."""
    strict, replaced = strict_json(body)
    text = json.dumps([strict, replaced], sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def write_row_file(path: str | os.PathLike, row: Mapping[str, Any], seconds: float) -> Path:
    """Write a finished row and its time as strict JSON with the sha256 of that content: the
    one writer of row files (read back by :func:`read_row_file`).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "row.json")
        >>> read_row_file(write_row_file(path, {"psnr": float("nan")}, 1.5))["seconds"]
        1.5
    """
    body = {"row": dict(row), "seconds": float(seconds)}
    return write_json(path, {**body, "sha256": _content_sha256(body)}, indent=1)


def read_row_file(path: str | os.PathLike) -> dict[str, Any] | None:
    """``{"row", "seconds"}`` of a row file :func:`write_row_file` wrote, or ``None`` with a
    warning when the file is not one: not strict JSON, no hash (a folder of an earlier
    version), or content that does not match its hash (edited or damaged). The caller then
    computes the row again; nothing unverified reaches the results."""
    try:
        record = read_json(path)
        body = {"row": record["row"], "seconds": record["seconds"]}
        verified = record["sha256"] == _content_sha256(body)
    except (ValueError, KeyError, TypeError) as exc:
        verified, body = False, f"{type(exc).__name__}: {exc}"
    if not verified:
        warnings.warn(f"{path} is not a verified row (edited, damaged or of an earlier "
                      f"version{'' if isinstance(body, dict) else ': ' + body}): it is computed "
                      "again", stacklevel=2)
        return None
    return body


class ResultsFolder:
    """The files of one results folder (see the module docstring).

    Args:
        out: the folder (created if missing).
        protocol: the protocol of the run.
        reference: the reference model's fingerprint.
        amp: the attacks' mixed precision (``None``: float32); rows crafted under another
            setting are refused rather than mixed.
    """

    def __init__(self, out: str | os.PathLike, protocol: Protocol, reference: str,
                 amp: str | None = None) -> None:
        self.path = Path(out)
        self.protocol = protocol
        self.meta = {"schema_version": SCHEMA_VERSION, "protocol": protocol.as_dict(),
                     "reference_fingerprint": reference, "amp": amp}
        self.pixels: dict[str, str] = {}
        self._lock = OutputLock(self.path)

    def open(self, models: dict[str, str], write: bool,
             images: Sequence[tuple[str, torch.Tensor]]) -> None:
        """Check that the folder holds this protocol's results and the same models under
        their labels (``{label: fingerprint}``); with ``write``, lock the folder (until
        :meth:`close`) and claim it for them. ``images``: the run's ``[(name, clean)]``,
        whose pixel hashes decide which rows are current.

        Every process of a ``torchrun`` group must call it (process 0 with ``write``).
        """
        self.pixels = pixels_of(images)
        self._check(models)  # before the lock: a refused run leaves nothing behind
        self._lock.acquire_on_main(write)
        try:
            self._claim(models, write)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the folder's lock (taken by :meth:`open` with ``write``)."""
        self._lock.release()

    def _check(self, models: dict[str, str]) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"out must be a folder, but {self.path} is a file")
        self._check_protocol()
        if len({safe_name(label) for label in models}) != len(models):
            raise ValueError(f"model labels must differ as file names, got {sorted(models)}")
        for label, print_ in models.items():
            path = self.path / "models" / f"{safe_name(label)}.json"
            if path.is_file() and json.loads(path.read_text())["fingerprint"] != print_:
                raise ValueError(f"{self.path} already holds results of another model labelled "
                                 f"{label!r} (different weights or settings): use another --out")

    def _claim(self, models: dict[str, str], write: bool) -> None:
        """Under the lock: check again (another run may have written meanwhile), delete the
        temporaries no live process owns, record the protocol and the models."""
        self._check(models)
        if not write:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path, ("protocol.json", "results.json", "leaderboard.md",
                                             "leaderboard.html"))
        if not (self.path / "protocol.json").is_file():
            _write_json(self.path / "protocol.json", self.meta)
        for label, print_ in models.items():
            path = self.path / "models" / f"{safe_name(label)}.json"
            if not path.is_file():
                _write_json(path, {"label": label, "fingerprint": print_})

    def _check_protocol(self) -> None:
        path = self.path / "protocol.json"
        if not path.is_file():
            return
        try:
            stored = json.loads(path.read_text())
            old = stored["protocol"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a benchmark protocol file ({exc})") from exc
        new = self.meta["protocol"]
        if old.get("version") != new["version"]:
            raise ValueError(f"{self.path} holds results of protocol {old.get('version')}, not "
                             f"{new['version']}: use another --out (protocols never mix)")
        fields = sorted(recorded_differences(old, new, list({**old, **new})))
        if fields:
            raise ValueError(f"{self.path} holds results of a different protocol named "
                             f"{new['version']} (fields {', '.join(fields)} differ): use "
                             "another --out")
        if stored.get("reference_fingerprint") != self.meta["reference_fingerprint"]:
            raise ValueError(f"{self.path} holds results made with another reference model "
                             f"than {new['reference']} (its transfer inputs differ): use "
                             "another --out")
        if stored.get("amp") != self.meta["amp"]:
            raise ValueError(f"{self.path} holds attacks crafted with amp "
                             f"{stored.get('amp') or 'fp32'}, not {self.meta['amp'] or 'fp32'}: "
                             "use another --out (precisions never mix)")

    # -------------------------------------------------------------------------------- rows
    def _stem(self, kind: str, label: str, image: str, seed: int, suffix: str) -> Path:
        return self.path / kind / safe_name(label) / f"{safe_name(image)}-s{seed}{suffix}"

    def _current(self, image: str, recorded: Any) -> bool:
        """Whether a result recorded for pixels ``recorded`` is current for ``image``."""
        return image in self.pixels and recorded == self.pixels[image]

    def has_row(self, label: str, image: str, seed: int) -> bool:
        """Whether the row of (model, image, seed) is finished, on the image's current pixels."""
        return self.load_row(label, image, seed) is not None

    def load_row(self, label: str, image: str, seed: int) -> dict[str, Any] | None:
        """``{"row": ..., "seconds": ...}`` of a finished row, or ``None`` (none, or one
        computed on other pixels: stale)."""
        path = self._stem("rows", label, image, seed, ".json")
        if not path.is_file():
            return None
        record = read_row_file(path)
        if record is None or not isinstance(record["row"], dict):
            return None
        return record if self._current(image, record["row"].get("pixel_sha256")) else None

    def worst_path(self, label: str, image: str, seed: int) -> Path:
        """The PNG of the denoised worst case of a row."""
        return self._stem("worst", label, image, seed, ".png")

    def save_row(self, label: str, image: str, seed: int, row: dict[str, Any],
                 output: torch.Tensor, seconds: float) -> None:
        """Keep a finished row (its worst-case PNG first: a row file means both exist)."""
        save_png(output, self.worst_path(label, image, seed))
        row = {**row, "pixel_sha256": self._pixels_of(image)}
        write_row_file(self._stem("rows", label, image, seed, ".json"), row, seconds)

    def _pixels_of(self, image: str) -> str:
        if image not in self.pixels:
            raise ValueError(f"image {image!r} was not given to open(): its pixel hash is "
                             "unknown")
        return self.pixels[image]

    # ---------------------------------------------------------------------- transfer cache
    def _transfer_path(self, image: str, seed: int) -> Path:
        return self.path / "cache" / "transfer" / f"{safe_name(image)}-s{seed}.pt"

    def load_transfer(self, image: str, seed: int) -> dict[str, torch.Tensor] | None:
        """The cached transfer inputs of an image, or ``None``."""
        saved = self._load_transfer(image, seed)
        return None if saved is None else saved["inputs"]

    def _load_transfer(self, image: str, seed: int) -> dict[str, Any] | None:
        path = self._transfer_path(image, seed)
        if not path.is_file():
            return None
        saved = load_weights(path, "transfer inputs")
        return saved if self._current(image, saved.get("pixel_sha256")) else None

    def save_transfer(self, image: str, seed: int, inputs: dict[str, torch.Tensor],
                      seconds: float) -> None:
        """Cache the transfer inputs of an image (and the time they took)."""
        atomic_torch_save({"inputs": inputs, "seconds": seconds,
                           "pixel_sha256": self._pixels_of(image)},
                          self._transfer_path(image, seed))

    def transfer_seconds(self, image: str, seed: int) -> float | None:
        """Time spent crafting an image's transfer inputs (``None`` if not cached)."""
        saved = self._load_transfer(image, seed)
        return None if saved is None else float(saved["seconds"])
