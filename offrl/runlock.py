"""One writer per run folder: an exclusive ``fcntl.flock`` on ``results/<run>/.lock``.

Every trainer takes the lock of its run folder before it writes anything there, so two processes
(two sweep launchers, a launcher and a hand-started ``offrl train``, two Ray workers after a retry)
never train the same run at the same time. The lock belongs to an open file, not to the file's
existence: when its owner exits or is killed, even by SIGKILL, the operating system releases it, and
the next process takes it over and resumes the run from its checkpoint. The file itself stays, with
the last owner's pid, host and start time in it (for messages and for tools that want to signal
the owner).

``flock`` works across processes of one host, and on shared file systems whose client forwards it
(Linux NFSv4 maps it onto byte-range locks; Lustre with ``-o flock``; CephFS). On a file system that
ignores it, two hosts could both train a run: give each host its own results root there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from offrl.errors import OffrlError

__all__ = ["LOCK_NAME", "RunFolderError", "RunLock", "RunLockedError", "folder_problem", "holder", "is_locked",
           "run_lock"]

LOCK_NAME = ".lock"


class RunLockedError(OffrlError):
    """The run folder is locked by another live process; ``owner`` holds what it wrote (pid, host)."""

    def __init__(self, message: str, owner: dict | None = None):
        super().__init__(message)
        self.owner = owner or {}


class RunFolderError(OffrlError):
    """The run folder cannot be created or written: a file in its way, a parent that does not exist and
    cannot be made, or no write permission."""


def folder_problem(path: str | os.PathLike, *, write: bool = True) -> str | None:
    """Why ``path`` cannot serve as a folder to write into, found without creating anything, worded to
    follow the path in a message (``is not a directory``, ``cannot be created: /data is not writable``); None
    when it looks usable: a writable folder, or a missing one whose nearest existing parent is a writable
    folder. A folder that the operating system refuses to create for another reason (``/proc/x``) is only
    found by creating it (:meth:`RunLock.acquire`). ``write=False``: the folder is only read, so only
    something other than a folder in its place is a problem (a missing or read-only one may hold, or be
    about to hold, what is read)."""
    path = Path(path)
    existing = path
    try:
        # Path.exists is False below a regular file too (ENOTDIR), so the walk stops at that file
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        is_dir = existing.is_dir()
    except OSError as e:  # a parent without search permission
        return f"cannot be reached ({e.strerror}: {e.filename})"
    if existing == path:
        if not is_dir:
            return "is not a directory"
        return None if not write or os.access(path, os.W_OK | os.X_OK) else "is not writable"
    if not is_dir:
        return f"cannot be created: {existing} is not a directory"
    return None if not write or os.access(existing, os.W_OK | os.X_OK) else \
        f"cannot be created: {existing} is not writable"


def _read_owner(path: Path) -> dict:
    try:
        owner = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _describe(owner: dict) -> str:
    if not owner.get("pid"):
        return "another process"
    where = f" on {owner['host']}" if owner.get("host") and owner["host"] != socket.gethostname() else ""
    return f"another process (pid {owner['pid']}{where})"


class RunLock:
    """The exclusive lock of one run folder; use :func:`run_lock` or ``with RunLock(dir, name):``.

    Args:
      run_dir: the run folder (created if missing).
      name: how messages call the run (default: the folder's name).
      wait_s: how long :meth:`acquire` keeps trying before it gives up. A short wait absorbs the
        instant in which a status probe (:func:`is_locked`) holds the lock.
    """

    def __init__(self, run_dir: str | os.PathLike, name: str | None = None, *, wait_s: float = 2.0):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.name = name or self.run_dir.name
        self.wait_s = wait_s
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock and write this process's pid, host and start time into the lock file.

        Raises:
          RunLockedError: another live process holds it (after ``wait_s``).
          RunFolderError: the run folder or its lock file cannot be created (the reason named).
        """
        if self._fd is not None:
            return self
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            # one line naming the folder and why, not a traceback from deep in pathlib
            why = folder_problem(self.run_dir) or f"cannot be created ({e.strerror}: {e.filename})"
            raise RunFolderError(f"run folder {self.run_dir} {why}") from None
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    owner = _read_owner(self.path)
                    raise RunLockedError(
                        f"run {self.name} is being trained by {_describe(owner)}; "
                        "wait for it to finish, or stop that process and rerun to resume", owner) from None
                time.sleep(0.05)
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the file and its last owner's details stay)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, name: str | None = None, *, wait_s: float = 2.0) -> Iterator[RunLock]:
    """``with run_lock(run_dir):`` holds the run folder's lock for the block (see :class:`RunLock`)."""
    lock = RunLock(run_dir, name, wait_s=wait_s).acquire()
    try:
        yield lock
    finally:
        lock.release()


def holder(run_dir: str | os.PathLike) -> dict | None:
    """What the live owner of ``run_dir``'s lock wrote (``{"pid", "host", "since"}``), or None when
    nobody holds it. Probing takes the lock for an instant when it is free."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_owner(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def is_locked(run_dir: str | os.PathLike) -> bool:
    """Whether a live process holds ``run_dir``'s lock."""
    return holder(run_dir) is not None
