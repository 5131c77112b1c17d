"""The engine on stages made for the test: skip on unchanged inputs, force, resume after a failure, what an
interruption leaves behind, and the order of events."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kprov.commands.base import Command, execute
from kprov.engine import signals
from kprov.engine.lock import SiteLock
from kprov.engine.signals import Terminated
from kprov.engine.stage import Session, Stage
from kprov.engine.workdir import Workdir
from kprov.errors import BootstrapError
from kprov.events import Event, Events


class Step(Stage):
    """A stage whose inputs, outcome and skip rule the test sets."""

    def __init__(self, name: str, log: list[str], *, fp: str | None = "1", fail: BaseException | None = None,
                 skip: str | None = None, present: bool = True) -> None:
        self.name = name  # type: ignore[misc]  # a ClassVar on real stages; per instance here
        self.log, self.fp, self.fail, self.skip, self.present = log, fp, fail, skip, present

    def skip_reason(self, session: Session) -> str | None:
        return self.skip

    def fingerprint(self, session: Session) -> str | None:
        return self.fp

    def still_done(self, session: Session) -> bool:
        return self.present

    def restore(self, session: Session) -> None:
        self.log.append(f"restore {self.name}")

    def run(self, session: Session) -> str:
        self.log.append(f"run {self.name}")
        if self.fail is not None:
            raise self.fail
        return f"result of {self.name}"


def _session(tmp_path: Path, seen: list[Event], *, force: bool = False) -> Session:
    events = Events()
    events.listeners.append(seen.append)
    loaded: Any = SimpleNamespace(name="test")
    return Session(loaded=loaded, workdir=Workdir(tmp_path / "work"), events=events, command="test", force=force)


def _kinds(seen: list[Event]) -> list[tuple[str, str]]:
    return [(e.stage, e.event) for e in seen]


def test_unchanged_stages_are_skipped_and_restored_force_reruns_them(tmp_path: Path) -> None:
    log: list[str] = []
    stages = [Step("a", log), Step("b", log, fp="x")]
    seen: list[Event] = []
    outcomes = execute(Command("test", lambda s: stages), _session(tmp_path, seen))
    assert [(o.stage, o.status, o.result) for o in outcomes] == [("a", "ran", "result of a"),
                                                                  ("b", "ran", "result of b")]
    assert _kinds(seen) == [("a", "stage_start"), ("a", "stage_done"), ("b", "stage_start"), ("b", "stage_done")]
    log.clear()
    seen.clear()
    execute(Command("test", lambda s: stages), _session(tmp_path, seen))
    assert log == ["restore a", "restore b"]
    assert _kinds(seen) == [("a", "stage_skip"), ("b", "stage_skip")]
    log.clear()
    execute(Command("test", lambda s: stages), _session(tmp_path, [], force=True))
    assert log == ["run a", "run b"]
    log.clear()
    stages[1].fp = "y"  # its inputs changed
    stages[0].present = False  # what it made is gone
    execute(Command("test", lambda s: stages), _session(tmp_path, []))
    assert log == ["run a", "run b"]


def test_a_failed_stage_records_nothing_and_the_next_run_resumes_there(tmp_path: Path) -> None:
    log: list[str] = []
    stages = [Step("a", log), Step("b", log, fail=BootstrapError("b broke")), Step("c", log)]
    seen: list[Event] = []
    with pytest.raises(BootstrapError):
        execute(Command("test", lambda s: stages), _session(tmp_path, seen))
    assert log == ["run a", "run b"]
    assert _kinds(seen)[-1] == ("b", "stage_failed") and seen[-1].message == "b broke"
    (run,) = (tmp_path / "work" / "runs").iterdir()
    result = json.loads((run / "result.json").read_text())
    assert (result["result"], result["exit_code"], result["message"]) == ("failed", 5, "b broke")
    log.clear()
    stages[1].fail = None
    execute(Command("test", lambda s: stages), _session(tmp_path, []))
    assert log == ["restore a", "run b", "run c"]


@pytest.mark.parametrize(("interruption", "code", "signal"), [(KeyboardInterrupt(), 130, "SIGINT"),
                                                               (Terminated(), 143, "SIGTERM")])
def test_an_interruption_is_recorded_as_such_and_releases_the_lock(tmp_path: Path, interruption: KeyboardInterrupt,
                                                                   code: int, signal: str) -> None:
    log: list[str] = []
    seen: list[Event] = []
    stages = [Step("a", log, fail=interruption)]
    with pytest.raises(KeyboardInterrupt):
        execute(Command("test", lambda s: stages), _session(tmp_path, seen))
    assert _kinds(seen) == [("a", "stage_start"), ("a", "stage_interrupted")]
    assert seen[-1].data == {"signal": signal}
    (run,) = (tmp_path / "work" / "runs").iterdir()
    assert json.loads((run / "result.json").read_text())["result"] == "interrupted"
    assert json.loads((run / "result.json").read_text())["exit_code"] == code
    assert [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()] == [
        "stage_start", "stage_interrupted"]
    SiteLock(tmp_path / "work" / "lock", "next").acquire().release()  # free again


def test_signals_deferred_around_a_tool_are_raised_when_it_is_done() -> None:
    import os  # noqa: PLC0415
    import signal as sig  # noqa: PLC0415

    with pytest.raises(Terminated), signals.deferred() as noted:
        assert not noted()
        os.kill(os.getpid(), sig.SIGTERM)  # noted, not raised: the tool gets to stop its child
        assert noted()
    with pytest.raises(KeyboardInterrupt) as raised, signals.deferred():
        os.kill(os.getpid(), sig.SIGINT)
    assert not isinstance(raised.value, Terminated)
    assert sig.getsignal(sig.SIGINT) is sig.default_int_handler  # the handlers are back


def test_skip_reasons_are_said_or_silent_and_unfingerprinted_stages_always_run(tmp_path: Path) -> None:
    log: list[str] = []
    stages = [Step("quiet", log, skip=""), Step("said", log, skip="nothing to do"), Step("always", log, fp=None)]
    for _ in range(2):
        seen: list[Event] = []
        outcomes = execute(Command("test", lambda s: stages, records=False, locks=False), _session(tmp_path, seen))
        assert [o.status for o in outcomes] == ["not-applicable", "skipped", "ran"]
        assert _kinds(seen) == [("said", "stage_skip"), ("always", "stage_start"), ("always", "stage_done")]
    assert log == ["run always", "run always"]
    assert not (tmp_path / "work" / "runs").exists()
