"""Files written safely: atomic writes, strict JSON, checksums.

The helpers the package itself writes every file with (checkpoints, reports, results, pages),
for scripts and studies built on the package: a reader never sees a half-written file
(:func:`atomic_open`, :func:`atomic_write`: a temporary file in the target's folder, moved into
place with :func:`os.replace`), JSON is strict (:func:`write_json` writes NaN and infinities as
``null`` and lists them under ``"non_finite"``; :func:`read_json` puts them back), and
:func:`file_sha256` is the checksum the model manifests record.

Example:
    >>> import math, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.json")
    >>> math.isinf(read_json(write_json(path, {"psnr": float("inf")}))["psnr"])
    True
"""

from __future__ import annotations

from ._io import atomic_open, atomic_write, file_sha256, read_json, write_json

__all__ = ["atomic_open", "atomic_write", "file_sha256", "read_json", "write_json"]
