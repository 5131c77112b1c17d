"""One event stream, two renderings: people get rich output on stderr, machines get NDJSON on stdout.

Every stage reports through :class:`Events`; it never prints. An event is
``{"ts", "stage", "event", "host", "message", "data"}`` (see the README for the event names).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # rich is imported on first use: a no-op `kprov up` never needs it
    from rich.console import Console
    from rich.status import Status


@dataclass(frozen=True)
class Event:
    stage: str
    event: str
    message: str = ""
    host: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def as_json(self) -> str:
        return json.dumps(
            {"ts": self.ts, "stage": self.stage, "event": self.event, "host": self.host,
             "message": self.message, "data": self.data},
            sort_keys=False, default=str,
        )


class Sink(Protocol):
    def handle(self, event: Event) -> None: ...
    def close(self) -> None: ...


class JsonSink:
    """NDJSON on stdout: one object per line, flushed at once so a pipeline can follow live.

    A run's output ends with exactly one ``result`` event whose ``data.exit_code`` is the process's exit code
    (and ``data.ok``): the command's own ``result`` (held back until then, its data kept) or, when it failed or
    had none, one made by :meth:`finish`."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._result: Event | None = None

    def handle(self, event: Event) -> None:
        if event.event == "result":
            held = self._result
            self._result = event if held is None else Event(
                event.stage, "result", event.message or held.message, event.host, {**held.data, **event.data})
            return
        self.stream.write(event.as_json() + "\n")
        self.stream.flush()

    def fail(self, exit_code: int, lines: list[str], problems: list[dict[str, Any]] | None = None) -> None:
        """An ``error`` event with what the user sees on stderr (``problems``: a site file's, each with file,
        line, col, path, message), then the final ``result``."""
        data: dict[str, Any] = {"exit_code": exit_code, "lines": lines}
        if problems is not None:
            data["problems"] = problems
        self.handle(Event("kprov", "error", lines[0] if lines else "", None, data))
        self.finish(exit_code)

    def finish(self, exit_code: int, stage: str = "kprov") -> None:
        """Write the final ``result`` event."""
        held = self._result
        self._result = None
        stage, message, host, data = (held.stage, held.message, held.host, held.data) if held else (stage, "", None, {})
        final = Event(stage, "result", message, host, {**data, "exit_code": exit_code, "ok": exit_code == 0})
        self.stream.write(final.as_json() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class HumanSink:
    """Rich output on stderr: a spinner for the running stage, one line per finished step."""

    def __init__(self, console: Console | None = None, *, verbose: bool = False,
                 reports: IO[str] | None = None) -> None:
        self._console = console
        self.verbose = verbose
        self.reports = reports
        """Where a command's report goes (tables marked ``report``: ``kprov status``, ``snapshot list``,
        ``doctor``): stdout when the output is human, so ``kprov status site.yaml > file`` keeps it; None: stderr
        with everything else."""
        self._status: Status | None = None
        self._started: dict[str, float] = {}

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 - deferred import, see TYPE_CHECKING above

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def handle(self, event: Event) -> None:
        kind, stage = event.event, event.stage
        host = f"[cyan]{event.host}[/] " if event.host else ""
        if kind == "stage_start":
            self._started[stage] = time.monotonic()
            self._stop_status()
            if self.console.is_terminal:
                self._status = self.console.status(f"[bold]{stage}[/]: {event.message}")
                self._status.start()
            else:
                self.console.print(f"[bold]{stage}[/]: {event.message}")
        elif kind == "progress":
            if self._status is not None:
                self._status.update(f"[bold]{stage}[/]: {host}{event.message}")
            elif self.verbose:
                self.console.print(f"  {stage}: {host}{event.message}")
        elif kind == "stage_done":
            self._stop_status()
            took = time.monotonic() - self._started.pop(stage, time.monotonic())
            self.console.print(f"[green]✓[/] [bold]{stage}[/] {event.message} [dim]({took:.1f}s)[/]")
        elif kind == "stage_skip":
            self._stop_status()
            sys.stderr.write(f"- {stage} skipped: {event.message}\n")
        elif kind in ("stage_failed", "stage_interrupted", "error"):
            self._stop_status()
            self.console.print(f"[red]✗[/] [bold]{stage}[/] {host}{event.message}")
        elif kind == "warning":
            self.console.print(f"[yellow]![/] {stage}: {host}{event.message}")
        elif kind == "drained":
            self.console.print(f"[green]✓[/] {stage}: {event.message}")
        elif kind == "fixed":
            self.console.print(f"[green]✓[/] {stage}: fixed {host}{event.message}")
        elif kind == "table":
            self._stop_status()
            self._print_table(event.data, to=self.reports if event.data.get("report") else None)
        elif kind == "result" and event.message:
            sys.stderr.write(event.message + "\n")
        elif kind == "info" or self.verbose:
            self.console.print(f"  {stage}: {host}{event.message}")

    def _print_table(self, data: dict[str, Any], to: IO[str] | None = None) -> None:
        from rich.console import Console  # noqa: PLC0415 - deferred import
        from rich.table import Table  # noqa: PLC0415 - deferred import

        table = Table(title=data.get("title"))
        for col in data["columns"]:
            table.add_column(str(col))
        for row in data["rows"]:
            table.add_row(*[str(c) for c in row])
        (Console(file=to, highlight=False, soft_wrap=True) if to is not None else self.console).print(table)

    def close(self) -> None:
        self._stop_status()


class Events:
    """Fan-out of events to sinks. Stages receive one of these and nothing else for output."""

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = sinks if sinks is not None else []
        self.listeners: list[Callable[[Event], None]] = []

    def emit(self, stage: str, event: str, message: str = "", *, host: str | None = None,
             **data: Any) -> Event:
        ev = Event(stage=stage, event=event, message=message, host=host, data=data)
        for sink in self.sinks:
            sink.handle(ev)
        for listener in self.listeners:
            listener(ev)
        return ev

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def json_requested(args: Sequence[str]) -> bool:
    """Whether ``args`` ask for ``--output json`` (before or after the subcommand), as click will parse them."""
    for i, arg in enumerate(args):
        if arg == "--":
            return False
        if arg in ("-o", "--output") and i + 1 < len(args) and args[i + 1] == "json":
            return True
        if arg in ("--output=json", "-ojson", "-o=json"):
            return True
    return False


def null_events() -> Events:
    """Events that go nowhere: for library callers and unit tests that do not care."""
    return Events([])
