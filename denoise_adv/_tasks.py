"""The restoration tasks' names and fixed numbers, without deepinv: the protocols (which must
import without the ``[deepinv]`` extra) and :mod:`denoise_adv.restoration` read them here."""

from __future__ import annotations

#: The tasks, in the order tables list them.
TASKS = ("deblur", "deblur-motion", "sr2", "sr4", "inpaint")

#: The tasks' measurement noise (Gaussian standard deviation, [0, 1] units).
DEFAULT_NOISE = 0.01

#: The super-resolution tasks' downsampling factors.
FACTORS = {"sr2": 2, "sr4": 4}


def check_task(task: object, name: str = "task") -> str:
    """``task`` if it is one of :data:`TASKS`, else :class:`ValueError` naming ``name``."""
    if task not in TASKS:
        raise ValueError(f"{name} must be one of {', '.join(TASKS)}, got {task!r}")
    return task
