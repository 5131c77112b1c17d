"""End to end on real lab nodes: `kprov up` → verify → no-op up → negative checks → down, with the real terraform,
ansible-runner (through the Kubespray stand-in) and testinfra over SSH. Steps run in file order on one lab."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov import api
from kprov.events import Events, JsonSink
from kprov.exitcodes import ExitCode
from tests.conftest import site_data
from tests.lab.nodes import Lab

pytestmark = pytest.mark.lab

NODES = [("cp1", ["control_plane", "etcd"]), ("w1", ["worker"]), ("w2", ["worker"])]
STAGES = ["infra", "inventory", "ssh", "preflight", "bootstrap", "kubeconfig", "verify"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        lab.start([name for name, _ in NODES])
        yield lab


def _write_site(lab: Lab, directory: Path, **ssh: Any) -> Path:
    ips = {n.name: n.ip for n in lab.nodes()}
    data = site_data(nodes=[(name, ips[name], roles) for name, roles in NODES])
    data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key), **ssh}
    data["pools"]["workers"]["labels"] = {"kprov.io/zone": "lab-a"}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory, kprov_cache: Path) -> Path:
    return _write_site(lab, tmp_path_factory.mktemp("site"))


def kprov(*args: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    proc = subprocess.run([sys.executable, "-m", "kprov", "--output", "json", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False, timeout=900)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, events


def _stage_events(events: list[dict[str, Any]], kind: str) -> list[str]:
    return [e["stage"] for e in events if e["event"] == kind]


def _last_run(site: Path, command: str) -> Path:
    runs = sorted((site.parent / ".kprov" / "lab" / "runs").glob(f"*-{command}"))
    return runs[-1]


def _recorded(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def _listening(lab: Lab, node: str) -> set[int]:
    out = lab.ssh(node, "ss", "-Htln").stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


def test_up_builds_the_site_and_verifies_it(lab: Lab, site: Path) -> None:
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _stage_events(events, "stage_done") == STAGES
    work = site.parent / ".kprov" / "lab"
    kubeconfig = work / "kubeconfig"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert "server: https://" in kubeconfig.read_text()
    assert len(work.joinpath("known_hosts").read_text().splitlines()) >= 3
    # what the stand-in did is really there on the nodes
    assert {10250, 6443, 2379} <= _listening(lab, "cp1")
    assert 10250 in _listening(lab, "w1") and 6443 not in _listening(lab, "w1")
    checks = [e for e in events if e["event"] == "check" and e["stage"] == "verify"]
    assert {(e["host"], e["data"]["check"]) for e in checks} >= {("w2", "kubelet"), ("cp1", "kube-apiserver"),
                                                                 ("cp1", "etcd"), ("w1", "kubelet-version")}
    assert all(e["data"]["ok"] for e in checks)
    run = _last_run(site, "up")
    # the run store holds exactly what --output json printed, but for the process's last word: its result event
    # with the exit code (the command's own result, held back and merged into it)
    recorded, final = _recorded(run), events[-1]
    assert [e for e in recorded if e["event"] != "result"] == events[:-1]
    assert final["event"] == "result" and final["data"]["exit_code"] == 0 and final["data"]["kubeconfig"]
    assert json.loads((run / "result.json").read_text())["result"] == "ok"
    assert (run / "ansible" / "artifacts").is_dir() and (run / "junit-post-install.xml").is_file()


def test_verify_passes_and_writes_junit(site: Path) -> None:
    junit = site.parent / "verify.xml"
    proc, _ = kprov("verify", str(site), "--junit", str(junit))
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = junit.read_text()
    assert 'failures="0"' in text and 'name="kubelet"' in text and '<property name="host" value="w2"' in text
    # only the checks named or tagged so
    proc, events = kprov("verify", str(site), "--check", "etcd", "--check", "kubelet-version")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ran = {(e["host"], e["data"]["check"]) for e in events if e["event"] == "check"}
    assert ran == {("cp1", "etcd"), ("cp1", "kubelet-version"), ("w1", "kubelet-version"),
                   ("w2", "kubelet-version")}
    proc, _ = kprov("verify", str(site), "--check", "etcdd")
    assert proc.returncode == 2 and "no check or tag etcdd (there are: admin-conf, control-plane" in proc.stderr


def test_second_up_skips_every_stage(site: Path) -> None:
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _stage_events(events, "stage_skip") == STAGES
    assert _stage_events(events, "stage_start") == []
    assert "skipped" in proc.stderr


def test_status_and_kubeconfig_report_the_converged_site(site: Path) -> None:
    proc, events = kprov("status", str(site))
    assert proc.returncode == 0, proc.stderr
    status = next(e for e in events if e["event"] == "result")["data"]["status"]
    assert all(status["stages"][s] for s in STAGES)
    assert [n["name"] for n in status["nodes"]] == ["cp1", "w1", "w2"]
    assert status["nodes"][1]["labels"] == {"kprov.io/zone": "lab-a"}
    assert status["lock"] is None
    assert [r["command"] for r in status["runs"]][:4] == ["up", "verify", "verify", "up"]  # (--check etcdd: no run)
    assert {r["result"] for r in status["runs"]} == {"ok"}
    proc, events = kprov("kubeconfig", str(site))  # (-o json: the path is the result's data)
    assert events[-1]["data"]["kubeconfig"] == status["kubeconfig"] == str(site.parent / ".kprov" / "lab" /
                                                                          "kubeconfig")
    plain = subprocess.run([sys.executable, "-m", "kprov", "kubeconfig", str(site)], capture_output=True, text=True,
                           check=True)
    assert plain.stdout == status["kubeconfig"] + "\n"  # for $(kprov kubeconfig site.yaml)


def test_force_through_the_api_reruns_every_stage_and_records_what_it_streamed(site: Path) -> None:
    stream = io.StringIO()
    result = api.up(site, force=True, events=Events([JsonSink(stream)]))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert _stage_events(events, "stage_done") == STAGES
    assert _stage_events(events, "stage_skip") == []
    ran = [o for o in result.outcomes if o.status != "not-applicable"]  # remove: no node left the site
    assert [o.stage for o in ran] == STAGES and {o.status for o in ran} == {"ran"}
    assert result.kubeconfig == site.parent / ".kprov" / "lab" / "kubeconfig"
    assert _recorded(_last_run(site, "up")) == events
    # and the no-op fast path records its run too
    stream = io.StringIO()
    assert api.up(site, events=Events([JsonSink(stream)])).skipped == tuple(STAGES)
    assert _recorded(_last_run(site, "up")) == [json.loads(line) for line in stream.getvalue().splitlines()]


def test_verify_exits_6_naming_the_worker_and_check(lab: Lab, site: Path) -> None:
    lab.ssh("w2", "systemctl", "stop", "kubelet")
    try:
        proc, events = kprov("verify", str(site))
        assert proc.returncode == ExitCode.VERIFY_FAILED
        failed = {(e["host"], e["data"]["check"]) for e in events if e["event"] == "check" and not e["data"]["ok"]}
        assert failed == {("w2", "kubelet")}
        assert "w2: kubelet: kubelet is not running" in proc.stderr
    finally:
        lab.ssh("w2", "systemctl", "start", "kubelet")


def test_down_resets_the_nodes_and_destroys(lab: Lab, site: Path) -> None:
    proc, events = kprov("down", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _stage_events(events, "stage_done") == ["reset", "destroy"]
    for node, _ in NODES:
        assert not {10250, 6443, 2379} & _listening(lab, node)
        assert lab.ssh(node, "test", "-e", "/etc/kubernetes").returncode == 1
    work = site.parent / ".kprov" / "lab"
    assert not (work / "kubeconfig").exists()
    state = json.loads((work / "terraform" / "terraform.tfstate").read_text())
    assert state["resources"] == []


def test_unreachable_node_fails_the_ssh_stage_then_resumes(lab: Lab, tmp_path: Path, kprov_cache: Path) -> None:
    site = _write_site(lab, tmp_path / "again", connect_timeout=5)
    lab.stop_node("w1")
    try:
        proc, events = kprov("up", str(site))
    finally:
        lab.start_node("w1")
    assert proc.returncode == ExitCode.INFRASTRUCTURE, proc.stderr[-2000:]
    assert _stage_events(events, "stage_done") == ["infra", "inventory"]
    assert _stage_events(events, "stage_failed") == ["ssh"]
    assert "SSH stage: 1 node(s) not reachable: w1:" in proc.stderr
    proc, events = kprov("up", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _stage_events(events, "stage_skip") == ["infra", "inventory"]
    assert _stage_events(events, "stage_done") == ["ssh", "preflight", "bootstrap", "kubeconfig", "verify"]
    proc, _ = kprov("down", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
