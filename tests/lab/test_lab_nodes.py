"""The lab itself, on real nodes: what every lab test relies on (SSH as root, booted systemd, a shared L2 segment,
no way out, a node that keeps its disk across a power cycle, and a teardown that leaves nothing behind).
Steps run in file order on one lab; its own bridge and subnet keep it apart from the e2e lab."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.nodes import Lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
                       reason="lab nodes need root and systemd-nspawn (apt-get install systemd-container)"),
]

BRIDGE = "kprovbr9"
SUBNET = "10.99.42.0/24"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), subnet=SUBNET, bridge=BRIDGE) as lab:
        lab.start(["a", "b"])
        yield lab


def _host(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def _out(lab: Lab, node: str, *argv: str) -> str:
    proc = lab.ssh(node, *argv)
    assert proc.returncode == 0, f"{node}: {argv}: {proc.stderr}"
    return proc.stdout.strip()


def test_nodes_get_addresses_in_start_order(lab: Lab) -> None:
    assert [(n.name, n.ip, n.netns) for n in lab.nodes()] == [
        ("a", "10.99.42.10", f"{BRIDGE}-a"), ("b", "10.99.42.11", f"{BRIDGE}-b")]
    assert lab.ssh_private_key.stat().st_mode & 0o777 == 0o600


def test_ssh_as_root_reaches_the_named_node(lab: Lab) -> None:
    for node in lab.nodes():
        assert _out(lab, node.name, "hostname") == node.name
        assert _out(lab, node.name, "id", "-un") == "root"
        assert _out(lab, node.name, "python3", "-c", "print(6 * 7)") == "42"


def test_nodes_have_distinct_identities(lab: Lab) -> None:
    host_keys = {_out(lab, n, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()[1] for n in ("a", "b")}
    machine_ids = {_out(lab, n, "cat", "/etc/machine-id") for n in ("a", "b")}
    assert len(host_keys) == 2
    assert len(machine_ids) == 2


def test_systemd_boots_cleanly(lab: Lab) -> None:
    for name in ("a", "b"):
        state = lab.ssh(name, "timeout", "60", "systemctl", "is-system-running", "--wait").stdout.strip()
        assert state in {"running", "degraded"}, f"{name}: {state}"
        if state == "degraded":  # allowed, but say which unit so the rootfs recipe can mask it
            failed = _out(lab, name, "systemctl", "--failed", "--no-legend", "--plain")
            warnings.warn(f"lab node {name} is degraded; failed units:\n{failed}", stacklevel=1)
        assert _out(lab, name, "systemctl", "is-active", "ssh") == "active"


def test_nodes_share_a_segment_but_have_no_way_out(lab: Lab) -> None:
    b = lab.node("b")
    assert lab.ssh("a", "ping", "-c", "1", "-W", "2", b.ip).returncode == 0
    assert _out(lab, "a", "ip", "-4", "route", "show", "default").startswith("default via 10.99.42.1 dev eth0")
    # what Ansible's default ipv4 fact is made from
    assert "src 10.99.42.10" in _out(lab, "a", "ip", "-4", "route", "get", "192.0.2.123")
    host_route = _host("ip", "-4", "route", "show", "default")
    if host_route.startswith("default via "):
        outside = host_route.split()[2]  # the host's own gateway: one hop further than any node may go
        assert lab.ssh("a", "ping", "-c", "1", "-W", "2", outside).returncode != 0


def test_a_stopped_node_comes_back_with_its_state(lab: Lab) -> None:
    assert _out(lab, "b", "sh", "-c", "echo kept > /root/marker; sync; cat /root/marker") == "kept"
    old_pid = lab.node("b").pid
    lab.stop_node("b")
    assert lab.node("b").pid is None
    assert old_pid is not None and not Path(f"/proc/{old_pid}").exists()
    assert lab.ssh("b", "true", timeout=30).returncode != 0
    back = lab.start_node("b")
    assert (back.ip, back.pid is not None) == ("10.99.42.11", True)
    assert _out(lab, "b", "cat", "/root/marker") == "kept"
    assert _out(lab, "a", "hostname") == "a"  # the other node was not disturbed
    assert lab.ssh("a", "ping", "-c", "1", "-W", "2", back.ip).returncode == 0


def _processes_in(netns: list[str]) -> list[int]:
    """PIDs living in these netns: the containers' systemd and everything under it."""
    inodes = {f"net:[{Path('/run/netns', ns).stat().st_ino}]" for ns in netns}
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "net") in inodes:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _alive(pid: int) -> bool:
    try:  # a zombie (state Z) is dead, only not yet reaped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_teardown_leaves_nothing_behind(lab: Lab) -> None:
    pids = [n.pid for n in lab.nodes() if n.pid is not None] + _processes_in([n.netns for n in lab.nodes()])
    assert len(pids) > 2 * 3  # nspawn, systemd, journald, sshd, … per node
    lab.teardown()
    lab.teardown()  # idempotent: the fixture's exit runs it once more
    assert [pid for pid in pids if _alive(pid)] == []
    assert str(lab.root) not in Path("/proc/self/mountinfo").read_text()
    assert not [n for n in _host("ip", "netns", "list").split() if n.startswith(f"{BRIDGE}-")]
    assert BRIDGE not in _host("ip", "-o", "link", "show")
    assert f"iif {BRIDGE}" not in _host("ip", "rule", "show")
    assert not (lab.root / "nodes").exists()
    assert "Halting system" in lab.console_log("b").read_text()  # a clean poweroff, and the log outlives the lab


def test_a_node_that_cannot_boot_fails_with_its_console(tmp_path: Path) -> None:
    broken = tmp_path / "not-an-os"  # room for what the lab writes, but no os-release and no systemd
    (broken / "etc" / "ssh").mkdir(parents=True)
    (broken / "root").mkdir()
    lab = Lab(tmp_path / "lab", subnet="10.99.43.0/24", bridge="kprovbr8", rootfs=broken)
    with lab, pytest.raises(RuntimeError, match=r"(?s)lab node x \(10\.99\.43\.10\) did not come up: "
                                                r"systemd-nspawn exited 1; console log tail:\n.*look like an OS"):
        lab.start(["x"], timeout=30)
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
