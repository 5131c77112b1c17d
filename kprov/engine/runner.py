"""Run a command's stages in order: skip what is unchanged, record what succeeded, report everything.

A stage whose fingerprint matches its last success is skipped (``force`` re-runs it). A failed or interrupted
stage records nothing, so the next run of the command resumes there. Ctrl-C reaches the tools first (Terraform
gets one SIGINT and saves its state; SIGTERM is handled the same, see :mod:`kprov.engine.signals`); the runner
reports the stage as interrupted (``stage_interrupted``) and lets the interruption through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kprov.engine import signals
from kprov.engine.stage import Session, Stage
from kprov.errors import Interrupted


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage: ``ran``, ``skipped`` (said so) or ``not-applicable`` (silently), and the
    stage's typed result when it ran."""

    stage: str
    status: str
    result: Any = None
    outputs: tuple[Path, ...] = ()
    """The files the stage left (see :meth:`Stage.outputs`), for the record of a converged site."""


def run_stages(session: Session, stages: Sequence[Stage]) -> list[StageOutcome]:
    ev = session.events
    outcomes: list[StageOutcome] = []
    for stage in stages:
        reason = stage.skip_reason(session)
        if reason is not None:
            if reason:
                ev.emit(stage.name, "stage_skip", reason)
            outcomes.append(StageOutcome(stage.name, "skipped" if reason else "not-applicable"))
            continue
        stage.prepare(session)
        fp = stage.fingerprint(session)
        if (fp is not None and not session.force and session.state.done(stage.name, fp)
                and stage.still_done(session)):
            ev.emit(stage.name, "stage_skip", "inputs unchanged since the last successful run")
            stage.restore(session)
            outcomes.append(StageOutcome(stage.name, "skipped", outputs=tuple(stage.outputs(session))))
            continue
        ev.emit(stage.name, "stage_start", stage.describe(session))
        try:
            result = stage.run(session)
        except (KeyboardInterrupt, Interrupted) as exc:
            ev.emit(stage.name, "stage_interrupted", f"interrupted by {signals.name(exc)}; the next run resumes "
                    "here", signal=signals.name(exc))
            raise
        except BaseException as exc:
            text = str(exc)
            ev.emit(stage.name, "stage_failed", text.splitlines()[0] if text else type(exc).__name__)
            raise
        if fp is not None:
            session.state.record(stage.name, fp)
        ev.emit(stage.name, "stage_done", stage.done_message(result))
        outcomes.append(StageOutcome(stage.name, "ran", result, tuple(stage.outputs(session))))
    return outcomes
