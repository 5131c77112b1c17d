"""Day 2 on real lab nodes (static target, the Kubespray stand-in): a running cluster of cp1 and w1 gets a worker
(facts over every host, then scale.yml limited to the new node, and nothing runs on the others), and loses it
again (remove-node.yml before Terraform, the node really reset, no playbook after). Steps run in file order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import site_data
from tests.lab.nodes import Lab
from tests.lab.test_up_e2e import _listening, _stage_events, kprov

pytestmark = pytest.mark.lab

ALL = [("cp1", ["control_plane", "etcd"]), ("w1", ["worker"]), ("w2", ["worker"])]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        lab.start([name for name, _ in ALL])
        yield lab


def _write(lab: Lab, path: Path, names: list[str]) -> Path:
    ips = {n.name: n.ip for n in lab.nodes()}
    data = site_data(nodes=[(name, ips[name], roles) for name, roles in ALL if name in names])
    data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory, kprov_cache: Path) -> Path:
    return _write(lab, tmp_path_factory.mktemp("day2") / "site.yaml", ["cp1", "w1"])


def _hosts_by_playbook(events: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in events:
        if e["event"] == "progress" and e.get("host") and e["data"].get("playbook"):
            out.setdefault(e["data"]["playbook"], set()).add(e["host"])
    return out


def _members(site: Path) -> list[str]:
    return [m["name"] for m in json.loads((site.parent / ".kprov" / "lab" / "members.json").read_text())["members"]]


def test_a_new_cluster_is_bootstrapped_with_cluster_yml(lab: Lab, site: Path) -> None:
    proc, _ = kprov("scale", "--yes", str(site))
    assert proc.returncode == 2 and "was never bootstrapped: `kprov up` makes it first" in proc.stderr
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(_hosts_by_playbook(events)) == {"cluster.yml"}
    assert _members(site) == ["cp1", "w1"]
    assert 10250 not in _listening(lab, "w2")


def test_plan_shows_the_new_worker_joining_through_facts_then_a_limited_scale(lab: Lab, site: Path) -> None:
    _write(lab, site, ["cp1", "w1", "w2"])
    proc, events = kprov("plan", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = next(e for e in events if e["event"] == "impact")["data"]["impact"]
    assert [(n["node"], n["action"]) for n in doc["nodes"]] == [("cp1", "keep"), ("w1", "keep"), ("w2", "join")]
    assert [(s["playbook"], s["limit"]) for s in doc["steps"]] == [("playbooks/facts.yml", []),
                                                                   ("scale.yml", ["w2"])]
    assert doc["etcd"] == {"before": 1, "after": 1} and doc["refusals"] == []


def test_scale_up_runs_facts_everywhere_and_scale_only_on_the_new_worker(lab: Lab, site: Path) -> None:
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = _hosts_by_playbook(events)
    assert set(ran) == {"playbooks/facts.yml", "scale.yml"}
    assert ran["playbooks/facts.yml"] == {"cp1", "w1", "w2"}  # no limit: Kubespray needs every host's facts
    assert ran["scale.yml"] == {"w2"}
    assert 10250 in _listening(lab, "w2")
    assert _members(site) == ["cp1", "w1", "w2"]
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0 and _stage_events(events, "stage_start") == []


def test_scale_down_removes_the_worker_before_terraform_and_runs_nothing_else(lab: Lab, site: Path) -> None:
    proc, _ = kprov("scale", "--yes", str(site))
    assert proc.returncode == 2 and "no node joins or leaves, nothing to scale" in proc.stderr
    _write(lab, site, ["cp1", "w1"])
    proc, _ = kprov("scale", str(site))  # no terminal to ask on
    assert proc.returncode == 2 and "refusing to scale without confirmation" in proc.stderr
    proc, events = kprov("scale", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = _stage_events(events, "stage_done")
    assert done[:2] == ["remove", "infra"]
    ran = _hosts_by_playbook(events)
    assert set(ran) == {"remove-node.yml"} and ran["remove-node.yml"] == {"w2"}
    assert next(e for e in events if e["event"] == "stage_done" and e["stage"] == "bootstrap")["message"] == \
        "only nodes left: no playbook to run"
    assert 10250 not in _listening(lab, "w2")  # really reset
    assert 10250 in _listening(lab, "w1")
    assert _members(site) == ["cp1", "w1"]
    hosts = yaml.safe_load((site.parent / ".kprov" / "lab" / "inventory" / "hosts.yaml").read_text())
    assert set(hosts["all"]["hosts"]) == {"cp1", "w1"}


def test_ssh_runs_a_command_on_a_node_through_the_sites_config(site: Path) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    proc = subprocess.run([sys.executable, "-m", "kprov", "ssh", str(site), "w1", "--", "cat", "/etc/hostname"],
                          capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "w1"
    proc = subprocess.run([sys.executable, "-m", "kprov", "ssh", str(site), "nope"], capture_output=True,
                          text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "has no node 'nope' (its nodes: cp1, w1)" in proc.stderr


def test_down_after_day2(site: Path) -> None:
    proc, _ = kprov("down", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (site.parent / ".kprov" / "lab" / "members.json").exists()
