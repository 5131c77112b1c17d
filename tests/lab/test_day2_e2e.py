"""Day 2 on real lab nodes (static target, the Kubespray stand-in): a running cluster of cp1 and w1 gets a worker
(facts over every host, then scale.yml limited to the new node, and nothing runs on the others), and loses it
again (remove-node.yml before Terraform, the node really reset, no playbook after); then two more
control-plane/etcd nodes join (cluster.yml; the established cp1 stays first and etcd1; a real etcd grows from
1 to 3 healthy members). Steps run in file order."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import site_data
from tests.lab.nodes import SSH_OPTS, Lab
from tests.lab.test_up_e2e import _listening, _stage_events, kprov

pytestmark = pytest.mark.lab

CP = ["control_plane", "etcd"]
# the site file's order: cp2 comes before cp1 once it is added, cp3 after
ALL = [("cp2", CP), ("cp1", CP), ("w1", ["worker"]), ("w2", ["worker"]), ("cp3", CP)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        lab.start([name for name, _ in ALL])
        yield lab


def _write(lab: Lab, path: Path, names: list[str], version: str = "1.33.11") -> Path:
    ips = {n.name: n.ip for n in lab.nodes()}
    data = site_data(nodes=[(name, ips[name], roles) for name, roles in ALL if name in names])
    data["kubernetes"].update(version=version, drain={"timeout": 120, "grace_period": 20}, upgrade_batch=1)
    data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory, kprov_cache: Path) -> Path:
    return _write(lab, tmp_path_factory.mktemp("day2") / "site.yaml", ["cp1", "w1"])


def _hosts_by_playbook(events: list[dict[str, Any]], *, changed: bool = False) -> dict[str, set[str]]:
    """Per playbook, the hosts its tasks ran for (``changed``: only those where a task changed something)."""
    out: dict[str, set[str]] = {}
    for e in events:
        ran = e["event"] == "progress" and e.get("host") and e["data"].get("playbook")
        if ran and (not changed or e["message"].endswith(": changed")):
            out.setdefault(e["data"]["playbook"], set()).add(e["host"])
    return out


def _members(site: Path) -> list[str]:
    return [m["name"] for m in json.loads((site.parent / ".kprov" / "lab" / "members.json").read_text())["members"]]


def _drains(lab: Lab) -> list[dict[str, Any]]:
    """The drains Kubespray (the stand-in) ran, as it records them on the first control-plane node."""
    out = lab.ssh("cp1", "cat", "/var/log/kubespray-standin-drains.jsonl").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_a_new_cluster_is_bootstrapped_with_cluster_yml(lab: Lab, site: Path) -> None:
    proc, _ = kprov("scale", "--yes", str(site))
    assert proc.returncode == 8 and "was never bootstrapped: `kprov up` makes it first" in proc.stderr
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
    assert set(_hosts_by_playbook(events)) == {"remove-node.yml"}
    assert _hosts_by_playbook(events, changed=True) == {"remove-node.yml": {"w2"}}  # only w2 was changed
    assert next(e for e in events if e["event"] == "stage_done" and e["stage"] == "bootstrap")["message"] == \
        "only nodes left: no playbook to run"
    # kprov asked the cluster's API first (the stand-in has none) and said who drains instead
    warning = next(e["message"] for e in events if e["event"] == "warning" and e["stage"] == "remove")
    assert warning.startswith("the cluster's API did not answer (") and "Kubespray drains w2 itself" in warning
    assert _drains(lab) == [{"node": "w2", "playbook": "remove-node.yml", "grace_period": 20, "timeout": "120s",
                             "batch": ["w2"], "serial": "20%", "ungraceful": False}]
    assert 10250 not in _listening(lab, "w2")  # really reset
    assert 10250 in _listening(lab, "w1")
    assert _members(site) == ["cp1", "w1"]
    hosts = yaml.safe_load((site.parent / ".kprov" / "lab" / "inventory" / "hosts.yaml").read_text())
    assert set(hosts["all"]["hosts"]) == {"cp1", "w1"}


def test_ssh_runs_a_command_on_a_node_through_the_sites_config(site: Path) -> None:
    import sys  # noqa: PLC0415

    proc = subprocess.run([sys.executable, "-m", "kprov", "ssh", str(site), "w1", "--", "cat", "/etc/hostname"],
                          capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "w1"
    proc = subprocess.run([sys.executable, "-m", "kprov", "ssh", str(site), "nope"], capture_output=True,
                          text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "has no node 'nope' (its nodes: cp1, w1)" in proc.stderr


def _etcd_members(lab: Lab, node: str) -> list[str]:
    ip = lab.node(node).ip
    out = lab.ssh(node, "etcdctl", f"--endpoints=http://{ip}:2379", "member", "list", "-w", "json", check=True)
    return sorted(m.get("name", "") for m in json.loads(out.stdout)["members"])


def test_two_more_etcd_control_planes_join_after_the_established_one(lab: Lab, site: Path) -> None:
    assert _etcd_members(lab, "cp1") == ["etcd1"]
    _write(lab, site, ["cp2", "cp1", "w1", "cp3"])
    proc, events = kprov("plan", str(site))
    doc = next(e for e in events if e["event"] == "impact")["data"]["impact"]
    assert [(s["playbook"], s["limit"]) for s in doc["steps"]] == [("cluster.yml", [])]
    assert doc["etcd"] == {"before": 1, "after": 3} and doc["refusals"] == []
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(_hosts_by_playbook(events)) == {"cluster.yml"}
    inv = yaml.safe_load((site.parent / ".kprov" / "lab" / "inventory" / "hosts.yaml").read_text())["all"]
    assert list(inv["children"]["kube_control_plane"]["hosts"]) == ["cp1", "cp2", "cp3"]
    assert [inv["hosts"][h]["etcd_member_name"] for h in ("cp1", "cp2", "cp3")] == ["etcd1", "etcd2", "etcd3"]
    for node in ("cp1", "cp2", "cp3"):
        assert _etcd_members(lab, node) == ["etcd1", "etcd2", "etcd3"]
    endpoints = ",".join(f"http://{lab.node(n).ip}:2379" for n in ("cp1", "cp2", "cp3"))
    health = lab.ssh("cp2", "etcdctl", f"--endpoints={endpoints}", "endpoint", "health", check=True)
    assert (health.stdout + health.stderr).count(" is healthy") == 3  # etcdctl reports on stderr
    assert _members(site) == ["cp1", "w1", "cp2", "cp3"]


def _kubelet(lab: Lab, node: str) -> str:
    return lab.ssh(node, "/usr/local/bin/kubelet", "--version", check=True).stdout.strip()


RESTORE = """set -e
rm -rf /tmp/restored; etcdctl snapshot restore /tmp/snap.db --data-dir /tmp/restored >/dev/null 2>&1
etcd --data-dir /tmp/restored --listen-client-urls http://127.0.0.1:23790 \\
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 >/dev/null 2>&1 &
pid=$!
for i in $(seq 50); do etcdctl --endpoints=127.0.0.1:23790 endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
etcdctl --endpoints=127.0.0.1:23790 get --print-value-only kprov-test
kill $pid; rm -rf /tmp/restored /tmp/snap.db
"""


def test_the_stand_in_refuses_an_upgrade_that_skips_a_minor_as_kubeadm_does(site: Path, tmp_path: Path) -> None:
    from kprov import api  # noqa: PLC0415
    from kprov.events import null_events  # noqa: PLC0415
    from kprov.tools import ansible, kubespray  # noqa: PLC0415

    loaded = api.load(site)
    tree = kubespray.resolve(loaded.site.kubernetes.kubespray, loaded.base_dir)
    work = site.parent / ".kprov" / "lab"
    result = ansible.run_playbook(tree, "upgrade-cluster.yml", inventory_file=work / "inventory" / "hosts.yaml",
                                  ssh_config=work / "ssh_config", run_dir=tmp_path, events=null_events(),
                                  extravars={"kube_version": "1.35.4"}, fact_cache=work / "facts")
    assert not result.ok
    assert next(f.message for f in result.failures).startswith(
        'Specified version to upgrade to "v1.35.4" is not supported from v1.33.11: kubeadm upgrades one minor')


def test_upgrade_two_minors_in_two_steps_with_an_etcd_snapshot_before_each(lab: Lab, site: Path) -> None:
    names = ["cp2", "cp1", "w1", "cp3"]
    lab.ssh("cp1", "etcdctl", "put", "kprov-test", "written-before-the-upgrade", check=True)
    proc, _ = kprov("upgrade", "--yes", "--to", "1.35.4", str(site))  # the site file still says 1.33.11
    assert proc.returncode == 2 and 'set kubernetes.version: "1.35.4" in site.yaml first' in proc.stderr
    _write(lab, site, names, version="1.35.4")
    proc, _ = kprov("up", str(site))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "the cluster runs Kubernetes 1.33.11 and the site file asks for 1.35.4: `kprov upgrade" in proc.stderr
    proc, _ = kprov("upgrade", "--to", "1.35.4", str(site))
    assert proc.returncode == 2 and "refusing to upgrade without confirmation" in proc.stderr

    proc, events = kprov("upgrade", "--yes", "--to", "1.35.4", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [e["data"]["version"] for e in events if e["event"] == "info" and e["data"].get("version")]
    assert steps == ["1.34.7", "1.35.4"]
    assert {_kubelet(lab, n) for n in ("cp1", "cp2", "cp3", "w1")} == {"Kubernetes v1.35.4"}
    # each step drained every node, control plane one at a time, workers in the site's batches (upgrade_batch: 1)
    upgrade_drains = [(d["node"], d["batch"], d["serial"]) for d in _drains(lab)
                      if d["playbook"] == "upgrade-cluster.yml"]
    assert upgrade_drains == 2 * [("cp1", ["cp1"], 1), ("cp2", ["cp2"], 1), ("cp3", ["cp3"], 1), ("w1", ["w1"], 1)]
    work = site.parent / ".kprov" / "lab"
    saved = json.loads((work / "etcd-snapshots" / "index.json").read_text())
    assert [(s["kubernetes"], s["reason"]) for s in saved] == [("1.33.11", "before the upgrade to 1.34.7"),
                                                               ("1.34.7", "before the upgrade to 1.35.4")]
    first = work / "etcd-snapshots" / saved[0]["file"]
    assert hashlib.sha256(first.read_bytes()).hexdigest() == saved[0]["sha256"]
    assert first.stat().st_mode & 0o777 == 0o600
    # the snapshot restores into a fresh data dir and holds what was written before
    subprocess.run(["scp", *SSH_OPTS, "-i", str(lab.ssh_private_key), str(first),
                    f"root@{lab.node('w1').ip}:/tmp/snap.db"], check=True, capture_output=True)
    restored = lab.ssh("w1", "sh", "-c", RESTORE, check=True)
    assert restored.stdout.strip() == "written-before-the-upgrade"
    proc, events = kprov("up", str(site))  # the upgraded site is converged
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bootstrap" not in _stage_events(events, "stage_done")
    proc, _ = kprov("upgrade", "--yes", "--to", "1.35.4", str(site))
    assert proc.returncode == 2 and "runs Kubernetes 1.35.4 already" in proc.stderr


def test_replace_a_dead_control_plane_etcd_node(lab: Lab, site: Path) -> None:
    proc, _ = kprov("replace", "--yes", str(site), "cp1")
    assert proc.returncode == 2 and "cp1 is the first control-plane node, which Kubespray cannot remove" in proc.stderr
    proc, _ = kprov("replace", "--yes", str(site), "nope")
    assert proc.returncode == 2 and "site lab has no node 'nope'" in proc.stderr
    lab.stop_node("cp3")  # dead
    ip = lab.node("cp1").ip
    health = lab.ssh("cp1", "etcdctl", f"--endpoints=http://{ip}:2379", "endpoint", "health", "--cluster")
    assert health.returncode != 0 and "is unhealthy" in health.stdout + health.stderr
    before = json.loads(lab.ssh("cp1", "etcdctl", f"--endpoints=http://{ip}:2379", "member", "list", "-w", "json",
                                check=True).stdout)["members"]
    lab.reinstall_node("cp3")  # the operator reinstalled the machine: no etcd data, new host keys
    proc, events = kprov("replace", "--yes", str(site), "cp3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = _stage_events(events, "stage_done")
    assert done[:2] == ["remove", "infra"] and done[-1] == "etcd-health"
    assert "bootstrap" in done
    for node in ("cp1", "cp2", "cp3"):
        assert _etcd_members(lab, node) == ["etcd1", "etcd2", "etcd3"]
    assert _kubelet(lab, "cp3") == "Kubernetes v1.35.4"
    assert _members(site)[-1] == "cp3"
    after = json.loads(lab.ssh("cp1", "etcdctl", f"--endpoints=http://{ip}:2379", "member", "list", "-w", "json",
                               check=True).stdout)["members"]
    ids = {m["name"]: m["ID"] for m in before} , {m["name"]: m["ID"] for m in after}
    assert ids[0]["etcd3"] != ids[1]["etcd3"]  # the dead member was removed, a new one added
    assert ids[0]["etcd1"] == ids[1]["etcd1"]


def test_down_after_day2(site: Path) -> None:
    proc, _ = kprov("down", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (site.parent / ".kprov" / "lab" / "members.json").exists()
