"""One kprov at a time per site.

The lock is an ``flock`` on ``<workdir>/lock``, so a process that dies releases it at once (no stale lock can
block anyone), and the file names its holder (pid, host, command, start time) for the refusal message. A lock
file left by a dead process is reported as stale and taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from kprov.errors import LockHeld


class SiteLock:
    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.command = command
        self._fd: int | None = None
        self.stale_holder: dict[str, object] | None = None

    def holder(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def held_by(self) -> dict[str, object] | None:
        """Who holds the lock now (a dead holder's record is not a holder: the kernel released its lock)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self.holder() or {}
        finally:
            os.close(fd)  # (closing also drops the shared lock taken)
        return None

    def acquire(self) -> SiteLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            h = self.holder() or {}
            raise LockHeld(
                f"site is locked by pid {h.get('pid', '?')} on {h.get('host', '?')} "
                f"({h.get('command', '?')}, since {h.get('started', '?')}); lock file {self.path}"
            ) from None
        self.stale_holder = self.holder()
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                  "started": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> SiteLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
