"""Ctrl-C (SIGINT) and a cancelled CI job (SIGTERM: GitLab and Jenkins send it, then SIGKILL after a grace
period) end a run the same way: the tool that runs stops cleanly (Terraform gets one SIGINT and saves its state,
Ansible is stopped and waited for, SSH probes are killed), the stage is recorded as interrupted, the lock is
released, no child process is left, and kprov exits 130 (SIGINT) or 143 (SIGTERM).

SIGTERM is turned into :class:`Terminated`, a ``KeyboardInterrupt``, so every path that handles Ctrl-C handles it
too. Around a tool that must be stopped rather than abandoned, :func:`deferred` notes either signal instead of
raising it, the tool polls the function it yields and stops its child, and the signal is raised when the block
ends."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from kprov.errors import Interrupted
from kprov.exitcodes import ExitCode


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt."""


_noted: list[int] = []


def exit_code(exc: BaseException) -> ExitCode:
    """The exit code of an interruption (a KeyboardInterrupt, or a tool's :class:`Interrupted`): 143 for SIGTERM,
    130 for SIGINT."""
    if isinstance(exc, Interrupted):
        return exc.exit_code
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


def name(exc: BaseException) -> str:
    """``SIGTERM`` or ``SIGINT``: what interrupted."""
    return "SIGTERM" if exit_code(exc) == ExitCode.TERMINATED else "SIGINT"


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install() -> None:
    """SIGTERM raises :class:`Terminated` from now on (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


def _note(signum: int, frame: FrameType | None) -> None:
    _noted.append(signum)


@contextmanager
def deferred() -> Iterator[Callable[[], bool]]:
    """Inside the block SIGINT and SIGTERM are noted, not raised; the yielded function says whether one came.
    When the block ends, a noted signal is raised (SIGTERM wins). Outside the main thread it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    start = len(_noted)
    for s in before:
        signal.signal(s, _note)
    try:
        yield lambda: len(_noted) > start
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        came = _noted[start:]
        del _noted[start:]
        if came:
            raise Terminated() if signal.SIGTERM in came else KeyboardInterrupt()
