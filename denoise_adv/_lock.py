"""One writer per output: a lock held for the whole life of a run.

Every command that writes an output folder (``train``, ``benchmark``, ``reproduce``) takes the
lock file ``FOLDER/.denoise-adv.lock`` before it reads or writes anything there, and keeps it
until it returns; ``make-adv``, whose output is one file, takes ``.NAME.denoise-adv.lock``
next to that file. The lock is an operating-system lock on that file (:class:`filelock.FileLock`:
``flock`` on POSIX, ``msvcrt.locking`` on Windows), so:

- a second writer is refused at once, without waiting, with :class:`OutputInUseError` (a
  :class:`ValueError`: the command line prints it on one line and exits with status 2);
- the operating system drops the lock when its process ends, however it ends (SIGKILL, a
  crash, a full disk): a dead run never leaves its folder locked, and nothing has to guess
  whether a process id is still alive;
- the lock file itself stays in place after a run (deleting it would let two processes lock
  two different files of the same name); it is empty and hidden.

Because every writer holds the lock, a temporary file of :func:`denoise_adv._io.atomic_open`
found in a locked folder belongs to no live process: the commands delete such stale
temporaries only after they hold the lock, never before.

Under ``torchrun``, only process 0 takes the lock (the other processes work for the same run);
:meth:`OutputLock.acquire_on_main` shares its outcome so every process stops together.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import filelock

__all__ = ["LOCK_NAME", "OutputInUseError", "OutputLock"]

#: Name of the lock file inside a locked folder.
LOCK_NAME = ".denoise-adv.lock"


class OutputInUseError(ValueError):
    """Another live run holds the lock of the output (a :class:`ValueError`: a user error)."""


class OutputLock:
    """The lock of an output folder (or of one output file with ``file=True``).

    Args:
        path: the output folder (created on :meth:`acquire` if missing), or the output file
            with ``file=True`` (its folder must exist).
        file: lock one file (``.NAME.denoise-adv.lock`` beside it) instead of a folder.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with OutputLock(folder):
        ...     try:
        ...         OutputLock(folder).acquire()
        ...     except OutputInUseError:
        ...         print("refused: another run holds it")
        refused: another run holds it
        >>> OutputLock(folder).acquire().held  # released when the first run ended
        True
    """

    def __init__(self, path: str | os.PathLike, file: bool = False) -> None:
        self.path = Path(path)
        self.file = bool(file)
        self.lock_path = (self.path.parent / f".{self.path.name}{LOCK_NAME}" if self.file
                          else self.path / LOCK_NAME)
        self._lock = filelock.FileLock(os.fspath(self.lock_path), timeout=0)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return bool(self._lock.is_locked)

    def acquire(self) -> OutputLock:
        """Take the lock now or raise :class:`OutputInUseError`; creates the folder if needed.

        Raises:
            OutputInUseError: another live run (in this or another process) holds it.
            ValueError: the lock file cannot be created (no permission, a file in the way).
        """
        if self.held:
            return self
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except filelock.Timeout:
            what = "the output file" if self.file else "the output folder"
            raise OutputInUseError(
                f"{what} {self.path} is in use by another run (it holds the lock "
                f"{self.lock_path}); wait for that run to end or choose another output"
            ) from None
        except OSError as exc:
            raise ValueError(f"cannot lock {self.path}: cannot create {self.lock_path} "
                             f"({exc.strerror or exc})") from None
        return self

    def acquire_on_main(self, main: bool) -> OutputLock:
        """:meth:`acquire` in the main process (``main``) only; under ``torchrun`` every
        process then learns the outcome (a collective call: every process must make it), so
        all of them raise :class:`OutputInUseError` together instead of waiting forever."""
        error: ValueError | None = None
        if main:
            try:
                self.acquire()
            except ValueError as exc:
                error = exc
        shared = _shared(None if error is None else str(error))
        if error is not None:
            raise error
        if shared is not None:
            raise OutputInUseError(shared)
        return self

    def release(self) -> None:
        """Release the lock (nothing happens when it is not held)."""
        if self.held:
            self._lock.release(force=True)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"OutputLock({os.fspath(self.path)!r}, file={self.file}, held={self.held})"


def _shared(error: str | None) -> str | None:
    """Process 0's ``error`` on every process of an initialised process group (else as is)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return error
    box = [error]
    dist.broadcast_object_list(box, src=0)
    return box[0]
