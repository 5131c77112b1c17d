"""The checks, as small functions of a testinfra host and the node they run on.

Each returns nothing or raises ``AssertionError`` with a message a person can act on. ``PREFLIGHT`` runs
before Kubespray (the fact-based checks Kubespray would otherwise fail on mid-run); ``POST_INSTALL`` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kprov.nodes import Node
from kprov.site.types import Role

Host = Any  # testinfra.host.Host (untyped library)


@dataclass(frozen=True)
class Check:
    name: str
    roles: frozenset[Role] | None  # None: every node
    run: Callable[[Host, Node, dict[str, Any]], None]

    def applies(self, node: Node) -> bool:
        return self.roles is None or any(node.has(r) for r in self.roles)


def _listening(host: Host, port: int, ip: str) -> bool:
    """Listening on all addresses, or on the node's own (etcd binds its ``ip``)."""
    return any(host.socket(spec).is_listening for spec in (f"tcp://{port}", f"tcp://0.0.0.0:{port}", f"tcp://{ip}:{port}"))


def _service_running(unit: str, port: int) -> Callable[[Host, Node, dict[str, Any]], None]:
    def check(host: Host, node: Node, ctx: dict[str, Any]) -> None:
        svc = host.service(unit)
        assert svc.is_running, f"{unit} is not running"
        assert svc.is_enabled, f"{unit} is not enabled (would not survive a reboot)"
        assert _listening(host, port, node.ip), f"{unit} is running but nothing listens on TCP {port}"
    return check


def swap_off(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    lines = [ln for ln in host.file("/proc/swaps").content_string.splitlines()[1:] if ln.strip()]
    assert not lines, f"swap is on ({lines[0].split()[0]}): the kubelet refuses to run with swap"


def kubelet_version(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    want = f"v{ctx['kubernetes_version']}"
    cmd = host.run("/usr/local/bin/kubelet --version")
    assert cmd.rc == 0, f"kubelet --version failed: {cmd.stderr.strip() or cmd.rc}"
    assert want in cmd.stdout.split(), f"kubelet is {cmd.stdout.strip()}, the site asks for {want}"


def admin_conf(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    f = host.file("/etc/kubernetes/admin.conf")
    assert f.exists, "/etc/kubernetes/admin.conf is missing"
    assert f.mode & 0o077 == 0, f"/etc/kubernetes/admin.conf is readable by others (mode {f.mode:o})"


def python_present(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    assert host.exists("python3"), "python3 is missing: Ansible cannot manage this node"


def systemd_init(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    comm = host.file("/proc/1/comm").content_string.strip()
    assert comm == "systemd", f"PID 1 is {comm!r}, Kubespray needs systemd"


def ip_is_local(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    out = host.check_output("ip -o -4 addr show")
    local = {part.split("/")[0] for line in out.splitlines() for part in line.split() if "/" in part}
    assert node.ip in local, f"ip {node.ip} is not an address of this node (it has {', '.join(sorted(local))})"


def memory(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    meminfo = host.file("/proc/meminfo").content_string
    kib = int(next(ln.split()[1] for ln in meminfo.splitlines() if ln.startswith("MemTotal:")))
    need_mib = 2048 if node.has(Role.CONTROL_PLANE) else 1024
    assert kib // 1024 >= need_mib * 0.9, f"{kib // 1024} MiB of memory, Kubespray needs {need_mib} MiB here"


def hostname_valid(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    name = host.check_output("hostname").strip()
    assert name == name.lower(), f"hostname {name!r} has capitals: Kubernetes node names must be lower case"


CP = frozenset({Role.CONTROL_PLANE})
ETCD = frozenset({Role.ETCD})
WORKERS = frozenset({Role.WORKER})

PREFLIGHT: tuple[Check, ...] = (
    Check("python3", None, python_present),
    Check("systemd", None, systemd_init),
    Check("ip-is-local", None, ip_is_local),
    Check("memory", None, memory),
    Check("hostname", None, hostname_valid),
)

POST_INSTALL: tuple[Check, ...] = (
    Check("swap-off", None, swap_off),
    Check("kubelet", None, _service_running("kubelet", 10250)),
    Check("kubelet-version", None, kubelet_version),
    Check("kube-apiserver", CP, _service_running("kube-apiserver", 6443)),
    Check("admin-conf", CP, admin_conf),
    Check("etcd", ETCD, _service_running("etcd", 2379)),
)

SUITES = {"preflight": PREFLIGHT, "post-install": POST_INSTALL}
