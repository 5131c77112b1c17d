"""A cancelled CI job during bootstrap, on real lab nodes: SIGTERM while Kubespray (the stand-in) runs. kprov
stops the playbook the way Ansible stops itself, closes its SSH connections, records the stage as interrupted,
frees the lock and exits 143 within the grace period, leaving no process behind; the next `kprov up` resumes at
bootstrap and converges."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov.tools.ansible import STOP_GRACE
from tests.conftest import site_data
from tests.lab.nodes import Lab
from tests.processes import marked

pytestmark = pytest.mark.lab


def test_sigterm_during_bootstrap_then_up_resumes_and_converges(tmp_path: Path, kprov_cache: Path) -> None:
    with Lab(tmp_path / "lab") as lab:
        lab.start(["cp1", "w1"])
        data = site_data(nodes=[("cp1", lab.node("cp1").ip, ["control_plane", "etcd"]),
                                ("w1", lab.node("w1").ip, ["worker"])])
        data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
        site = tmp_path / "site" / "site.yaml"
        site.parent.mkdir()
        site.write_text(yaml.safe_dump(data, sort_keys=False))
        mark = f"KPROV_TEST_MARK={uuid.uuid4().hex}"
        env = {**os.environ, "KPROV_TEST_MARK": mark.split("=")[1]}
        proc = subprocess.Popen([sys.executable, "-m", "kprov", "-o", "json", "up", str(site)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None and proc.stderr is not None
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 300
        for line in proc.stdout:  # until Kubespray runs tasks on the nodes
            events.append(json.loads(line))
            e = events[-1]
            if e["stage"] == "bootstrap" and e["event"] == "progress" and e.get("host"):
                break
            assert time.monotonic() < deadline, events[-5:]
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        took = time.monotonic() - sent
        events += [json.loads(line) for line in proc.stdout.read().splitlines()]
        assert rc == 143, proc.stderr.read()[-3000:]
        assert took < STOP_GRACE + 5
        assert marked(mark) == []  # no ansible-playbook, worker, ssh or ControlMaster left
        stopped = [(e["stage"], e["data"]["signal"]) for e in events if e["event"] == "stage_interrupted"]
        assert stopped == [("bootstrap", "SIGTERM")]
        work = site.parent / ".kprov" / "lab"
        run = json.loads(sorted((work / "runs").glob("*-up"))[-1].joinpath("result.json").read_text())
        assert (run["result"], run["exit_code"]) == ("interrupted", 143)
        with (work / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free

        again = subprocess.run([sys.executable, "-m", "kprov", "-o", "json", "up", str(site)], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL, check=False, timeout=900)
        assert again.returncode == 0, again.stderr[-3000:]
        resumed = [json.loads(line) for line in again.stdout.splitlines()]
        assert [e["stage"] for e in resumed if e["event"] == "stage_skip"] == ["infra", "inventory", "ssh",
                                                                                 "preflight"]
        assert [e["stage"] for e in resumed if e["event"] == "stage_done"] == ["bootstrap", "kubeconfig", "verify"]
