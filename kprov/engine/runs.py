"""The run store: every command that acts on a site leaves ``<workdir>/runs/<time>-<command>/``.

In it: ``events.jsonl`` (exactly the events ``--output json`` prints, one per line, written as they happen),
``result.json`` (command, start and end, result, exit code, message), and beside them whatever the tools left
(Terraform's event logs and plan, ansible-runner's private data dir, JUnit files). ``kprov status`` lists the
last runs from here. Like the workdir, every run folder is 0700 and holds no secret.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kprov.engine.workdir import private_dir, write_atomic
from kprov.events import Events, JsonSink

EVENTS = "events.jsonl"
RESULT = "result.json"


KEEP = 100
"""Runs kept per site: the oldest go when a new one starts (a no-op `up` from cron makes one every time)."""


class Run:
    """One run's folder, recording the events it is given (as ``--output json`` prints them) until closed."""

    def __init__(self, runs: Path, command: str) -> None:
        self.command = command
        self.started = datetime.now(UTC)
        prune(runs, KEEP - 1)
        self.dir = private_dir(runs / f"{self.started.strftime('%Y%m%dT%H%M%S.%fZ')}-{command}")
        fd = os.open(self.dir / EVENTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sink: JsonSink | None = JsonSink(os.fdopen(fd, "a", encoding="utf-8"))

    def attach(self, events: Events) -> Run:
        if self._sink is not None:
            events.sinks.append(self._sink)
        return self

    def close(self, events: Events, *, result: str, exit_code: int, message: str = "") -> None:
        """Stop recording and write ``result.json``."""
        if self._sink is not None:
            if self._sink in events.sinks:
                events.sinks.remove(self._sink)
            self._sink.stream.close()
            self._sink = None
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


def prune(runs: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` runs."""
    if not runs.is_dir():
        return
    for old in sorted((p for p in runs.iterdir() if p.is_dir()), reverse=True)[keep:]:
        shutil.rmtree(old, ignore_errors=True)


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
