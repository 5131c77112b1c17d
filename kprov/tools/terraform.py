"""Drive Terraform (or OpenTofu) through its machine-readable ``-json`` UI.

Why not ``python-terraform``: its last release (0.10.1) is from 2019; ``destroy()`` always passes ``-force``,
which Terraform removed in 0.15; it cannot stream output (events arrive only when the process ends); it writes
dict variables to temp files (secrets on disk); and it logs plan's exit code 2 ("changes") as an error. Its forks
keep those defects. This module is small on purpose: it runs the CLI with argv lists, reads one JSON event per
line as it comes, turns events into kprov events and typed results, and raises :class:`TerraformError` with
Terraform's own diagnostics (file and line) when a command fails. User values never appear in argv: they are in
``*.auto.tfvars.json`` or, for secrets, ``TF_VAR_*`` environment variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kprov.engine.signals import Terminated
from kprov.errors import InfrastructureError, Interrupted, KprovError, LockHeld
from kprov.events import Events, null_events

MIN_VERSION = (1, 5, 0)
STAGE = "terraform"


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f" ({self.filename}:{self.line})" if self.filename else ""
        detail = f": {self.detail.strip().splitlines()[0]}" if self.detail.strip() else ""
        return f"{self.summary}{detail}{where}"


@dataclass(frozen=True)
class ChangeSummary:
    add: int = 0
    change: int = 0
    remove: int = 0

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.remove)

    def __str__(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.remove} to destroy"


@dataclass(frozen=True)
class PlannedChange:
    address: str
    action: str


@dataclass(frozen=True)
class PlanResult:
    changes: bool
    summary: ChangeSummary
    planned: tuple[PlannedChange, ...] = ()
    plan_file: Path | None = None


@dataclass(frozen=True)
class ApplyResult:
    summary: ChangeSummary
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    text: str
    parts: tuple[int, int, int]
    opentofu: bool


class TerraformError(InfrastructureError):
    """A Terraform command failed; ``diagnostics`` holds Terraform's own error messages."""

    def __init__(self, command: str, returncode: int, diagnostics: list[Diagnostic], stderr: str = "") -> None:
        self.command = command
        self.returncode = returncode
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"] or diagnostics
        if errors:
            reason = "; ".join(str(d) for d in errors)
        else:
            reason = (stderr.strip().splitlines() or [f"exit code {returncode}"])[-1]
        super().__init__(f"terraform {command} failed: {reason}")


class StateLocked(LockHeld):
    """Another process holds the Terraform state's lock (another pipeline on the same site's remote state);
    ``info``: what Terraform says of the lock (``ID``, ``Who``, ``Operation``, ``Created``, ``Path``)."""

    def __init__(self, message: str, info: dict[str, str]) -> None:
        super().__init__(message)
        self.info = info


def lock_holder(info: dict[str, str]) -> str:
    """Terraform's lock info for a person: ``who W, operation O, created C, lock ID I`` (what it has of it)."""
    named = ", ".join(f"{k.lower()} {info[k]}" for k in ("Who", "Operation", "Created") if k in info)
    return named + (f"{', ' if named else ''}lock ID {info['ID']}" if "ID" in info else "")


def _error(command: str, run: _Run, lock_timeout: int) -> KprovError:
    """The typed error of a failed command: a held state lock names its holder (exit 7) and how long Terraform
    waited for it (``lock_timeout`` seconds)."""
    for d in run.diagnostics:
        if d.summary.startswith("Error acquiring the state lock"):
            info = dict(re.findall(r"^\s*(ID|Path|Operation|Who|Created):\s*(.+?)\s*$", d.detail, re.M))
            holder = lock_holder(info) or (d.detail.strip().splitlines() or ["unknown"])[0]
            return StateLocked(f"terraform {command}: the Terraform state is locked by another process ({holder}); "
                               f"waited {lock_timeout} s (--lock-timeout); if that process is gone, `kprov unlock` "
                               "breaks the lock", info)
    return TerraformError(command, run.returncode, run.diagnostics, run.stderr)


@dataclass
class _Run:
    returncode: int
    diagnostics: list[Diagnostic]
    messages: list[dict[str, Any]]
    stderr: str


@contextmanager
def transient_plan(directory: Path) -> Iterator[Path]:
    """A plan file for one plan → apply, removed afterwards whatever happens: a saved plan holds the value of
    every variable, the credentials kprov passes as ``TF_VAR_*`` included, so it never stays in a run's folder."""
    path = directory / "tfplan"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


class Terraform:
    """One Terraform working directory. ``log_dir`` receives each command's raw event stream."""

    def __init__(self, workdir: Path, *, binary: str | None = None, env: Mapping[str, str] | None = None,
                 events: Events | None = None, log_dir: Path | None = None) -> None:
        self.workdir = workdir
        self.binary = binary or os.environ.get("KPROV_TERRAFORM", "terraform")
        self.extra_env = dict(env or {})
        self.events = events or null_events()
        self.log_dir = log_dir
        self._version: Version | None = None
        self.lock_timeout = int(os.environ.get("KPROV_LOCK_TIMEOUT", "60"))
        """Seconds Terraform waits for a state lock another process holds (``--lock-timeout``)."""

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
        env.pop("TF_WORKSPACE", None)  # a typo there silently creates an empty workspace; one dir per site instead
        env.update(self.extra_env)
        return env

    def version(self) -> Version:
        path = shutil.which(self.binary)
        if path is None:
            raise InfrastructureError(f"'{self.binary}' not found on PATH: install Terraform >= 1.5 or OpenTofu >= 1.6")
        proc = subprocess.run([path, "version", "-json"], capture_output=True, text=True, env=self._env(),
                              check=False)
        try:
            text = json.loads(proc.stdout)["terraform_version"]
        except (ValueError, KeyError):
            raise InfrastructureError(f"cannot read the version of {path}: {proc.stderr.strip()}") from None
        m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
        parts = (int(m[1]), int(m[2]), int(m[3])) if m else (0, 0, 0)
        opentofu = "tofu" in Path(path).name
        return Version(text, parts, opentofu)

    def _known_version(self) -> Version:
        """:meth:`version`, asked once per instance."""
        if self._version is None:
            self._version = self.version()
        return self._version

    def check_version(self) -> Version:
        v = self.version()
        if not v.opentofu and v.parts < MIN_VERSION:
            raise InfrastructureError(f"Terraform {v.text} is too old: kprov needs >= 1.5 (terraform_data, -json)")
        return v

    # -- commands -------------------------------------------------------------------------------------------

    def init(self, *, upgrade: bool = False, backend: bool = True,
             backend_config: Mapping[str, str] | None = None) -> None:
        """``backend_config``: the backend's settings, as ``-backend-config=KEY=VALUE`` (never a secret)."""
        args = ["init", "-input=false", "-no-color"]
        args += [f"-backend-config={k}={v}" for k, v in (backend_config or {}).items()] if backend else []
        if upgrade:
            args.append("-upgrade")
        if not backend:
            args.append("-backend=false")
        # -json on init came with Terraform 1.9 (OpenTofu 1.8): with it, a failure's diagnostics arrive whole
        known = self._known_version()
        json_ui = known.parts >= ((1, 8, 0) if known.opentofu else (1, 9, 0))
        run = self._run([*args, "-json"] if json_ui else args, json_ui=json_ui, name="init")
        if run.returncode != 0:
            raise _error("init", run, self.lock_timeout)

    def plan(self, *, out: Path | None = None, destroy: bool = False, replace: Sequence[str] = ()) -> PlanResult:
        """``replace``: resource addresses to make again even if nothing about them changed (``-replace``)."""
        args = ["plan", "-json", "-input=false", "-detailed-exitcode", f"-lock-timeout={self.lock_timeout}s"]
        args += [f"-replace={address}" for address in replace]
        if destroy:
            args.append("-destroy")
        if out is not None:
            args.append(f"-out={out}")
        run = self._run(args, name="plan")
        if run.returncode not in (0, 2):
            raise _error("plan", run, self.lock_timeout)
        summary = _summary(run.messages)
        planned = tuple(
            PlannedChange(m["change"]["resource"]["addr"], m["change"]["action"])
            for m in run.messages if m.get("type") == "planned_change"
        )
        return PlanResult(changes=run.returncode == 2, summary=summary, planned=planned, plan_file=out)

    def apply(self, plan_file: Path | None = None) -> ApplyResult:
        args = ["apply", "-json", "-input=false", f"-lock-timeout={self.lock_timeout}s"]
        args += [str(plan_file)] if plan_file is not None else ["-auto-approve"]
        run = self._run(args, name="apply")
        if run.returncode != 0:
            raise _error("apply", run, self.lock_timeout)
        return ApplyResult(_summary(run.messages), _outputs(run.messages))

    def destroy(self) -> ApplyResult:
        run = self._run(["destroy", "-json", "-input=false", "-auto-approve", f"-lock-timeout={self.lock_timeout}s"],
                        name="destroy")
        if run.returncode != 0:
            raise _error("destroy", run, self.lock_timeout)
        return ApplyResult(_summary(run.messages))

    def lock_held(self) -> dict[str, str] | None:
        """What Terraform says of the state's lock if another process holds it now (a plan that does not wait,
        and changes nothing); None when the state is free."""
        run = self._run(["plan", "-json", "-input=false", "-refresh=false", "-lock-timeout=0s"], name="plan")
        if run.returncode not in (0, 2):
            error = _error("plan", run, 0)
            if isinstance(error, StateLocked):
                return error.info
            raise error
        return None

    def force_unlock(self, lock_id: str) -> None:
        run = self._run(["force-unlock", "-force", lock_id], json_ui=False, name="force-unlock")
        if run.returncode != 0:
            raise TerraformError("force-unlock", run.returncode, run.diagnostics, run.stderr)

    def state_list(self) -> list[str]:
        """The resource addresses in the state (``terraform state list``)."""
        proc = subprocess.run([self.binary, "state", "list", "-no-color"], cwd=self.workdir, env=self._env(),
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TerraformError("state list", proc.returncode, [], proc.stderr)
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        """``terraform show -json PLAN``. Kept in memory only: it holds variable values, credentials included."""
        proc = subprocess.run([self.binary, "show", "-json", "-no-color", str(plan_file)], cwd=self.workdir,
                              env=self._env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TerraformError("show", proc.returncode, [], proc.stderr)
        data: dict[str, Any] = json.loads(proc.stdout or "{}")
        return data

    def state_identity(self) -> tuple[str | None, int | None]:
        """The state's lineage and serial (``terraform state pull``; whatever the backend); None, None before
        the first apply."""
        proc = subprocess.run([self.binary, "state", "pull"], cwd=self.workdir, env=self._env(), capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise TerraformError("state pull", proc.returncode, _plain_diagnostics(proc.stderr), proc.stderr)
        try:
            state = json.loads(proc.stdout) if proc.stdout.strip() else {}
        except ValueError:
            state = {}
        serial = state.get("serial")
        return state.get("lineage"), int(serial) if serial is not None else None

    @staticmethod
    def replace_reasons(show: dict[str, Any]) -> dict[str, list[str]]:
        """Per resource a plan replaces, the attributes that force it (``replace_paths`` in the plan's
        :meth:`show_plan`, as ``a.b``); "tainted" or "requested" when no attribute does."""
        out: dict[str, list[str]] = {}
        for rc in show.get("resource_changes", []):
            change = rc.get("change", {})
            if {"delete", "create"} <= set(change.get("actions", [])):
                paths = [".".join(str(p) for p in path) for path in change.get("replace_paths") or []]
                out[rc["address"]] = paths or [str(rc.get("action_reason", "replace")).removeprefix("replace_")
                                               .removeprefix("because_").lower()]
        return out

    def output(self) -> dict[str, Any]:
        proc = subprocess.run([self.binary, "output", "-json", "-no-color"], cwd=self.workdir, env=self._env(),
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TerraformError("output", proc.returncode, [], proc.stderr)
        data = json.loads(proc.stdout or "{}")
        return {k: v.get("value") for k, v in data.items()}

    # -- machinery ------------------------------------------------------------------------------------------

    def _run(self, args: list[str], *, name: str, json_ui: bool = True) -> _Run:
        """Run one command, streaming its events. Ctrl-C forwards one SIGINT (Terraform then saves state and
        releases its lock); a second Ctrl-C forwards a second one, which makes Terraform abort."""
        log = (self.log_dir / f"terraform-{name}.jsonl").open("a") if self.log_dir else None
        proc = subprocess.Popen(
            [self.binary, *args], cwd=self.workdir, env=self._env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        diagnostics: list[Diagnostic] = []
        messages: list[dict[str, Any]] = []
        interrupts = 0
        terminated = False
        assert proc.stdout is not None and proc.stderr is not None
        lines = _lines(proc.stdout)
        while True:
            try:
                line = next(lines, None)
                if line is None:
                    break
                if log is not None:  # JSON lines, whether Terraform's own or plain text wrapped
                    text = line.rstrip("\n")
                    log.write((text if json_ui else json.dumps({"type": "stdout", "@message": text})) + "\n")
                msg = _parse(line) if json_ui else None
                if msg is None:
                    continue
                messages.append(msg)
                if msg.get("type") == "diagnostic":
                    diagnostics.append(_diagnostic(msg.get("diagnostic", {})))
                self._event(name, msg)
            except KeyboardInterrupt as exc:
                interrupts += 1
                terminated = terminated or isinstance(exc, Terminated)
                proc.send_signal(signal.SIGINT)
                self.events.emit(STAGE, "warning", "interrupt: asked Terraform to stop cleanly (again to abort)"
                                 if interrupts == 1 else "second interrupt: Terraform aborts")
        stderr = proc.stderr.read()
        returncode = proc.wait()
        if log is not None:
            for text in stderr.splitlines():
                log.write(json.dumps({"type": "stderr", "@message": text}) + "\n")
            log.close()
        if not json_ui:
            diagnostics += _plain_diagnostics(stderr)
        if interrupts:
            # Terraform saved its state and exited; what it started and left (a provisioner's command whose shell
            # it stopped) is still in its process group: end it, so no child outlives kprov
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise Interrupted(f"terraform {name} interrupted; state was saved by Terraform", terminated=terminated)
        return _Run(returncode, diagnostics, messages, stderr)

    def _event(self, command: str, msg: dict[str, Any]) -> None:
        kind = msg.get("type", "")
        hook = msg.get("hook", {})
        addr = hook.get("resource", {}).get("addr", "")
        if kind in ("apply_start", "apply_complete", "apply_errored", "provision_errored"):
            self.events.emit(STAGE, "progress", f"{command}: {msg.get('@message', addr)}", resource=addr,
                             tf_type=kind)
        elif kind == "provision_progress":  # what kprov.targets.baremetal.machine prints in bare-metal provisioners
            self.events.emit(STAGE, "progress", f"{addr}: {hook.get('output', '')}", resource=addr, tf_type=kind)
        elif kind == "planned_change":
            change = msg["change"]
            self.events.emit(STAGE, "progress", f"plan: {change['resource']['addr']} will be {change['action']}d"
                             if change["action"] != "create" else f"plan: {change['resource']['addr']} will be created",
                             resource=change["resource"]["addr"], action=change["action"], tf_type=kind)
        elif kind == "diagnostic" and msg.get("@level") == "warn":
            self.events.emit(STAGE, "warning", str(_diagnostic(msg.get("diagnostic", {}))))


def _lines(stream: IO[str]) -> Iterator[str]:
    yield from iter(stream.readline, "")


def _parse(line: str) -> dict[str, Any] | None:
    """One event, or None for a non-JSON line (a crashing provider prints a Go stack trace into stdout)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _diagnostic(d: dict[str, Any]) -> Diagnostic:
    rng = d.get("range") or {}
    return Diagnostic(
        severity=d.get("severity", "error"), summary=d.get("summary", ""), detail=d.get("detail", ""),
        filename=rng.get("filename"), line=(rng.get("start") or {}).get("line"),
    )


def _plain_diagnostics(stderr: str) -> list[Diagnostic]:
    """Commands without -json (init on old versions) print "Error: ..." blocks on stderr."""
    out = []
    for m in re.finditer(r"Error: (.+?)\n(?:\n?(.*?)(?:\n\n|\Z))?", re.sub(r"[│╷╵]\s?", "", stderr), re.S):
        out.append(Diagnostic("error", m[1].strip(), (m[2] or "").strip()))
    return out


def _summary(messages: list[dict[str, Any]]) -> ChangeSummary:
    summaries = [m["changes"] for m in messages if m.get("type") == "change_summary"]
    if not summaries:
        return ChangeSummary()
    c = summaries[-1]
    return ChangeSummary(add=c.get("add", 0), change=c.get("change", 0), remove=c.get("remove", 0))


def _outputs(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for m in reversed(messages):
        if m.get("type") == "outputs":
            return {k: v.get("value") for k, v in m.get("outputs", {}).items()}
    return {}
