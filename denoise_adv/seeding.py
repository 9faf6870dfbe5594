"""Named random streams: ``(seed, stream, *keys) -> torch.Generator``.

Every random draw the package makes on the user's behalf (the noise of an image, an attack's
random start, a random baseline, the validation noise, a training patch) comes from a generator
named by *what* it is for, never by *when* it is drawn. So

- the same seed gives the same noise and the same perturbation for the same image in every
  command (``attack``, ``evaluate``, ``make-adv``, ``benchmark``, the demo), whatever else is in
  the folder and in whatever order the images come;
- a run can resume mid-epoch exactly, and DataLoader workers never share a stream;
- two streams never collide: keys are hashed with SHA-256 of an unambiguous encoding (the length
  of each key is part of it, so ``("ab", "c")`` and ``("a", "bc")`` differ).

The streams (:data:`STREAMS`) and their keys:

======================  =======================================  ==============================
stream                  keys                                     draws
======================  =======================================  ==============================
``"noise"``             image name                               the Gaussian noise of an image
``"attack"``            image name, attack name                  an attack's random start
``"baseline"``          image name, attack name                  random noise of the attack's norm
``"validation"``        --                                       validation noise while training
``"patch"``             epoch, item index                        a training patch's flip and noise
``"train-attack"``      step                                     adversarial training's start
``"worker"``            worker's ``torch.initial_seed()``        a seeded transform in a worker
``"bootstrap"``         number of images                         the benchmark's image resamples
======================  =======================================  ==============================
"""

from __future__ import annotations

import hashlib

import torch

from ._checks import check_int

__all__ = ["STREAMS", "generator", "seed_of"]

STREAMS = ("noise", "attack", "baseline", "validation", "patch", "train-attack", "worker",
           "bootstrap")


def _encode(key: object) -> bytes:
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise TypeError(f"stream keys must be int or str, got {type(key).__name__}")
    text = f"{type(key).__name__}:{key}".encode()
    return len(text).to_bytes(4, "little") + text


def seed_of(seed: int, stream: str, *keys: int | str) -> int:
    """The 63-bit seed of stream ``stream`` under ``keys`` for the run seed ``seed``.

    Example:
        >>> seed_of(0, "noise", "camera") == seed_of(0, "noise", "camera")
        True
        >>> seed_of(0, "noise", "camera") != seed_of(1, "noise", "camera")
        True
    """
    seed = check_int(seed, "seed")
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
    digest = hashlib.sha256(b"".join(_encode(k) for k in (seed, stream, *keys))).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, stream: str, *keys: int | str,
              device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh generator for stream ``stream`` under ``keys`` (see the table above).

    Args:
        seed: the run's seed (``--seed``).
        stream: one of :data:`STREAMS`.
        *keys: what the draw is for (image name, attack name, epoch, index...).
        device: device of the generator. (Default: ``"cpu"``; the package draws on the CPU and
            moves the result, so results do not depend on the device.)

    Example:
        >>> a = torch.randn(3, generator=generator(0, "noise", "camera"))
        >>> torch.equal(a, torch.randn(3, generator=generator(0, "noise", "camera")))
        True
    """
    return torch.Generator(device=device).manual_seed(seed_of(seed, stream, *keys))
