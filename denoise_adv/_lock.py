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

Every writing command of the command line takes its output's lock in one place, before it
runs (:meth:`OutputLock.for_command`, called by ``denoise_adv.cli.main`` for every command
whose parser declares an output): the locks a command's library code takes on the same output
while the command holds it (a results folder, a training run) are then nested and free.

Under ``torchrun``, only process 0 takes the lock (the other processes work for the same run);
:meth:`OutputLock.acquire_on_main` shares its outcome so every process stops together.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import filelock

__all__ = ["LOCK_NAME", "OutputInUseError", "OutputLock"]

#: Name of the lock file inside a locked folder.
LOCK_NAME = ".denoise-adv.lock"


#: The lock files held by the running command (:meth:`OutputLock.for_command`): a lock of
#: the same file inside that command is nested (held already), not a second writer.
_COMMAND_HELD: set[str] = set()


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
        self._nested = False

    @property
    def _key(self) -> str:
        return os.path.realpath(self.lock_path)

    @classmethod
    @contextlib.contextmanager
    def for_command(cls, path: str | os.PathLike, file: bool = False) -> Iterator[OutputLock]:
        """Hold the lock of a command's output for the whole command (see the module
        docstring). A folder (or lock file) this made for a command that then fails is
        removed again when nothing else was written there, so a refused command leaves
        nothing behind.

        Example:
            >>> import tempfile
            >>> folder = tempfile.mkdtemp()
            >>> with OutputLock.for_command(folder):
            ...     with OutputLock(folder) as inner:  # the command's own code: nested
            ...         inner.held
            True
        """
        lock = cls(path, file)
        made = [p for p in (lock.lock_path, lock.lock_path.parent) if not p.exists()]
        lock.acquire()
        _COMMAND_HELD.add(lock._key)
        failed = True
        try:
            yield lock
            failed = False
        finally:
            _COMMAND_HELD.discard(lock._key)
            lock.release()
            if failed:
                _remove_if_untouched(made)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock (or the running command does, for it)."""
        return self._nested or bool(self._lock.is_locked)

    def acquire(self) -> OutputLock:
        """Take the lock now or raise :class:`OutputInUseError`; creates the folder if needed.

        Raises:
            OutputInUseError: another live run (in this or another process) holds it.
            ValueError: the lock file cannot be created (no permission, a file in the way).
        """
        if self.held:
            return self
        if self._key in _COMMAND_HELD:
            self._nested = True  # the running command holds it (for_command)
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
        """Release the lock (nothing happens when it is not held; a nested lock stays with
        the command that holds it)."""
        if self._nested:
            self._nested = False
        elif self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"OutputLock({os.fspath(self.path)!r}, file={self.file}, held={self.held})"


def _remove_if_untouched(made: list[Path]) -> None:
    """Remove the lock file and the folder :meth:`OutputLock.for_command` made, when the
    folder holds nothing else (a command refused before it wrote anything)."""
    lock_file, folder = made[0] if made else None, made[-1] if len(made) == 2 else None
    if folder is not None and any(p.name != LOCK_NAME for p in folder.iterdir()):
        return
    with contextlib.suppress(OSError):
        if lock_file is not None:
            lock_file.unlink()
        if folder is not None:
            folder.rmdir()


def _shared(error: str | None) -> str | None:
    """Process 0's ``error`` on every process of an initialised process group (else as is)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return error
    box = [error]
    dist.broadcast_object_list(box, src=0)
    return box[0]
