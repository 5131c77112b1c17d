"""Lab nodes for tests: network namespace + ``systemd-nspawn`` containers that boot systemd and run sshd.

Why this shape (see the lab notes, ``lab.md``): there is no Docker and PID 1 is not systemd, but nspawn with
``--register=no --keep-unit`` boots a real systemd in ~1 s, so ``systemctl``, unit files and testinfra's
service checks behave as on a real host. Each node gets

* its own netns ``<bridge>-<name>`` with ``eth0`` (a veth whose host end ``<bridge>-<n>`` sits on the lab
  bridge; the bridge holds the subnet's first address and is the nodes' default gateway, so Ansible's
  ``ansible_default_ipv4`` fact is filled),
* an overlay of one shared, cached Debian rootfs (the upper dir is the node's "disk": it survives
  ``stop_node``/``start_node``),
* its own machine-id and SSH host keys, and the run's public key for root.

Nodes never get a way out: the host does not NAT, and a policy rule refuses to route anything that arrives on
the bridge (even if someone turns ``ip_forward`` on); only the host's own addresses and the other nodes answer.
Everything is started with ``setsid`` and stopped by PID; ``teardown`` leaves no process, mount, netns, link or
rule behind, and a new ``Lab`` on the same bridge first removes what a crashed run left.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import ClassVar

ROOTFS_CACHE = Path(os.environ.get("KPROV_LAB_CACHE", "/var/cache/kprov-lab"))  # outside the clone
SUITE = "bookworm"


def host_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's own apt sources name for ``SUITE`` main (deb822 ``*.sources`` files or
    one-line ``sources.list``), so a machine behind a corporate mirror or proxy builds the lab from it unchanged.
    ``KPROV_LAB_MIRROR`` overrides it."""
    if os.environ.get("KPROV_LAB_MIRROR"):
        return os.environ["KPROV_LAB_MIRROR"]
    for path in sorted((sources / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines()
                          if ":" in line and not line.startswith(("#", " ")))
            fields = {k.strip().lower(): v.split() for k, v in fields.items()}
            if ("deb" in fields.get("types", []) and SUITE in fields.get("suites", [])
                    and "main" in fields.get("components", []) and fields.get("uris")):
                return fields["uris"][0]
    for path in [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*.list"))]:
        for line in path.read_text().splitlines() if path.is_file() else []:
            words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
            if len(words) >= 4 and words[0] == "deb" and words[2] == SUITE and "main" in words[3:]:
                return words[1]
    raise RuntimeError(f"no apt source for Debian {SUITE} main on this machine: set KPROV_LAB_MIRROR")


MIRROR = host_mirror()
PACKAGES = ("openssh-server", "python3", "iproute2", "procps", "iputils-ping",
            "systemd", "systemd-sysv", "dbus", "udev", "kmod",  # no kernel: nspawn shares the host's
            "dnsmasq", "ipxe", "nginx", "python3-apt",  # pxe-server.yml's packages: nodes have no way out
            "etcd-server", "etcd-client",  # the Kubespray stand-in runs a real etcd cluster on the etcd nodes
            "systemd-timesyncd")  # time sync, as preflight wants on machines (containers keep their host's clock)
# Installed above but not started at boot: a node is a PXE server (or an etcd member) only once a playbook says so.
DISABLED_UNITS = ("dnsmasq.service", "nginx.service", "etcd.service")
# Units that fail, hang or only add noise in an nspawn container without a console or a way out.
MASKED_UNITS = ("systemd-remount-fs.service",  # / is an overlay nspawn already mounted
                "console-getty.service", "getty@tty1.service",  # the console is read-only
                "apt-daily.timer", "apt-daily-upgrade.timer",  # no route out: would only fail later
                "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer")
RULE_PRIORITY = 90  # before "main" (32766), after "local" (0): local addresses still answer
SSH_OPTS = ("-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",  # tests only: nodes are per run
            "-o", "LogLevel=ERROR")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_BRIDGE = re.compile(r"^[a-z][a-z0-9]{0,9}$")  # "<bridge>-<n>" must fit IFNAMSIZ (15)
_OWNERS = Path("/run/kprov-lab")


# -- root filesystem ----------------------------------------------------------------------------------------


def _prepare(root: Path) -> None:
    """Make a fresh bootstrap bootable under nspawn and neutral enough to be every node's lower dir."""
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()  # each node gets its own (pre-generated in its overlay)
    system = root / "etc" / "systemd" / "system"
    for unit in MASKED_UNITS:
        link = system / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for wants in [d for d in system.iterdir() if d.name.endswith(".wants")]:
        for unit in DISABLED_UNITS:  # (absolute links, broken seen from the host: glob would skip them)
            if (wants / unit).is_symlink():
                (wants / unit).unlink()
    conf = root / "etc" / "ssh" / "sshd_config.d" / "kprov-lab.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    (root / "etc" / "fstab").write_text("")
    (root / "etc" / "machine-id").write_text("")  # one per node, written into its overlay
    (root / "var" / "lib" / "dbus" / "machine-id").unlink(missing_ok=True)
    (root / "etc" / "hostname").unlink(missing_ok=True)
    (root / "root").chmod(0o700)
    subprocess.run(["chroot", str(root), "apt-get", "clean"], check=True, capture_output=True)
    for lists in (root / "var" / "lib" / "apt" / "lists").glob("*_*"):
        lists.unlink()  # no route out, so nodes cannot use them; saves ~40 MB


def _recipe() -> dict[str, object]:
    try:
        prepare = inspect.getsource(_prepare)
    except OSError:  # pragma: no cover - only without sources
        prepare = "unknown"
    return {"suite": SUITE, "variant": "minbase", "packages": sorted(PACKAGES), "masked": list(MASKED_UNITS),
            "prepare": hashlib.sha256(prepare.encode()).hexdigest()}


RECIPE = _recipe()
RECIPE_ID = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:12]
STAMP = ".kprov-lab-recipe.json"


def ensure_rootfs(cache: Path = ROOTFS_CACHE) -> Path:
    """Return a Debian bookworm rootfs with systemd, sshd and python3, building it once per recipe.

    The directory name carries a hash of the recipe (suite, packages, masked units, the source of ``_prepare``),
    so changing any of them builds a new one; the stamp file inside records the recipe and how it was built.
    Built with mmdebstrap (debootstrap if that is missing or fails) into a temp dir next to the cache and renamed
    into place, under an flock so two runs never build at once. Older rootfs dirs no overlay uses are pruned.
    """
    cache = cache.absolute()
    target = cache / f"rootfs-{SUITE}-{RECIPE_ID}"
    if _stamp_ok(target):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _stamp_ok(target):
            for leftover in cache.glob(".build-*"):  # a build that was killed; we hold the lock
                _safe_rmtree(leftover)
            if target.exists():
                _safe_rmtree(target)
            _build(cache, target)
        _prune(cache, keep=target)
    return target


def _stamp_ok(target: Path) -> bool:
    try:
        return bool(json.loads((target / STAMP).read_text())["recipe"] == RECIPE)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _build(cache: Path, target: Path) -> None:
    tools = [t for t in ("mmdebstrap", "debootstrap") if shutil.which(t)]
    if not tools:
        raise RuntimeError("building the lab rootfs needs mmdebstrap or debootstrap (apt-get install mmdebstrap)")
    log = cache / f"build-{RECIPE_ID}.log"
    errors = []
    for tool in tools:
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".build-"))
        tmp.chmod(0o755)  # becomes the nodes' "/"; mkdtemp makes it 0700
        argv = [tool, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), MIRROR]
        began = time.monotonic()
        with log.open("a") as out:
            out.write(f"$ {shlex.join(argv)}\n")
            out.flush()
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
        if proc.returncode == 0:
            _prepare(tmp)
            stamp = {"recipe": RECIPE, "tool": tool, "seconds": round(time.monotonic() - began, 1),
                     "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (tmp / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
            tmp.rename(target)
            return
        errors.append(f"{tool} exited {proc.returncode}")
        _safe_rmtree(tmp)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"building the lab rootfs failed ({'; '.join(errors)}); see {log}:\n{tail}")


def _prune(cache: Path, keep: Path) -> None:
    """Drop rootfs dirs of older recipes unless a live overlay still uses them as its lower dir."""
    table = Path("/proc/self/mountinfo").read_text()
    for old in cache.glob("rootfs-*"):
        if old != keep and old.is_dir() and f"lowerdir={old}" not in table:
            _safe_rmtree(old)


# -- mounts and processes -----------------------------------------------------------------------------------


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path``, deepest first (the order to unmount them in)."""
    top = str(path)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == top or point.startswith(top + "/"):
            points.append(Path(point))
    return sorted(set(points), key=lambda p: len(p.parts), reverse=True)


def _umount_under(path: Path) -> list[Path]:
    """Unmount everything at or below ``path`` (detaching what is busy); return what could not be removed."""
    for point in _mounts_under(path):
        if _run("umount", str(point), check=False).returncode != 0:
            _run("umount", "--lazy", str(point), check=False)
    return _mounts_under(path)


def _safe_rmtree(path: Path) -> None:
    """rmtree that refuses to descend into mounts (a killed bootstrap may leave /dev or /proc bound inside)."""
    left = _umount_under(path)
    if left:
        raise RuntimeError(f"refusing to delete {path}: still mounted: {', '.join(map(str, left))}")
    shutil.rmtree(path, ignore_errors=True)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid``: with the PID it identifies a process even after PID reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # dead, not yet reaped
    except (OSError, IndexError):
        return True


def _kill_in_netns(netns: list[str]) -> None:
    """SIGKILL every process inside these netns. Killing systemd-nspawn alone is not enough: the container's
    systemd then lives on, reparented to PID 1, still holding the overlay and the netns."""
    wanted = set()
    for ns in netns:
        with suppress(OSError):
            wanted.add(f"net:[{os.stat(f'/run/netns/{ns}').st_ino}]")
    if not wanted:
        return
    victims = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if os.readlink(entry / "ns" / "net") in wanted:
                    victims.append(int(entry.name))
    for pid in victims:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in victims:
        _wait_gone(pid, 10)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# -- nodes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabNode:
    """A snapshot of one node; ``pid`` is the systemd-nspawn process, ``None`` while the node is off."""

    name: str
    ip: str
    netns: str
    machine_dir: Path  # holds upper/ (the node's disk), work/, merged/ (its /) and nspawn.pid
    pid: int | None


class Lab:
    """A set of lab nodes on one bridge and subnet. Use as a context manager; ``teardown`` is idempotent.

    ``root`` is a per-run temp dir for overlays, pid files, console logs and the run's SSH key pair. The bridge
    name is the prefix of every netns and host-side veth, which is what lets a later run clean up after a crash.
    """

    _claimed: ClassVar[dict[str, Lab]] = {}  # bridges held by live Labs of this process

    def __init__(self, root: Path, *, subnet: str = "192.168.77.0/24", bridge: str = "kprovbr0",
                 rootfs: Path | None = None) -> None:
        if not _BRIDGE.match(bridge):
            raise ValueError(f"bridge name {bridge!r}: use 1-10 of [a-z0-9], starting with a letter")
        self.root = root.absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.net = ipaddress.IPv4Network(subnet)
        self.bridge = bridge
        self.gateway = str(self.net.network_address + 1)
        self._rootfs = rootfs
        self._nodes: dict[str, LabNode] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._order: list[str] = []
        self._up = False
        self.ssh_private_key = self.root / "id_lab"
        self.ssh_public_key = self.root / "id_lab.pub"
        if not self.ssh_private_key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kprov-lab", "-f", str(self.ssh_private_key))
        self.ssh_private_key.chmod(0o600)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.teardown()

    def node(self, name: str) -> LabNode:
        return self._nodes[name]

    def nodes(self) -> list[LabNode]:
        """All nodes ever started, in address order."""
        return [self._nodes[n] for n in self._order]

    def console_log(self, name: str) -> Path:
        """The node's console (boot and shutdown messages); kept after ``teardown`` for post-mortems."""
        return self.root / "logs" / f"{name}.console.log"

    # -- start --------------------------------------------------------------------------------------------

    def start(self, names: list[str], *, timeout: float = 90.0) -> list[LabNode]:
        """Start nodes in parallel (new ones get .10, .11, … in order of first start); return once all take SSH."""
        self._allocate(names)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            futures = [pool.submit(self.start_node, name, timeout=timeout) for name in names]
            errors = [str(e) for f in futures if (e := f.exception()) is not None]
        if errors:
            raise RuntimeError("\n\n".join(errors))
        return [self._nodes[n] for n in names]

    def start_node(self, name: str, *, timeout: float = 90.0) -> LabNode:
        """Boot the node (creating it on first use) and wait until sshd answers; a stopped node keeps its disk."""
        self._allocate([name])
        node = self._nodes[name]
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is None:
            return node
        merged = node.machine_dir / "merged"
        if not os.path.ismount(merged):
            self._create(node)
        # The machine name is the netns name, unique per lab: nspawn keys /run/systemd/nspawn/propagate/ on it.
        log_path = self.console_log(name)
        log_path.parent.mkdir(exist_ok=True)
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                ["systemd-nspawn", "--quiet", f"--directory={merged}", "--boot", f"--machine={node.netns}",
                 f"--hostname={name}", "--register=no", "--keep-unit", "--capability=all", "--link-journal=no",
                 f"--network-namespace-path=/run/netns/{node.netns}", "--console=read-only"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,  # = setsid
                env={**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"},  # net.* sysctls writable
            )
        self._procs[name] = proc
        (node.machine_dir / "nspawn.pid").write_text(f"{proc.pid}\n")
        node = self._nodes[name] = replace(node, pid=proc.pid)
        self._wait_ssh(node, proc, timeout)
        return node

    def _allocate(self, names: list[str]) -> None:
        self._bring_up()
        for name in names:
            if not _NAME.match(name):
                raise ValueError(f"node name {name!r}: use [a-z0-9-], at most 32 characters")
            if name in self._nodes:
                continue
            address = self.net.network_address + 10 + len(self._order)
            if address >= self.net.broadcast_address:
                raise RuntimeError(f"subnet {self.net} has no address left for node {name}")
            self._order.append(name)
            self._nodes[name] = LabNode(name, str(address), f"{self.bridge}-{name}", self.root / "nodes" / name, None)

    def _veth(self, name: str) -> str:
        return f"{self.bridge}-{self._order.index(name)}"

    def _bring_up(self) -> None:
        """Claim the bridge (cleaning up a crashed run's leftovers first) and create it with the gateway address."""
        if self._up:
            return
        if self._rootfs is None:
            self._rootfs = ensure_rootfs()
        holder = Lab._claimed.get(self.bridge)
        if holder is not None and holder is not self:
            raise RuntimeError(f"bridge {self.bridge} is in use by another Lab in this process ({holder.root})")
        owner_file = _OWNERS / f"{self.bridge}.json"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            owner = None
        if owner and owner["pid"] != os.getpid() and _start_time(owner["pid"]) == owner["start"]:
            raise RuntimeError(f"bridge {self.bridge} is in use by a lab in pid {owner['pid']} ({owner['root']})")
        _clean_stale(self.bridge, Path(owner["root"]) if owner else None)
        for line in _run("ip", "-o", "-4", "addr", "show").stdout.splitlines():
            if f" {self.gateway}/" in line:
                raise RuntimeError(f"{self.gateway} is already on {line.split()[1]}: pick another lab subnet")
        _OWNERS.mkdir(parents=True, exist_ok=True)
        owner_file.write_text(json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid()),
                                          "root": str(self.root)}))
        Lab._claimed[self.bridge] = self
        self._up = True
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/{self.net.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        # No way out, whatever ip_forward says: nothing that comes in on the bridge is routed anywhere.
        _run("ip", "-4", "rule", "add", "priority", str(RULE_PRIORITY), "iif", self.bridge, "unreachable")

    def _create(self, node: LabNode) -> None:
        """Plumb the node's netns and veth, mount its overlay and write its identity into the upper dir."""
        host_if = self._veth(node.name)
        _run("ip", "netns", "add", node.netns)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
        _run("ip", "link", "set", host_if, "master", self.bridge)
        _run("ip", "link", "set", host_if, "up")
        for argv in (["link", "set", "lo", "up"], ["addr", "add", f"{node.ip}/{self.net.prefixlen}", "dev", "eth0"],
                     ["link", "set", "eth0", "up"], ["route", "add", "default", "via", self.gateway]):
            _run("ip", "-n", node.netns, *argv)
        d = node.machine_dir
        fresh = not (d / "upper").exists()
        for sub in ("upper", "work", "merged"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        _run("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={self._rootfs},upperdir={d / 'upper'},workdir={d / 'work'}", str(d / "merged"))
        if not fresh:
            return
        merged = d / "merged"
        (merged / "etc" / "hostname").write_text(f"{node.name}\n")
        (merged / "etc" / "hosts").write_text(f"127.0.0.1\tlocalhost\n{node.ip}\t{node.name}\n"
                                              "::1\tlocalhost ip6-localhost ip6-loopback\n")
        (merged / "etc" / "machine-id").write_text(f"{uuid.uuid4().hex}\n")  # distinct, and no first-boot path
        ssh_dir = merged / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self.ssh_public_key.read_text())
        keys.chmod(0o600)
        for kind, bits in (("rsa", "2048"), ("ecdsa", "256"), ("ed25519", "256")):  # distinct per node; made here
            key = merged / "etc" / "ssh" / f"ssh_host_{kind}_key"  # (RSA 2048, not 3072: ~0.3 s instead of ~1.5 s)
            _run("ssh-keygen", "-q", "-t", kind, "-b", bits, "-N", "", "-C", f"root@{node.name}", "-f", str(key))

    def _wait_ssh(self, node: LabNode, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection((node.ip, 22), timeout=2) as conn:
                    conn.settimeout(5)
                    if conn.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        why = f"systemd-nspawn exited {proc.returncode}" if proc.poll() is not None else f"no SSH in {timeout:.0f}s"
        tail = self.console_log(node.name).read_text(errors="replace")[-3000:]
        raise RuntimeError(f"lab node {node.name} ({node.ip}) did not come up: {why}; console log tail:\n{tail}")

    # -- use ----------------------------------------------------------------------------------------------

    def ssh(self, name: str, *argv: str, check: bool = False, timeout: float = 120.0,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root on the node over real SSH with the lab key (quoted for the remote shell)."""
        node = self._nodes[name]
        return subprocess.run(["ssh", *SSH_OPTS, "-i", str(self.ssh_private_key), f"root@{node.ip}", "--",
                               shlex.join(argv)], capture_output=True, text=True, check=check,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    # -- stop ---------------------------------------------------------------------------------------------

    def stop_node(self, name: str, *, timeout: float = 30.0) -> None:
        """Power the node off (SIGTERM makes nspawn shut systemd down cleanly; SIGKILL after ``timeout``).

        The overlay, netns and address stay, so ``start_node`` boots the same node again with its state.
        """
        self._stop([name], timeout)

    def reinstall_node(self, name: str, *, timeout: float = 90.0) -> LabNode:
        """A fresh install of the node's machine: powered off, its disk (the overlay's upper dir) and host keys
        thrown away, booted again on the same address, as after an operator reinstalled a dead server."""
        self._stop([name], 30.0)
        node = self._nodes[name]
        d = node.machine_dir
        _umount_under(d)
        for sub in ("upper", "work"):
            _safe_rmtree(d / sub)
        _run("ip", "netns", "del", node.netns)  # its veth goes with it; start_node plumbs both again
        return self.start_node(name, timeout=timeout)

    def _stop(self, names: list[str], timeout: float) -> None:
        running = {n: p for n in names if (p := self._procs.get(n)) is not None and p.poll() is None}
        for proc in running.values():
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in running.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                name = next(n for n, p in running.items() if p is proc)
                _kill_in_netns([self._nodes[name].netns])
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for name in names:
            self._procs.pop(name, None)
            if name in self._nodes:
                node = self._nodes[name] = replace(self._nodes[name], pid=None)
                (node.machine_dir / "nspawn.pid").unlink(missing_ok=True)
                with suppress(OSError):  # nspawn leaves it when /run is not a tmpfs (as here)
                    Path(f"/run/systemd/nspawn/propagate/{node.netns}").rmdir()

    def teardown(self, *, timeout: float = 30.0) -> None:
        """Stop every node, unmount, delete netns, veths, rule and bridge. Idempotent; does all it can, then
        raises if anything is left (a mount above all: then the node dirs are kept rather than deleted)."""
        errors: list[str] = []
        try:
            self._stop(list(self._nodes), timeout)
        except Exception as e:  # keep going: mounts and links must go even so
            errors.append(f"stopping nodes: {e}")
        left = _umount_under(self.root)
        if left:
            errors.append(f"still mounted: {', '.join(map(str, left))}")
        if self._up or self._nodes:
            _kill_in_netns([n.netns for n in self._nodes.values()])  # only if a stop above went wrong
            errors += _remove_net(self.bridge, [n.netns for n in self._nodes.values()])
            owner_file = _OWNERS / f"{self.bridge}.json"
            with suppress(OSError, ValueError):
                if json.loads(owner_file.read_text()).get("root") == str(self.root):
                    owner_file.unlink()
        if Lab._claimed.get(self.bridge) is self:
            del Lab._claimed[self.bridge]
        self._up = False
        if not left:
            shutil.rmtree(self.root / "nodes", ignore_errors=True)
            self._nodes.clear()
            self._order.clear()
        if errors:
            raise RuntimeError("lab teardown incomplete: " + "; ".join(errors))


def _remove_net(bridge: str, netns: list[str]) -> list[str]:
    """Delete the lab's netns (named and any ``<bridge>-*``), host veths ``<bridge>-*``, its rule and bridge."""
    prefix = f"{bridge}-"
    listed = [line.split()[0] for line in _run("ip", "netns", "list", check=False).stdout.splitlines() if line]
    for ns in {*netns, *(n for n in listed if n.startswith(prefix))}:
        _run("ip", "netns", "del", ns, check=False)
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(prefix) or link == bridge:
            _run("ip", "link", "del", link, check=False)
    while _run("ip", "-4", "rule", "del", "priority", str(RULE_PRIORITY), "iif", bridge, "unreachable",
               check=False).returncode == 0:
        pass
    errors = []
    if _run("ip", "link", "show", bridge, check=False).returncode == 0:
        errors.append(f"bridge {bridge} still exists")
    left = [n for n in _run("ip", "netns", "list", check=False).stdout.split() if n.startswith(prefix)]
    if left:
        errors.append(f"netns still there: {', '.join(left)}")
    return errors


def _clean_stale(bridge: str, old_root: Path | None) -> None:
    """Remove what a crashed run on this bridge left: its nspawn processes, overlay mounts, netns, links."""
    marker = f"--network-namespace-path=/run/netns/{bridge}-"
    victims = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            argv = _cmdline(int(entry.name))
            if argv and argv[0].endswith("systemd-nspawn") and any(a.startswith(marker) for a in argv):
                victims.append(int(entry.name))
    listed = _run("ip", "netns", "list", check=False).stdout.split()
    _kill_in_netns([n for n in listed if n.startswith(f"{bridge}-")])
    for pid in victims:
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    for pid in victims:
        if not _wait_gone(pid, 10):
            print(f"kprov lab: stale systemd-nspawn {pid} did not exit", file=sys.stderr)
    if old_root is not None:
        _umount_under(old_root)
    _remove_net(bridge, [])
