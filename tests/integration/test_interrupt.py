"""Ctrl-C and a cancelled CI job (SIGTERM) end a real `kprov up` the same way, whatever is running: the tool is
stopped (no child process left), the stage is recorded as interrupted, the lock is free, and the exit code says
which signal it was (130, 143). Here during the SSH wait (real ssh probes to nodes that never answer) and during
a playbook (ansible-runner running the Kubespray stand-in's Ansible on this machine); test_terraform_interrupt
covers Terraform."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov.engine import signals
from kprov.site.model import KubesprayRef
from kprov.tools import kubespray
from tests.conftest import STANDIN, site_data
from tests.processes import marked


def _marked() -> list[int]:
    return marked(MARK)


MARK = f"KPROV_TEST_MARK={uuid.uuid4().hex}"


def _start_up(site: Path) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    env = {**os.environ, MARK.split("=", maxsplit=1)[0]: MARK.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-m", "kprov", "--output", "json", "up", str(site)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    events: list[dict[str, Any]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "stage_start" and events[-1]["stage"] == "ssh":
            break
        assert time.monotonic() < deadline, events
    return proc, events


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"),
                                                      (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_during_the_ssh_wait_stops_every_probe_at_once(
        signum: int, code: int, name: str, write_site: Callable[..., Path]) -> None:
    # TEST-NET-2 addresses, which nothing here answers (the lab's 192.168.77.0/24 may be up)
    data = site_data(nodes=[("cp1", "198.51.100.10", ["control_plane", "etcd"]), ("w1", "198.51.100.11", ["worker"]),
                            ("w2", "198.51.100.12", ["worker"])])
    data["network"] = {"cidr": "198.51.100.0/24", "gateway": "198.51.100.1"}
    data["ssh"]["connect_timeout"] = 600  # it would wait ten minutes
    site = write_site(data)
    (site.parent / "id_lab.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n")
    proc, events = _start_up(site)
    time.sleep(1.5)  # ssh probes in flight
    assert len(_marked()) > 1, "kprov and its ssh probes were expected to run"
    sent = time.monotonic()
    proc.send_signal(signum)
    rc = proc.wait(timeout=30)
    took = time.monotonic() - sent
    assert proc.stdout is not None and proc.stderr is not None
    events += [json.loads(line) for line in proc.stdout.read().splitlines()]
    stderr = proc.stderr.read()
    assert rc == code, stderr
    assert took < 5, f"{took:.1f} s from {name} to exit"
    assert f"kprov: interrupted by {name}" in stderr
    assert _marked() == []  # no ssh (or anything else) left behind
    stopped = [e for e in events if e["event"] == "stage_interrupted"]
    assert [(e["stage"], e["data"]["signal"]) for e in stopped] == [("ssh", name)]
    assert any(e["event"] == "info" and e["message"].startswith("waiting up to 600 s for SSH on 3 node(s)")
               for e in events)
    work = site.parent / ".kprov" / "lab"
    run = json.loads(next((work / "runs").glob("*/result.json")).read_text())
    assert (run["result"], run["exit_code"]) == ("interrupted", code)
    with (work / "lock").open("a") as lock:  # free: nobody holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    state = json.loads((work / "state.json").read_text())
    assert "infra" in json.dumps(state) and "ssh" not in json.dumps(state)

    data["ssh"]["connect_timeout"] = 1
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    again = subprocess.run([sys.executable, "-m", "kprov", "--output", "json", "up", str(site)],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=120)
    resumed = [json.loads(line) for line in again.stdout.splitlines()]
    assert again.returncode == 4  # the nodes still do not answer, but it resumed at the SSH wait
    assert [e["stage"] for e in resumed if e["event"] == "stage_skip"] == ["infra", "inventory"]


SLEEPER = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.file: {path: "{{ marker }}", state: touch}
    - ansible.builtin.command: sleep 600
"""

CHILD = """
import sys
from pathlib import Path
from kprov.engine import signals
from kprov.errors import Interrupted
from kprov.events import null_events
from kprov.site.model import KubesprayRef
from kprov.tools import ansible, kubespray
signals.install()
tree = kubespray.resolve(KubesprayRef(path=sys.argv[1]), Path.cwd())
project, run = Path(sys.argv[2]), Path(sys.argv[3])
try:
    result = ansible.run_playbook(tree, "sleep.yml", inventory_file=project / "hosts.yml",
                                  ssh_config=project / "ssh_config", run_dir=run, events=null_events(),
                                  extravars={"marker": str(project / "started")}, project=project)
except KeyboardInterrupt as exc:
    sys.exit(int(signals.exit_code(exc)))
print(result.status, result.rc, result.failures, file=sys.stderr)
sys.exit(3)
"""


def test_sigterm_stops_a_running_playbook_and_waits_for_it(tmp_path: Path, kprov_cache: Path) -> None:
    kubespray.resolve(KubesprayRef(path=str(STANDIN)), tmp_path)  # the stand-in's Ansible venv, built once
    project = tmp_path / "project"
    project.mkdir()
    (project / "sleep.yml").write_text(SLEEPER)
    (project / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                                       "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n")
    (project / "ssh_config").write_text("")
    (project / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, MARK.split("=", maxsplit=1)[0]: MARK.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(STANDIN), str(project), str(tmp_path / "run")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (project / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(1)  # `sleep 600` runs
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    assert rc == 143, proc.communicate()
    assert time.monotonic() - sent < 5
    assert _marked() == []  # ansible-playbook and its `sleep 600` are gone
    assert signals.exit_code(signals.Terminated()) == 143

