"""`kprov preflight` on fresh lab nodes: one clean pass, then one fault at a time, each making preflight fail
(exit 4) naming the node, the check and the fix, and passing again once the fault is gone: a duplicate hostname,
a required port already taken, and a firewall dropping etcd's port between two etcd nodes. (Swap and a stopped
time sync service cannot be injected on nspawn nodes: a container shares its host's swap and clock; those
checks are exercised where a node is a VM, in the PXE lab.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import site_data
from tests.lab.nodes import Lab

pytestmark = pytest.mark.lab

CP = ["control_plane", "etcd"]
NODES = [("cp1", CP), ("cp2", CP), ("cp3", CP), ("w1", ["worker"])]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        lab.start([name for name, _ in NODES])
        yield lab


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory, kprov_cache: Path) -> Path:
    data = site_data(nodes=[(name, lab.node(name).ip, roles) for name, roles in NODES])
    data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
    path = tmp_path_factory.mktemp("preflight") / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def preflight(site: Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([sys.executable, "-m", "kprov", "-o", "json", "preflight", str(site)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False, timeout=600)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def _failed(events: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(e["host"], e["data"]["check"]): e["message"] for e in events
            if e["event"] == "check" and not e["data"]["ok"]}


def test_fresh_nodes_pass_every_check(site: Path) -> None:
    rc, events, stderr = preflight(site)
    assert rc == 0, stderr[-3000:]
    checks = {(e["host"], e["data"]["check"]) for e in events if e["event"] == "check"}
    for node, _ in NODES:
        for check in ("swap", "time-sync", "clock-skew", "ports-free", "reachability", "hostname-unique"):
            assert (node, check) in checks
    rc, events, _ = preflight(site)  # preflight always runs (it is not skipped when nothing changed)
    assert rc == 0 and [e["stage"] for e in events if e["event"] == "stage_done"][-1] == "preflight"


def test_a_duplicate_hostname_is_named_with_its_fix(lab: Lab, site: Path) -> None:
    lab.ssh("w1", "hostname", "cp1", check=True)
    try:
        rc, events, stderr = preflight(site)
    finally:
        lab.ssh("w1", "hostname", "w1", check=True)
    assert rc == 4
    failed = _failed(events)
    assert set(failed) == {("w1", "hostname-unique"), ("cp1", "hostname-unique")}
    assert "hostname 'cp1' is also the hostname of cp1; fix: hostnamectl set-hostname w1" in failed[("w1",
                                                                                                   "hostname-unique")]
    assert "w1: hostname-unique:" in stderr


def test_a_port_already_taken_is_named_with_its_fix(lab: Lab, site: Path) -> None:
    lab.ssh("cp2", "sh", "-c", "nohup python3 -m http.server 2379 >/dev/null 2>&1 & echo $! > /run/taken.pid",
            check=True)
    try:
        rc, events, _ = preflight(site)
    finally:
        lab.ssh("cp2", "sh", "-c", "kill $(cat /run/taken.pid)", check=True)
    assert rc == 4
    failed = _failed(events)
    assert list(failed) == [("cp2", "ports-free")]
    assert ("TCP 2379 (etcd client) already in use on a node that has not joined; fix: stop what listens there"
            in failed[("cp2", "ports-free")])


def test_a_firewall_dropping_etcd_between_two_members_is_named(lab: Lab, site: Path) -> None:
    rule = ["OUTPUT", "-p", "tcp", "-d", lab.node("cp3").ip, "--dport", "2379", "-j", "DROP"]
    netns = ["ip", "netns", "exec", lab.node("cp1").netns, "iptables"]
    subprocess.run([*netns, "-A", *rule], check=True)
    try:
        rc, events, _ = preflight(site)
    finally:
        subprocess.run([*netns, "-D", *rule], check=True)
    assert rc == 4
    failed = _failed(events)
    assert list(failed) == [("cp1", "reachability")]
    assert f"cannot reach cp3 ({lab.node('cp3').ip}:2379, etcd client): timeout" in failed[("cp1", "reachability")]
    assert f"fix: allow these TCP ports from {lab.node('cp1').ip}" in failed[("cp1", "reachability")]
    rc, _, stderr = preflight(site)
    assert rc == 0, stderr[-2000:]
