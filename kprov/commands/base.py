"""What a command is, and how one is executed: confirmation, run record, site lock, stages, result."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from kprov.engine import signals
from kprov.engine.lock import SiteLock
from kprov.engine.runner import StageOutcome, run_stages
from kprov.engine.runs import Run
from kprov.engine.stage import Session, Stage
from kprov.errors import Interrupted, KprovError, UsageError
from kprov.exitcodes import ExitCode

Ask = Callable[[str], bool]


@dataclass(frozen=True)
class Command:
    """A command: its stages in order (they may depend on the site: targets add stages), whether it takes the
    site lock, whether it leaves a run in the run store, the question it must have answered first, and what
    must hold before anything is written (``requires`` raises a :class:`~kprov.errors.KprovError` if not)."""

    name: str
    stages: Callable[[Session], Sequence[Stage]]
    locks: bool = True
    records: bool = True
    confirm: Callable[[Session], str] | None = None
    refusal: str = "go on"
    """What the refusal without a terminal says kprov will not do (``refusing to destroy without ...``)."""
    requires: Callable[[Session], object] | None = None


def renderable(session: Session) -> object:
    """The site's Kubernetes version is one its Kubespray supports (when that tree is on disk already), and what
    rendering reads besides the site file (the SSH public key new machines get) is there."""
    from kprov.render import site_context  # noqa: PLC0415 - jinja2 and the targets, only when rendering
    from kprov.site.load import check_kubernetes_version  # noqa: PLC0415

    check_kubernetes_version(session.loaded)
    return site_context(session.loaded)


def confirm(question: str, *, yes: bool, ask: Ask | None, refusal: str) -> None:
    """Go on only if ``yes`` was given or a person on a terminal said so."""
    if yes:
        return
    if ask is None or not sys.stdin.isatty():
        raise UsageError(f"refusing to {refusal} without confirmation: no terminal to ask on; pass --yes")
    if not ask(question):
        raise UsageError("not confirmed; nothing was changed")


def execute(command: Command, session: Session, *, yes: bool = False, ask: Ask | None = None,
            finish: Callable[[Session, list[StageOutcome]], Any] | None = None) -> Any:
    """Run ``command`` on the session; ``finish`` turns the outcomes into the command's result (inside the run
    and the lock, so its events are recorded too).

    Nothing is written before the command's requirements hold, its question is answered and its lock is held:
    a refused command leaves no run behind. Tools run with umask 077, so what they create in the workdir
    (Terraform's ``.terraform``, Ansible's artifacts) is private like the rest of it."""
    if command.requires is not None:
        command.requires(session)
    if command.confirm is not None:
        confirm(command.confirm(session), yes=yes, ask=ask, refusal=command.refusal)
    old_umask = os.umask(0o077)
    try:
        lock = SiteLock(session.workdir.ensure().lock_file, command.name) if command.locks else nullcontext()
        with lock:
            if command.records:
                session.run = Run(session.workdir.runs, command.name).attach(session.events)
            try:
                outcomes = run_stages(session, command.stages(session))
                result = finish(session, outcomes) if finish is not None else outcomes
            except Interrupted as exc:
                _close(session, "interrupted", int(exc.exit_code), _first_line(exc))
                raise
            except KprovError as exc:
                _close(session, "failed", int(exc.exit_code), _first_line(exc))
                raise
            except KeyboardInterrupt as exc:
                _close(session, "interrupted", int(signals.exit_code(exc)), f"interrupted by {signals.name(exc)}")
                raise
            except BaseException as exc:
                # the type only: an unexpected exception's text may quote anything, a secret included
                _close(session, "error", int(ExitCode.ERROR), f"internal error: {type(exc).__name__}")
                raise
            _close(session, "ok", int(ExitCode.OK))
            return result
    finally:
        os.umask(old_umask)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _close(session: Session, result: str, exit_code: int, message: str = "") -> None:
    if session.run is not None:
        session.run.close(session.events, result=result, exit_code=exit_code, message=message)
