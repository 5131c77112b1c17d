"""Lab nodes for tests: network namespace + ``systemd-nspawn`` containers that boot systemd and run sshd.

Each node gets its own netns (``eth0`` on a veth whose other end sits on a lab bridge in the root namespace), an
overlay of a shared Debian rootfs, pre-generated SSH host keys and the run's public key for root. Nodes never get
a route out and nothing is NATed: the bridge address is the only thing they can reach besides each other.
Everything is started with ``setsid`` and stopped by PID; ``teardown`` leaves no mount, netns or link behind.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

ROOTFS_CACHE = Path(os.environ.get("KPROV_LAB_CACHE", "/var/cache/kprov-lab"))
RECIPE = "bookworm-minbase-systemd-v1"
PACKAGES = "openssh-server,python3,iproute2,procps,iputils-ping,systemd,systemd-sysv,dbus,udev,kmod"
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"]  # tests only: lab nodes are made per run


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def ensure_rootfs(cache: Path = ROOTFS_CACHE) -> Path:
    """A prepared Debian bookworm rootfs with systemd, sshd and python3, built once and cached by recipe."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"rootfs-{RECIPE}"
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".kprov-lab-ready").exists():
            return target
        partial = cache / f"rootfs-{RECIPE}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        if shutil.which("mmdebstrap"):
            argv = ["mmdebstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(partial)]
        else:
            argv = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(partial)]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise RuntimeError(f"building the lab rootfs failed: {proc.stderr[-2000:]}")
        _prepare(partial)
        (partial / ".kprov-lab-ready").write_text(RECIPE + "\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        return target


def _prepare(root: Path) -> None:
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    # units that fail or hang without a real machine under them
    for unit in ("systemd-remount-fs.service", "console-getty.service", "getty@tty1.service",
                 "systemd-networkd-wait-online.service", "apt-daily.timer", "apt-daily-upgrade.timer"):
        link = root / "etc" / "systemd" / "system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    sshd = root / "etc" / "ssh" / "sshd_config.d" / "lab.conf"
    sshd.parent.mkdir(parents=True, exist_ok=True)
    sshd.write_text("PermitRootLogin prohibit-password\nUseDNS no\nPasswordAuthentication no\n")
    (root / "etc" / "fstab").write_text("")
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)


@dataclass(frozen=True)
class LabNode:
    name: str
    ip: str
    netns: str
    machine_dir: Path
    pid: int | None


class Lab:
    """A set of lab nodes on one bridge. Use as a context manager; ``teardown`` is idempotent."""

    def __init__(self, root: Path, *, subnet: str = "192.168.77.0/24", bridge: str = "kprovbr0",
                 rootfs: Path | None = None) -> None:
        self.root = root.absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.net = ipaddress.IPv4Network(subnet)
        self.bridge = bridge
        self.gateway = str(self.net.network_address + 1)
        self._rootfs = rootfs
        self._nodes: dict[str, LabNode] = {}
        self._order: list[str] = []
        self.ssh_private_key = self.root / "id_lab"
        self.ssh_public_key = self.root / "id_lab.pub"
        if not self.ssh_private_key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kprov-lab", "-f", str(self.ssh_private_key))
        self.ssh_private_key.chmod(0o600)

    # -- lifecycle -----------------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.teardown()

    def nodes(self) -> list[LabNode]:
        return [self._nodes[n] for n in self._order]

    def node(self, name: str) -> LabNode:
        return self._nodes[name]

    def start(self, names: list[str], timeout: float = 90) -> list[LabNode]:
        rootfs = self._rootfs or ensure_rootfs()
        self._rootfs = rootfs
        self._bridge_up()
        for name in names:
            if name not in self._order:
                self._order.append(name)
                ip = str(self.net.network_address + 10 + self._order.index(name))
                self._nodes[name] = LabNode(name, ip, f"kprov-{name}", self.root / "nodes" / name, None)
                self._plumb(self._nodes[name])
        with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
            list(pool.map(lambda n: self.start_node(n, timeout), names))
        return [self._nodes[n] for n in names]

    def _bridge_up(self) -> None:
        if _run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "flush", "dev", self.bridge)
        _run("ip", "addr", "add", f"{self.gateway}/{self.net.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    def _veth(self, node: LabNode) -> str:
        return f"kv{self._order.index(node.name)}{node.name}"[:15]

    def _plumb(self, node: LabNode) -> None:
        ns, host_if, peer = node.netns, self._veth(node), f"kp{self._order.index(node.name)}"
        _run("ip", "netns", "del", ns, check=False)  # a leftover from a crashed run
        _run("ip", "link", "del", host_if, check=False)
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", ns)
        _run("ip", "-n", ns, "link", "set", peer, "name", "eth0")
        _run("ip", "-n", ns, "addr", "add", f"{node.ip}/{self.net.prefixlen}", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", self.gateway)
        _run("ip", "link", "set", host_if, "master", self.bridge)
        _run("ip", "link", "set", host_if, "up")
        d = node.machine_dir
        for sub in ("upper", "work", "merged"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        _run("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={self._rootfs},upperdir={d / 'upper'},workdir={d / 'work'}", str(d / "merged"))
        merged = d / "merged"
        (merged / "etc" / "hostname").write_text(node.name + "\n")
        ssh_dir = merged / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(self.ssh_public_key.read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        _run("ssh-keygen", "-A", "-f", str(merged))  # own host keys, made here: fast, and distinct per node

    def start_node(self, name: str, timeout: float = 90) -> LabNode:
        node = self._nodes[name]
        if node.pid is not None and _alive(node.pid):
            return node
        merged = node.machine_dir / "merged"
        log = (node.machine_dir / "console.log").open("ab")
        proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(merged), "--boot", f"--machine={name}", f"--hostname={name}",
             "--register=no", "--keep-unit", "--capability=all",
             f"--network-namespace-path=/run/netns/{node.netns}", "--console=read-only"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"},
        )
        log.close()
        node = replace(node, pid=proc.pid)
        self._nodes[name] = node
        self._wait_ssh(node, timeout)
        return node

    def _wait_ssh(self, node: LabNode, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.pid is not None and not _alive(node.pid):
                break
            try:
                with socket.create_connection((node.ip, 22), timeout=2) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.3)
        tail = (node.machine_dir / "console.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"lab node {node.name} did not offer SSH within {timeout:.0f}s; console:\n{tail}")

    def stop_node(self, name: str, timeout: float = 20) -> None:
        """Power the node off; its disk (overlay) and address stay, so ``start_node`` brings it back."""
        node = self._nodes[name]
        if node.pid is not None and _alive(node.pid):
            os.kill(node.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(node.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(node.pid):
                os.killpg(node.pid, signal.SIGKILL)
                while _alive(node.pid):
                    time.sleep(0.1)
        self._nodes[name] = replace(node, pid=None)

    def ssh(self, name: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        node = self._nodes[name]
        return subprocess.run(["ssh", *SSH_OPTS, "-i", str(self.ssh_private_key), f"root@{node.ip}", "--",
                               shlex.join(argv)], capture_output=True, text=True, check=check,
                              stdin=subprocess.DEVNULL, timeout=60)

    def teardown(self) -> None:
        for name in list(self._order):
            node = self._nodes[name]
            try:
                self.stop_node(name)
            finally:
                merged = node.machine_dir / "merged"
                if os.path.ismount(merged):
                    _run("umount", "-l", str(merged), check=False)
                _run("ip", "netns", "del", node.netns, check=False)
                _run("ip", "link", "del", self._veth(node), check=False)
        _run("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.root / "nodes", ignore_errors=True)
        self._order.clear()
        self._nodes.clear()


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return done == 0
