"""Lab machines that boot from the network: libvirt/QEMU (TCG) domains, a Redfish BMC for them (sushy-tools'
emulator with its libvirt driver), and the small Debian live system they boot.

Facts this is built on (``lab.md``): ``/dev/kvm`` is unusable here, so domains are ``type='qemu'`` (TCG); PID 1
is not systemd, so ``virtlogd`` and ``libvirtd`` are started by hand (and left running: starting them costs the
first API call 12-75 s of QEMU capability probing); the iPXE ROM of the virtio NIC (``ipxe-qemu``) does the
network boot, and its output goes to the serial log through ``-fw_cfg etc/sercon-port``.

The live system: ``vmlinuz`` and an ``initrd.img`` that *is* the root filesystem (systemd, sshd, python3), so
the machine needs no disk and nothing but HTTP to boot. It configures itself from the NoCloud seed named on its
kernel command line with ``tests/lab/live/nocloud-lite``, a lab stand-in for cloud-init (see its README).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import requests

from tests.lab.nodes import MIRROR, ROOTFS_CACHE, SUITE, _gone, _safe_rmtree
from tests.redfish_emulator import RedfishEmulator

LIVE = Path(__file__).parent / "live"
LIVE_PACKAGES = ("linux-image-amd64", "systemd", "systemd-sysv", "udev", "dbus", "kmod", "openssh-server",
                 "python3", "python3-yaml", "iproute2", "iputils-ping", "procps", "systemd-timesyncd")
# Kernel modules the live system needs under QEMU (virtio NIC and disk); the rest are dropped to keep the
# initrd small, since TCG unpacks it slowly.
LIVE_MODULES = ("kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/net_failover.ko",
                "kernel/net/core/failover.ko", "kernel/drivers/block/virtio_blk.ko",
                "kernel/drivers/virtio/", "kernel/drivers/char/hw_random/virtio-rng.ko")
LIVE_MASKED = ("getty@tty1.service", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
               "e2scrub_reap.service", "fstrim.timer", "systemd-remount-fs.service")
URI = "qemu:///system"
STATE = Path("/run/kprov-lab")
VM_ROOT = Path("/var/lib/libvirt/kprov-lab")  # the qemu user must reach disks and logs: not under a 0700 tmp


# -- libvirt ------------------------------------------------------------------------------------------------


def _virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=check, timeout=180)


def _running(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return not _gone(pid)


def _kvm_device_as_debian_sets_it() -> None:
    """Give ``/dev/kvm`` the owner and mode Debian's udev rule gives it (root:kvm 0660); no udev runs here.

    With the device root-only, libvirt's cache check ("can the qemu user open /dev/kvm?") disagrees with its
    QEMU probe (run with root's access: "KVM enabled"), so every define, capabilities call and Redfish PATCH
    re-probed QEMU: 45-95 s each instead of milliseconds. Domains stay ``type='qemu'`` (TCG) either way.
    """
    kvm = Path("/dev/kvm")
    if not kvm.exists():
        return
    with contextlib.suppress(KeyError, OSError):
        shutil.chown(kvm, group="kvm")
        kvm.chmod(0o660)


def ensure_libvirt(timeout: float = 180) -> None:
    """Start virtlogd and libvirtd by hand if they are not running, and wait until the API answers."""
    _kvm_device_as_debian_sets_it()
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "libvirt.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for daemon in ("virtlogd", "libvirtd"):
            pidfile = STATE / f"{daemon}.pid"
            system = Path(f"/run/{daemon}.pid")
            if not (_running(pidfile) or _running(system)):
                subprocess.run([daemon, "-d", "-p", str(pidfile)], check=True, timeout=60)
        deadline = time.monotonic() + timeout
        while True:
            proc = _virsh("version", check=False)
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd does not answer: {proc.stderr.strip()}")
            time.sleep(1)


# -- live media ---------------------------------------------------------------------------------------------


def _live_recipe() -> dict[str, object]:
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(LIVE.iterdir()) if p.is_file()}
    # the functions that build it (not this whole module: editing the VM or BMC helpers keeps the cache)
    prepare = hashlib.sha256((inspect.getsource(_build_live) + inspect.getsource(_prepare_live)).encode()).hexdigest()
    return {"suite": SUITE, "packages": sorted(LIVE_PACKAGES), "modules": list(LIVE_MODULES),
            "masked": list(LIVE_MASKED), "files": files, "builder": prepare}


def ensure_live_media(cache: Path = ROOTFS_CACHE) -> Path:
    """A folder with ``vmlinuz`` and ``initrd.img`` (the root filesystem as a cpio), built once per recipe."""
    recipe = _live_recipe()
    rid = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    target = cache.absolute() / f"live-{SUITE}-{rid}"
    if (target / "recipe.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".live.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "recipe.json").is_file():
            for old in cache.glob("live-*"):
                _safe_rmtree(old)
            _build_live(cache, target, recipe)
    return target


def _build_live(cache: Path, target: Path, recipe: dict[str, object]) -> None:
    work = Path(tempfile.mkdtemp(dir=cache, prefix=".live-"))
    try:
        root = work / "root"
        log = cache / "live-build.log"
        began = time.monotonic()
        argv = ["mmdebstrap", "--variant=minbase", f"--include={','.join(LIVE_PACKAGES)}", SUITE, str(root), MIRROR]
        with log.open("w") as out:
            out.write(f"$ {shlex.join(argv)}\n")
            out.flush()
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"building the live image failed; see {log}:\n{log.read_text()[-3000:]}")
        out_dir = work / "out"
        out_dir.mkdir()
        (kernel,) = sorted((root / "boot").glob("vmlinuz-*"))
        shutil.copyfile(kernel, out_dir / "vmlinuz")
        _prepare_live(root)
        with (out_dir / "initrd.img").open("wb") as initrd:
            files = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, capture_output=True, check=True).stdout
            cpio = subprocess.Popen(["cpio", "--quiet", "-o", "-H", "newc"], cwd=root, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
            gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=initrd)
            assert cpio.stdin is not None and cpio.stdout is not None
            cpio.stdout.close()
            cpio.stdin.write(files)
            cpio.stdin.close()
            if cpio.wait() != 0 or gz.wait() != 0:
                raise RuntimeError("packing the live initrd failed")
        sizes = {p.name: p.stat().st_size for p in out_dir.iterdir()}
        (out_dir / "recipe.json").write_text(json.dumps(
            {"recipe": recipe, "bytes": sizes, "seconds": round(time.monotonic() - began, 1)}, indent=2) + "\n")
        out_dir.rename(target)
    finally:
        _safe_rmtree(work)


def _prepare_live(root: Path) -> None:
    """Trim the bootstrap to a live system: /init is systemd, few modules, no docs, sshd with keys only."""
    for doomed in ("boot", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
                   "var/cache/apt", "var/lib/apt/lists"):
        shutil.rmtree(root / doomed, ignore_errors=True)
    (root / "var/cache/apt").mkdir(parents=True)
    (modules,) = sorted((root / "lib/modules").iterdir())
    keep = root / "modules.keep"
    keep.mkdir()
    for rel in LIVE_MODULES:
        src = modules / rel
        if src.exists():
            (keep / rel).parent.mkdir(parents=True, exist_ok=True)
            src.rename(keep / rel)
    shutil.rmtree(modules / "kernel")
    keep.rename(modules / "kernel")
    subprocess.run(["chroot", str(root), "depmod", "-a", modules.name], check=True, capture_output=True)
    (root / "init").symlink_to("/lib/systemd/systemd")
    (root / "etc/fstab").write_text("")
    (root / "etc/machine-id").write_text("")
    (root / "etc/hostname").write_text("live\n")
    system = root / "etc/systemd/system"
    for unit in LIVE_MASKED:
        (system / unit).unlink(missing_ok=True)
        (system / unit).symlink_to("/dev/null")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/ssh/sshd_config.d/kprov-lab.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    (system / "kprov-hostkey.service").write_text(
        "[Unit]\nDescription=SSH host key for this boot\nBefore=ssh.service\n\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N \"\" "
        "-f /etc/ssh/ssh_host_ed25519_key\n\n[Install]\nWantedBy=multi-user.target\n")
    net = root / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "90-dhcp.network").write_text("[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n")
    shutil.copyfile(LIVE / "nocloud-lite", root / "usr/local/sbin/nocloud-lite")
    (root / "usr/local/sbin/nocloud-lite").chmod(0o755)
    shutil.copyfile(LIVE / "nocloud-lite.service", system / "nocloud-lite.service")
    wants = system / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    for unit in ("kprov-hostkey.service", "nocloud-lite.service"):
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    for unit in ("systemd-networkd.service", "systemd-networkd-wait-online.service"):
        link = wants / unit
        if not link.exists():
            link.symlink_to(f"/lib/systemd/system/{unit}")
    (root / "etc/systemd/system/network-online.target.wants").mkdir(exist_ok=True)
    sockets = root / "etc/systemd/system/sockets.target.wants"
    sockets.mkdir(exist_ok=True)
    if not (sockets / "systemd-networkd.socket").exists():
        (sockets / "systemd-networkd.socket").symlink_to("/lib/systemd/system/systemd-networkd.socket")
    (root / "root").chmod(0o700)


# -- machines -----------------------------------------------------------------------------------------------


class NetbootVm:
    """A libvirt domain that boots from its virtio NIC (iPXE ROM), on an existing Linux bridge, with a small
    empty disk and its serial console (firmware, iPXE, kernel) in ``serial_log``."""

    def __init__(self, name: str, mac: str, bridge: str, memory_mib: int = 2048) -> None:
        self.name, self.mac, self.bridge, self.memory_mib = name, mac, bridge, memory_mib
        self.dir = VM_ROOT / name
        self.serial_log = self.dir / "serial.log"
        self.disk = self.dir / "disk.qcow2"

    def xml(self) -> str:
        sercon = self.dir / "sercon-port"
        log = escape(str(self.serial_log))
        return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{escape(self.name)}</name>
  <uuid>{uuid.uuid5(uuid.NAMESPACE_URL, 'kprov-lab/' + self.name)}</uuid>
  <memory unit='MiB'>{self.memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{escape(str(self.disk))}'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <mac address='{escape(self.mac)}'/><source bridge='{escape(self.bridge)}'/><model type='virtio'/>
    </interface>
    <serial type='file'><source path='{log}' append='on'/><target port='0'/></serial>
    <console type='file'><source path='{log}' append='on'/><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-fw_cfg'/><qemu:arg value='name=etc/sercon-port,file={escape(str(sercon))}'/>
  </qemu:commandline>
</domain>
"""

    def define(self) -> None:
        self.undefine()
        self.dir.mkdir(parents=True, exist_ok=True)
        for d in (VM_ROOT, self.dir):
            d.chmod(0o755)
        (self.dir / "sercon-port").write_bytes(bytes([0xF8, 0x03, 0, 0, 0, 0, 0, 0]))  # iPXE output to COM1
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(self.disk), "2G"], check=True)
        xml = self.dir / "domain.xml"
        xml.write_text(self.xml())
        _virsh("define", str(xml))

    def state(self) -> str:
        proc = _virsh("domstate", self.name, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else "undefined"

    def undefine(self) -> None:
        if self.state() != "undefined":
            _virsh("destroy", self.name, check=False)
            _virsh("undefine", self.name, "--nvram", check=False)
            _virsh("undefine", self.name, check=False)
        keep = self.serial_log.read_bytes() if self.serial_log.exists() else b""
        shutil.rmtree(self.dir, ignore_errors=True)
        if keep:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.serial_log.write_bytes(keep)  # for post-mortems


# -- Redfish BMC --------------------------------------------------------------------------------------------


class SushyEmulator(RedfishEmulator):
    """The Redfish emulator with its libvirt driver, serving only the ``allowed`` domains."""

    def __init__(self, root: Path, *, user: str, password: str, allowed: Sequence[str] = ()) -> None:
        config = [f"SUSHY_EMULATOR_LIBVIRT_URI = {URI!r}"]
        if allowed:  # by UUID: the emulator ignores names here
            uuids = [_virsh("domuuid", name).stdout.strip() for name in allowed]
            config.append(f"SUSHY_EMULATOR_ALLOWED_INSTANCES = {uuids!r}")
        # libvirt's Python binding comes from Debian (python3-libvirt) for the same Python 3.11: link just it
        binding = root / "pylibvirt"
        binding.mkdir(parents=True, exist_ok=True)
        for f in Path("/usr/lib/python3/dist-packages").glob("libvirt*"):
            if f.suffix in (".py", ".so") and not (binding / f.name).exists():
                (binding / f.name).symlink_to(f)
        super().__init__(root, user=user, password=password, config=config,
                         env={**os.environ, "PYTHONPATH": str(binding)})

    def system_path(self, domain: str, timeout: float = 300) -> str:
        """The Redfish path of a libvirt domain's system (sushy-tools names systems by domain UUID).

        The long timeout covers the first read after libvirtd started, which can wait for its one probe of QEMU.
        """
        path = f"/redfish/v1/Systems/{_virsh('domuuid', domain).stdout.strip()}"
        body = requests.get(self.base_url + path, auth=(self.user, self.password), timeout=timeout)
        body.raise_for_status()
        if body.json().get("Name") != domain:
            raise LookupError(f"{path} is {body.json().get('Name')!r}, not {domain}")
        return path
