"""The checks, as small functions of a testinfra host and the node they run on.

Each returns nothing or raises ``AssertionError`` with a message a person can act on. ``PREFLIGHT`` runs
before Kubespray (the fact-based checks Kubespray would otherwise fail on mid-run); ``POST_INSTALL`` after it.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Collection
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
    tags: frozenset[str] = frozenset()
    """Names a group of checks answers to besides its own (``kprov verify --check etcd``)."""

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


def preflight_swap(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    lines = [ln for ln in host.file("/proc/swaps").content_string.splitlines()[1:] if ln.strip()]
    assert not lines, (f"swap is on ({lines[0].split()[0]}); fix: swapoff -a and remove the swap line from "
                       "/etc/fstab (the kubelet refuses to run with swap)")


TIME_SERVICES = ("systemd-timesyncd", "chrony", "chronyd", "ntp", "ntpsec", "openntpd")


def time_sync(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    if host.run("systemd-detect-virt --container").rc == 0:
        return  # a container's clock is its host's
    running = [s for s in TIME_SERVICES if host.service(s).is_running]
    assert running, ("no time sync service runs (systemd-timesyncd, chrony, ntp); fix: apt install "
                     "systemd-timesyncd && systemctl enable --now systemd-timesyncd (etcd and certificates need "
                     "clocks in step)")


MAX_SKEW = 2.0
"""Seconds a node's clock may differ from this machine's (etcd warns at 1 s between members)."""


def clock_skew(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    before = time.time()
    out = host.check_output("date +%s.%N")
    after = time.time()
    skew = float(out) - (before + after) / 2
    assert abs(skew) <= MAX_SKEW + (after - before) / 2, (
        f"the clock is {skew:+.1f} s off this machine's; fix: start time sync (systemctl enable --now "
        "systemd-timesyncd) and wait until it is in step")


def record_hostname(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    name = host.check_output("hostname").strip()
    ctx["hostnames"][node.name] = name
    assert name == name.lower(), f"hostname {name!r} has capitals: Kubernetes node names must be lower case"


PORTS: dict[Role, dict[int, str]] = {
    Role.CONTROL_PLANE: {6443: "kube-apiserver", 10257: "kube-controller-manager", 10259: "kube-scheduler"},
    Role.ETCD: {2379: "etcd client", 2380: "etcd peer"},
    Role.WORKER: {10250: "kubelet"},
}


def _ports(node: Node) -> dict[int, str]:
    found = {10250: "kubelet"} if node.has(Role.CONTROL_PLANE) or node.has(Role.WORKER) else {}
    for role, ports in PORTS.items():
        if node.has(role):
            found.update(ports)
    return found


def ports_free(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    if node.name in ctx.get("members", ()):
        return  # a member: Kubernetes itself listens there
    taken = [f"TCP {port} ({what})" for port, what in sorted(_ports(node).items()) if _listening(host, port, node.ip)]
    assert not taken, (f"{', '.join(taken)} already in use on a node that has not joined; fix: stop what listens "
                       "there (ss -tlnp names it), or use another machine")


PROBE = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    ip, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((ip, int(port)))
        out[target] = "open"
    except ConnectionRefusedError:
        out[target] = "refused"
    except socket.timeout:
        out[target] = "timeout"
    except OSError as e:
        out[target] = "unreachable: " + (e.strerror or type(e).__name__)
    finally:
        s.close()
print(json.dumps(out))
"""


def reachability(host: Host, node: Node, ctx: dict[str, Any]) -> None:
    """From this node to every other on the ports their roles serve and this node needs: the API (6443) from every
    node, etcd (2379, 2380) between etcd members, the kubelet (10250) from the control plane. A refused connection
    is a reachable node (nothing listens yet); a timeout or no route is a network that drops it."""
    wanted: dict[str, tuple[str, str]] = {}
    for other in ctx["nodes"]:
        if other.name == node.name:
            continue
        ports: dict[int, str] = {}
        if other.has(Role.CONTROL_PLANE):
            ports[6443] = "kube-apiserver"
        if other.has(Role.ETCD) and node.has(Role.ETCD):
            ports.update({2379: "etcd client", 2380: "etcd peer"})
        if node.has(Role.CONTROL_PLANE) and (other.has(Role.WORKER) or other.has(Role.CONTROL_PLANE)):
            ports[10250] = "kubelet"
        for port, what in ports.items():
            wanted[f"{other.ip}:{port}"] = (other.name, what)
    if not wanted:
        return
    cmd = host.run("python3 -c " + shlex.quote(PROBE) + " " + " ".join(shlex.quote(t) for t in wanted))
    assert cmd.rc == 0, f"could not probe the other nodes: {cmd.stderr.strip() or cmd.rc}"
    answers = json.loads(cmd.stdout)
    blocked = [f"{wanted[t][0]} ({t}, {wanted[t][1]}): {a}" for t, a in answers.items() if a not in ("open", "refused")]
    assert not blocked, (f"cannot reach {'; '.join(blocked)}; fix: allow these TCP ports from {node.ip} in the "
                         "firewalls and security groups between the nodes")


CP = frozenset({Role.CONTROL_PLANE})
ETCD = frozenset({Role.ETCD})
WORKERS = frozenset({Role.WORKER})

PREFLIGHT: tuple[Check, ...] = (
    Check("python3", None, python_present),
    Check("systemd", None, systemd_init),
    Check("ip-is-local", None, ip_is_local),
    Check("memory", None, memory),
    Check("hostname", None, record_hostname),
    Check("swap", None, preflight_swap),
    Check("time-sync", None, time_sync),
    Check("clock-skew", None, clock_skew),
    Check("ports-free", None, ports_free),
    Check("reachability", None, reachability),
)


def unique_hostnames(ctx: dict[str, Any]) -> dict[str, str]:
    """Site-wide, after every node's checks: nodes that answer with the same hostname (Kubernetes would see one
    node). Returns node → why it fails."""
    seen: dict[str, list[str]] = {}
    for node, name in ctx["hostnames"].items():
        seen.setdefault(name, []).append(node)
    return {node: (f"hostname {name!r} is also the hostname of {', '.join(n for n in nodes if n != node)}; fix: "
                   f"hostnamectl set-hostname {node}")
            for name, nodes in seen.items() if len(nodes) > 1 for node in nodes}


SITE_CHECKS: dict[str, tuple[tuple[str, Any], ...]] = {"preflight": (("hostname-unique", unique_hostnames),)}
"""Per suite, checks over what every node's checks gathered in ``ctx``: (name, ctx → {node: failure})."""

POST_INSTALL: tuple[Check, ...] = (
    Check("swap-off", None, swap_off, frozenset({"node"})),
    Check("kubelet", None, _service_running("kubelet", 10250), frozenset({"node", "kubelet"})),
    Check("kubelet-version", None, kubelet_version, frozenset({"kubelet", "version"})),
    Check("kube-apiserver", CP, _service_running("kube-apiserver", 6443), frozenset({"control-plane"})),
    Check("admin-conf", CP, admin_conf, frozenset({"control-plane", "security"})),
    Check("etcd", ETCD, _service_running("etcd", 2379), frozenset({"etcd"})),
)


def select(checks: tuple[Check, ...], wanted: Collection[str]) -> tuple[Check, ...]:
    """The checks named, or tagged, by ``wanted`` (every check when it is empty); a name that is neither is an
    error listing what there is."""
    if not wanted:
        return checks
    known = {c.name for c in checks} | {t for c in checks for t in c.tags}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise ValueError(f"no check or tag {', '.join(unknown)} (there are: {', '.join(sorted(known))})")
    return tuple(c for c in checks if c.name in wanted or c.tags & set(wanted))

SUITES = {"preflight": PREFLIGHT, "post-install": POST_INSTALL}
