"""``--junit FILE`` on every command: the run's events as a JUnit report a CI shows as tests.

One test case per stage (``kprov.<command>``, named after the stage: passed, skipped with its reason, or failed
with its message), one per node a stage acted on (``kprov.<command>.<stage>``, named after the node: failed with
that node's errors), one per check (``kprov.<stage>.<node>``, named after the check), and, when the command
failed before any stage ran (an invalid site file, a refusal), one case for the command with what stderr said.
``kprov verify --junit`` writes its own report, a case per node and check."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kprov.events import Event


@dataclass
class _Case:
    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    skipped: str | None = None


@dataclass
class JUnitSink:
    """Collects the events of one command; :meth:`finish` writes the report."""

    path: Path
    command: str
    cases: list[_Case] = field(default_factory=list)
    _started: dict[str, float] = field(default_factory=dict)
    _hosts: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def handle(self, event: Event) -> None:
        stage, kind = event.stage, event.event
        if kind == "stage_start":
            self._started[stage] = time.monotonic()
            self._hosts[stage] = {}
        elif kind == "check" and event.host:
            self.cases.append(_Case(f"kprov.{stage}.{event.host}", str(event.data.get("check", "check")),
                                    float(event.data.get("seconds", 0.0)),
                                    None if event.data.get("ok") else event.message))
        elif event.host and stage in self._hosts:
            errors = self._hosts[stage].setdefault(event.host, [])
            if kind == "error":
                errors.append(event.message)
        if kind in ("stage_done", "stage_failed", "stage_interrupted", "stage_skip"):
            took = time.monotonic() - self._started.pop(stage, time.monotonic())
            failed = event.message or kind if kind in ("stage_failed", "stage_interrupted") else None
            self.cases.append(_Case(f"kprov.{self.command}", stage, took, failure=failed,
                                    skipped=event.message if kind == "stage_skip" else None))
            for host, errors in sorted(self._hosts.pop(stage, {}).items()):
                self.cases.append(_Case(f"kprov.{self.command}.{stage}", host,
                                        failure="; ".join(errors) if errors else None))

    def close(self) -> None:
        """(the report is written by :meth:`finish`, once the exit code is known)"""

    def finish(self, exit_code: int, lines: list[str]) -> None:
        if exit_code != 0 and not any(c.failure for c in self.cases):
            self.cases.append(_Case(f"kprov.{self.command}", self.command,
                                    failure="\n".join(lines) or f"exit code {exit_code}"))
        elif not self.cases:  # a command without stages (validate, status) that succeeded
            self.cases.append(_Case(f"kprov.{self.command}", self.command))
        suite = ET.Element("testsuite", name=f"kprov.{self.command}", tests=str(len(self.cases)),
                           failures=str(sum(1 for c in self.cases if c.failure)),
                           skipped=str(sum(1 for c in self.cases if c.skipped)),
                           time=f"{sum(c.seconds for c in self.cases):.3f}")
        for c in self.cases:
            case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name, time=f"{c.seconds:.3f}")
            if c.failure:
                ET.SubElement(case, "failure", message=c.failure.splitlines()[0][:500]).text = c.failure
            elif c.skipped is not None:
                ET.SubElement(case, "skipped", message=c.skipped)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tree = ET.ElementTree(suite)
        ET.indent(tree)
        tree.write(self.path, encoding="utf-8", xml_declaration=True)
