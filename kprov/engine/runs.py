"""The run store: every command that acts on a site leaves ``<workdir>/runs/<time>-<command>/``.

In it: ``events.jsonl`` (exactly the events ``--output json`` prints, one per line, written as they happen),
``result.json`` (command, start and end, result, exit code, message), and beside them whatever the tools left
(Terraform's event logs and plan, ansible-runner's private data dir, JUnit files). ``kprov status`` lists the
last runs from here. Like the workdir, every run folder is 0700 and holds no secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kprov.engine.workdir import private_dir, write_atomic
from kprov.events import Event, Events

EVENTS = "events.jsonl"
RESULT = "result.json"


class Run:
    """One run's folder, recording the events it is given until it is closed."""

    def __init__(self, runs: Path, command: str) -> None:
        self.command = command
        self.started = datetime.now(UTC)
        self.dir = private_dir(runs / f"{self.started.strftime('%Y%m%dT%H%M%S.%fZ')}-{command}")
        self._stream: IO[str] | None = (self.dir / EVENTS).open("a", encoding="utf-8")
        (self.dir / EVENTS).chmod(0o600)

    def record(self, event: Event) -> None:
        if self._stream is not None:
            self._stream.write(event.as_json() + "\n")
            self._stream.flush()

    def attach(self, events: Events) -> Run:
        events.listeners.append(self.record)
        return self

    def close(self, events: Events, *, result: str, exit_code: int, message: str = "") -> None:
        """Stop recording and write ``result.json``."""
        if self.record in events.listeners:
            events.listeners.remove(self.record)
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        write_atomic(self.dir / RESULT, json.dumps({
            "command": self.command, "started": self.started.isoformat(timespec="milliseconds"),
            "finished": datetime.now(UTC).isoformat(timespec="milliseconds"), "result": result,
            "exit_code": exit_code, "message": message}, indent=2) + "\n")


@dataclass(frozen=True)
class RunRecord:
    """A past run as ``kprov status`` shows it."""

    name: str
    command: str
    started: str
    result: str
    exit_code: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.name, "command": self.command, "started": self.started, "result": self.result,
                "exit_code": self.exit_code, "message": self.message}


def last_runs(runs: Path, limit: int = 10) -> list[RunRecord]:
    """The newest ``limit`` runs, newest first; a run with no ``result.json`` is still running or was killed."""
    folders = sorted((p for p in runs.iterdir() if p.is_dir()), reverse=True)[:limit] if runs.is_dir() else []
    out = []
    for folder in folders:
        try:
            data = json.loads((folder / RESULT).read_text())
        except (OSError, ValueError):
            data = {"result": "unfinished"}
        command = str(data.get("command") or folder.name.partition("-")[2])
        out.append(RunRecord(folder.name, command, str(data.get("started", "")), str(data.get("result", "?")),
                             data.get("exit_code"), str(data.get("message", ""))))
    return out
