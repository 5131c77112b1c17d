"""A real LXD daemon for the ``lxd`` target's lab test: started by hand (PID 1 is not systemd), a bridge and a
storage pool of its own, and an image made from the lab's Debian rootfs (``tests.lab.nodes.ensure_rootfs``).

Facts this is built on (measured on the lab host): Debian 12's ``lxd`` (5.0.2) runs without
systemd when started as ``lxd --group lxd`` with ``setsid``; ``lxd init --auto`` hangs ~100 s looking for a free
subnet, so the network is made with an explicit ``ipv4.address``; no image can be downloaded, so the image is
the lab rootfs plus what LXD and kprov need (systemd-networkd enabled for kprov's static network file, SSH host
keys made on first boot, an ``/etc/hostname`` template). The bridge gets no NAT, no routing (LXD would turn
``ip_forward`` on) and no firewall rules: nodes talk to the host and each other only.

``LxdHost`` is a context manager; ``teardown`` removes the instances, profiles, image, network and pool it made
(or that carry its site label), stops the daemon only if it started it, and puts ``ip_forward`` back.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from types import TracebackType

import yaml

from tests.lab.nodes import _gone, ensure_rootfs

LXD_DIR = Path(os.environ.get("LXD_DIR", "/var/lib/lxd"))
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
# Enabled in the image by hand (no systemctl in a chroot without systemd running): systemd-networkd reads kprov's
# /etc/systemd/network/10-kprov-eth0.network.
NETWORKD_LINKS = {
    "multi-user.target.wants/systemd-networkd.service": "/lib/systemd/system/systemd-networkd.service",
    "sockets.target.wants/systemd-networkd.socket": "/lib/systemd/system/systemd-networkd.socket",
    "dbus-org.freedesktop.network1.service": "/lib/systemd/system/systemd-networkd.service",
}
# Fails in a container (binfmt_misc cannot be mounted), which would leave systemd "degraded".
MASKED_UNITS = ("systemd-binfmt.service",)
# The lab rootfs has no SSH host keys (each nspawn node gets its own); Debian's ssh.service makes none.
HOSTKEYS_UNIT = """\
[Unit]
Description=SSH host keys (kprov lab image)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
"""


def lxd_installed() -> str | None:
    """Why the LXD tests cannot run here, or None if they can."""
    missing = [t for t in ("lxd", "lxc") if shutil.which(t) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install --no-install-recommends lxd)"
    if os.geteuid() != 0:
        return "the LXD lab test needs root"
    return None


def lxc(*args: str, check: bool = True, stdin: str | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["lxc", *args], capture_output=True, text=True, check=False, timeout=timeout,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"lxc {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _names(kind: str) -> set[str]:
    out = lxc(kind, "list", "--format", "json").stdout
    return {item["name"] for item in json.loads(out or "[]")}


class LxdHost:
    """An LXD daemon with one bridge (``network``, holding ``subnet``'s first address), one ``dir`` storage pool and
    the lab image under ``image``. ``site`` names the kprov site whose instances and profiles teardown removes."""

    def __init__(self, root: Path, *, site: str, subnet: str = "10.201.0.0/24", network: str = "kprovlxd0",
                 storage_pool: str = "kprov-lab", image: str = "kprov-lab-debian-12") -> None:
        self.root = root.absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.site = site
        self.subnet = ipaddress.IPv4Network(subnet)
        self.gateway = str(self.subnet.network_address + 1)
        self.gateway_cidr = f"{self.gateway}/{self.subnet.prefixlen}"
        self.network = network
        self.storage_pool = storage_pool
        self.image = image
        self.daemon_pid: int | None = None  # set only if this object started the daemon
        self.made: list[tuple[str, str]] = []  # ("network"|"storage"|"image", name), in order made
        self._ip_forward = IP_FORWARD.read_text().strip()

    def __enter__(self) -> LxdHost:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.teardown()

    # -- setup --------------------------------------------------------------------------------------------

    def start(self) -> LxdHost:
        self.start_daemon()
        self.preseed()
        self.import_image()
        return self

    @staticmethod
    def running() -> bool:
        return subprocess.run(["lxd", "waitready", "--timeout", "1"], capture_output=True,
                              stdin=subprocess.DEVNULL, check=False).returncode == 0

    def start_daemon(self, timeout: float = 60) -> None:
        if self.running():
            return
        log = self.root / "lxd.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(["lxd", "--group", "lxd", "--logfile", str(self.root / "lxd-daemon.log")],
                                    stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
        self.daemon_pid = proc.pid
        (self.root / "lxd.pid").write_text(f"{proc.pid}\n")
        wait = subprocess.run(["lxd", "waitready", "--timeout", str(int(timeout))], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False)
        if wait.returncode != 0:
            raise RuntimeError(f"lxd did not get ready in {timeout:.0f}s: {wait.stderr.strip()}; log:\n"
                               + log.read_text(errors="replace")[-2000:])

    def preseed(self) -> None:
        """The bridge and pool, only those missing (``lxd init --preseed`` creates what it lists)."""
        config: dict[str, list[dict[str, object]]] = {}
        if self.network not in _names("network"):
            config["networks"] = [{"name": self.network, "type": "bridge", "config": {
                "ipv4.address": self.gateway_cidr, "ipv4.nat": "false", "ipv4.routing": "false",
                "ipv4.firewall": "false", "ipv6.address": "none"}}]
            self.made.append(("network", self.network))
        if self.storage_pool not in _names("storage"):
            config["storage_pools"] = [{"name": self.storage_pool, "driver": "dir"}]
            self.made.append(("storage", self.storage_pool))
        if config:
            proc = subprocess.run(["lxd", "init", "--preseed"], input=yaml.safe_dump(config), capture_output=True,
                                  text=True, check=False, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"lxd init --preseed failed: {proc.stderr.strip()}")

    def import_image(self) -> None:
        """The lab rootfs as a unified image (metadata.yaml, templates/, rootfs/) under ``self.image``."""
        aliases = {a["name"] for a in json.loads(lxc("image", "alias", "list", "--format", "json").stdout or "[]")}
        if self.image in aliases:
            return
        rootfs = ensure_rootfs()
        stage = Path(tempfile.mkdtemp(dir=self.root, prefix="image-"))
        try:
            subprocess.run(["cp", "-a", f"{rootfs}/.", str(stage / "rootfs")], check=True, capture_output=True)
            self._customise(stage / "rootfs")
            (stage / "templates").mkdir()
            (stage / "templates" / "hostname.tpl").write_text("{{ container.name }}\n")
            (stage / "templates" / "hosts.tpl").write_text(
                "127.0.0.1\tlocalhost\n127.0.1.1\t{{ container.name }}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
            (stage / "metadata.yaml").write_text(yaml.safe_dump({
                "architecture": "x86_64", "creation_date": int(time.time()),
                "properties": {"description": "kprov lab Debian 12 (bookworm)", "os": "debian", "release": "12"},
                "templates": {
                    "/etc/hostname": {"when": ["create", "copy"], "template": "hostname.tpl"},
                    "/etc/hosts": {"when": ["create", "copy"], "template": "hosts.tpl"}}}))
            tarball = self.root / "image.tar"
            subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(stage), "-cf", str(tarball),
                            "metadata.yaml", "templates", "rootfs"], check=True, capture_output=True)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        try:
            lxc("image", "import", str(tarball), "--alias", self.image, timeout=600)
        finally:
            tarball.unlink(missing_ok=True)
        self.made.append(("image", self.image))

    @staticmethod
    def _customise(root: Path) -> None:
        system = root / "etc" / "systemd" / "system"
        for link, target in NETWORKD_LINKS.items():
            path = system / link
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            path.symlink_to(target)
        for unit in MASKED_UNITS:
            (system / unit).unlink(missing_ok=True)
            (system / unit).symlink_to("/dev/null")
        (system / "kprov-ssh-hostkeys.service").write_text(HOSTKEYS_UNIT)
        wants = system / "ssh.service.wants"
        wants.mkdir(exist_ok=True)
        (wants / "kprov-ssh-hostkeys.service").symlink_to("/etc/systemd/system/kprov-ssh-hostkeys.service")

    # -- state --------------------------------------------------------------------------------------------

    def instances(self) -> list[str]:
        """Instances labelled with this site (kprov sets ``user.kprov.site``)."""
        out = json.loads(lxc("list", "--format", "json").stdout or "[]")
        return sorted(i["name"] for i in out if i.get("config", {}).get("user.kprov.site") == self.site)

    def profiles(self) -> list[str]:
        return sorted(p for p in _names("profile") if p.startswith(f"kprov-{self.site}-"))

    # -- teardown -----------------------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove what this made, stop the daemon if this started it, restore ip_forward; raise if anything is
        left after doing all it can."""
        errors: list[str] = []
        made_network = ("network", self.network) in self.made
        if self.running():
            for name in self.instances():
                if lxc("delete", "--force", name, check=False).returncode != 0:
                    errors.append(f"instance {name}")
            for name in self.profiles():
                if lxc("profile", "delete", name, check=False).returncode != 0:
                    errors.append(f"profile {name}")
            for kind, name in reversed(self.made):
                args = {"image": ("image", "delete", name), "network": ("network", "delete", name),
                        "storage": ("storage", "delete", name)}[kind]
                if lxc(*args, check=False).returncode != 0:
                    errors.append(f"{kind} {name}")
            self.made.clear()
        if self.daemon_pid is not None:
            self._stop_daemon(self.daemon_pid)
            self.daemon_pid = None
        link_left = subprocess.run(["ip", "link", "show", self.network], capture_output=True, check=False)
        if made_network and link_left.returncode == 0:  # LXD stopped without deleting the bridge it made
            subprocess.run(["ip", "link", "del", self.network], capture_output=True, check=False)
        if IP_FORWARD.read_text().strip() != self._ip_forward:
            IP_FORWARD.write_text(f"{self._ip_forward}\n")
        if errors:
            raise RuntimeError("LXD teardown incomplete: " + ", ".join(errors))

    @staticmethod
    def _stop_daemon(pid: int, timeout: float = 60) -> None:
        subprocess.run(["lxd", "shutdown", "--timeout", str(int(timeout))], capture_output=True,
                       stdin=subprocess.DEVNULL, check=False, timeout=timeout + 30)
        deadline = time.monotonic() + 15
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _gone(pid):
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            time.sleep(2)
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)
