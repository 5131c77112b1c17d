"""Run a Kubespray playbook through ansible-runner and return a typed result with failures per host.

The run's private data dir lives under ``runs/<timestamp>/`` (0700) so a person can read it afterwards.
``suppress_env_files`` keeps kwargs out of ``env/``; extra vars go in a file, not argv; secrets are never passed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_runner.interface import init_runner

from kprov import inventory
from kprov.engine import signals
from kprov.engine.workdir import private_dir, write_atomic
from kprov.errors import BootstrapError
from kprov.events import Events
from kprov.tools.kubespray import Kubespray

STAGE = "bootstrap"


@dataclass(frozen=True)
class HostFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False

    def __str__(self) -> str:
        kind = "unreachable" if self.unreachable else "failed"
        return f"{self.host}: {kind} at '{self.task}': {self.message}"


@dataclass(frozen=True)
class PlaybookResult:
    playbook: str
    status: str
    rc: int
    failures: tuple[HostFailure, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def raise_for_failure(self) -> None:
        if self.ok:
            return
        if self.failures:
            hosts = sorted({f.host for f in self.failures})
            detail = "; ".join(str(f) for f in self.failures[:5])
            raise BootstrapError(f"{self.playbook} failed on {', '.join(hosts)}: {detail} (logs: {self.run_dir})")
        raise BootstrapError(f"{self.playbook} {self.status} (exit code {self.rc}); logs: {self.run_dir}")


STOP_GRACE = 15.0
"""Seconds an interrupted ansible-playbook gets to stop its workers before it is killed."""


class _Stop:
    """ansible-runner's cancel_callback. ansible-runner cancels by SIGKILLing ansible-playbook's process group,
    but Ansible's workers run in sessions of their own (each calls setsid) and would be left running, with what
    they started. So the first time it is asked after a signal came, it sends ansible-playbook SIGTERM, which
    Ansible forwards to every worker, each killing its own process group; only if ansible-playbook is still there
    ``STOP_GRACE`` seconds later does it tell ansible-runner to kill it."""

    def __init__(self, noted: Callable[[], bool]) -> None:
        self.noted = noted
        self.asked: float | None = None

    def __call__(self) -> bool:
        if not self.noted():
            return False
        if self.asked is None:
            self.asked = time.monotonic()
            for pid in _children("ansible-playbook"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            return False
        return time.monotonic() - self.asked > STOP_GRACE


def _children(command: str) -> list[int]:
    """This process's children running ``command`` (ansible-runner spawns ansible-playbook directly)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and command.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _message(res: Mapping[str, Any]) -> str:
    for key in ("msg", "stderr", "reason"):
        value = res.get(key)
        if value:
            return str(value).strip().splitlines()[0][:300]
    return "no message"


def run_playbook(kubespray: Kubespray, playbook: str, *, inventory_file: Path, ssh_config: Path,
                 run_dir: Path, events: Events, extravars: Mapping[str, Any] | None = None,
                 limit: str | None = None, fact_cache: Path | None = None, stage: str = STAGE,
                 secret_env: Collection[str] = (), project: Path | None = None) -> PlaybookResult:
    """Run ``playbook`` of the Kubespray tree, or of ``project`` (kprov's own ``playbooks/``) with Kubespray's
    Ansible: kprov itself never depends on Ansible."""
    path = kubespray.playbook(playbook) if project is None else project / playbook
    if not path.is_file():
        raise BootstrapError(f"no playbook {path}")
    private = private_dir(run_dir / "ansible")
    varfile = None
    if extravars:
        varfile = private / "kprov-extravars.yml"
        write_atomic(varfile, inventory.dump(inventory.unsafe(dict(extravars))))
    failures: list[HostFailure] = []
    current = {"task": ""}

    def on_event(ev: dict[str, Any]) -> bool:
        kind = ev.get("event", "")
        data = ev.get("event_data", {})
        host = data.get("host")
        if kind == "playbook_on_task_start":
            current["task"] = data.get("task", "")
            events.emit(stage, "progress", f"task: {current['task']}", task=current["task"], playbook=playbook)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            f = HostFailure(host or "?", data.get("task", current["task"]), _message(data.get("res", {})))
            failures.append(f)
            events.emit(stage, "error", f"failed at '{f.task}': {f.message}", host=f.host, task=f.task)
        elif kind == "runner_on_unreachable":
            f = HostFailure(host or "?", data.get("task", current["task"]), _message(data.get("res", {})), True)
            failures.append(f)
            events.emit(stage, "error", f"unreachable at '{f.task}': {f.message}", host=f.host, task=f.task)
        elif kind in ("runner_on_ok", "runner_on_skipped") and host:
            changed = "changed" if data.get("res", {}).get("changed") else "ok"
            events.emit(stage, "progress", f"{data.get('task', '')}: {changed}", host=host, task=data.get("task", ""),
                        playbook=playbook)
        return True

    env = {
        "PATH": f"{kubespray.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(kubespray.venv),
        "ANSIBLE_CONFIG": str((project or kubespray.root) / "ansible.cfg"),
        # Kubespray's ansible.cfg turns host key checking off and its ssh_args ignore known_hosts: override both.
        "ANSIBLE_SSH_ARGS": f"-F {ssh_config}",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        # ... and caches facts in /tmp, shared by every inventory on the machine: keep them per site.
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_LOCAL_TEMP": str(private_dir(run_dir / "ansible-tmp")),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }
    # ansible-runner points the fact cache at artifacts/<ident>/fact_cache, whatever the environment says, unless
    # told where: then facts.yml's facts are there for the scale.yml --limit that follows (an absolute path).
    facts = private_dir(fact_cache or (run_dir / "facts"))
    # Ctrl-C and SIGTERM are noted while Ansible runs, and the playbook is stopped the way Ansible stops itself
    # (see _Stop); then the interruption goes on. Without a cancel_callback of kprov's, ansible-runner would
    # install its own SIGINT/SIGTERM handlers for good and report a cancel as a failed playbook.
    with signals.deferred() as noted:
        cancelled = _Stop(noted)
        runner = init_runner(
            private_data_dir=str(private), project_dir=str(project or kubespray.root), playbook=str(path),
            fact_cache=str(facts.absolute()),
            inventory=str(inventory_file), extravars=str(varfile) if varfile else None, limit=limit,
            envvars=env, event_handler=on_event, quiet=True, suppress_env_files=True,
            ident=playbook.replace("/", "_"), cancel_callback=cancelled, settings={"pexpect_timeout": 1},
        )
        # ansible-runner copies the whole environment into artifacts/<ident>/command: drop secrets before it runs.
        runner.config.env = scrub_environment(runner.config.env, secret_env)
        try:
            runner.run()
        finally:
            if noted():
                events.emit(stage, "warning", f"interrupted: {playbook} stopped")
    return PlaybookResult(playbook=playbook, status=runner.status, rc=runner.rc or 0, failures=tuple(failures),
                          stats=runner.stats or {}, run_dir=private)


_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|CREDENTIAL|PRIVATE_KEY|_API_KEY$|^TF_VAR_|^TF_HTTP_", re.I)


def scrub_environment(env: Mapping[str, str], secret_names: Collection[str] = ()) -> dict[str, str]:
    """The environment Ansible gets: without the site's secret variables or anything named like a secret.

    Kubespray needs none of them, and ansible-runner writes the environment into the run's artifacts."""
    return {k: v for k, v in env.items() if k not in secret_names and not _SECRET_NAME.search(k)}
