"""Bare metal end to end, with real parts only: ``kprov up`` on a hybrid site — control plane on a lab node
(static), one worker a libvirt/QEMU (TCG) machine that boots from the network.

* the PXE server is a lab node (network namespace + nspawn) that ``kprov up`` turns into one with
  ``playbooks/pxe-server.yml``: dnsmasq (full DHCP, TFTP with per-MAC folders) and nginx;
* the machine's BMC is sushy-tools' Redfish emulator with its libvirt driver, on loopback, with a password;
* the machine's OS is ``live``: a Debian system built from the lab recipe (``tests/lab/vm.py``) whose kernel and
  initrd the machine fetches over HTTP, configured from the NoCloud seed kprov published for it.

The chain is checked link by link, so a failure says how far it got: Redfish power-on with PXE once → DHCP lease
for the machine's MAC → TFTP ``boot.ipxe`` from the folder of *its* MAC (another MAC is refused) → kprov's kernel
command line on the serial console → SSH on the booted system → Kubespray stand-in and verify → ``kprov down``
powers it off and removes its boot files → disarmed (as after an install), the machine's network boot goes on to
its disk instead of the installer. The BMC password must never show in a file, an argv or the output.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov.targets.baremetal.machine import tar_of
from tests.conftest import STANDIN
from tests.lab import vm
from tests.lab.nodes import SSH_OPTS, Lab

pytestmark = pytest.mark.lab

BRIDGE, SUBNET = "kprovpxe0", "192.168.79.0/24"
PXE_IP, CP_IP, BM_IP = "192.168.79.10", "192.168.79.11", "192.168.79.50"
BM_MAC = "52:54:00:79:00:50"
DOMAIN = "kprov-lab-bm1"
PASSWORD = "lab-bmc-" + secrets.token_hex(8)


class ArgvWatch:
    """Samples every process's argv while kprov runs: the BMC password must never be in one."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.encode()
        self.hits: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit() or int(proc.name) == me:
                    continue
                try:
                    argv = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if self.needle in argv:
                    self.hits.append(argv.replace(b"\0", b" ").decode(errors="replace")[:200])
            self.samples += 1
            time.sleep(0.05)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tftp_get(server: str, filename: str, timeout: float = 5) -> tuple[bool, str]:
    """A minimal TFTP read request (RFC 1350) from this host: (True, content) or (False, the server's error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(b"\x00\x01" + filename.encode() + b"\x00octet\x00", (server, 69))
        data = b""
        while True:
            packet, peer = s.recvfrom(65536)
            op = struct.unpack("!H", packet[:2])[0]
            if op == 5:
                return False, packet[4:].rstrip(b"\0").decode(errors="replace")
            block = packet[2:4]
            data += packet[4:]
            s.sendto(b"\x00\x04" + block, peer)
            if len(packet) - 4 < 512:
                return True, data.decode(errors="replace")


def dhcp_discover(interface: str, mac: str) -> None:
    """Broadcast one DHCPDISCOVER for ``mac`` on ``interface`` (the server's log says what it did with it)."""
    chaddr = bytes.fromhex(mac.replace(":", "")) + b"\0" * 10
    packet = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, secrets.randbits(32), 0, 0x8000,
                         b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, chaddr, b"\0" * 64, b"\0" * 128)
    packet += b"\x63\x82\x53\x63" + b"\x35\x01\x01" + b"\xff"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 68))
        s.sendto(packet, ("255.255.255.255", 67))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("pxe-lab"), bridge=BRIDGE, subnet=SUBNET) as lab_:
        lab_.start(["pxe", "cp1"])
        yield lab_


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _site(root: Path, lab: Lab, bmc_url: str, system_id: str) -> Path:
    site = root / "site.yaml"
    site.write_text(yaml.safe_dump({
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": "metal-lab"},
        "kubernetes": {"version": "1.35.4", "kubespray": {"path": str(STANDIN)}},
        "ssh": {"user": "root", "private_key": str(lab.ssh_private_key), "public_key": str(lab.ssh_public_key)},
        "network": {"cidr": SUBNET, "gateway": lab.gateway},
        "providers": {
            "lab": {"type": "static"},
            "rack": {"type": "baremetal",
                     "pxe": {"host": PXE_IP, "interface": "eth0",
                             "dhcp": {"mode": "full", "range": ["192.168.79.100", "192.168.79.120"]}},
                     "os": {"kind": "live", "kernel": "media/live/vmlinuz", "initrd": "media/live/initrd.img",
                            "cmdline": ["console=ttyS0"], "install_timeout": 600}},
        },
        "pools": {
            "cp": {"provider": "lab", "roles": ["control_plane", "etcd"],
                   "machines": [{"name": "cp1", "ip": CP_IP}]},
            "metal": {"provider": "rack", "roles": ["worker"], "labels": {"kprov.io/metal": "true"},
                      "machines": [{"name": "bm1", "mac": BM_MAC, "ip": BM_IP,
                                    "bmc": {"driver": "redfish", "address": bmc_url, "user": "admin",
                                            "password": {"env": "KPROV_LAB_BMC_PASSWORD"}, "verify_tls": False,
                                            "system_id": system_id}}]},
        },
    }, sort_keys=False))
    return site


def _kprov(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(root / "home"), "KPROV_LAB_BMC_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-m", "kprov", "-o", "json", *args], capture_output=True, text=True,
                          cwd=root, env=env, timeout=1800, check=False)


def _serial_until(machine: vm.NetbootVm, start: int, needle: str, timeout: float) -> str:
    """The serial console from byte ``start`` on, once ``needle`` shows (or the deadline passes)."""
    deadline = time.monotonic() + timeout
    while True:
        text = machine.serial_log.read_bytes()[start:].decode(errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(1)


def _ssh(lab: Lab, ip: str) -> list[str]:
    return ["ssh", *SSH_OPTS, "-i", str(lab.ssh_private_key), f"root@{ip}", "--"]


def _journal(lab: Lab, unit: str) -> str:
    return lab.ssh("pxe", "journalctl", "--no-pager", "-o", "cat", "-u", unit).stdout


def test_kprov_up_installs_a_pxe_booted_machine_and_down_powers_it_off(
        lab: Lab, tmp_path: Path, kprov_cache: Path) -> None:
    media = vm.ensure_live_media()
    (tmp_path / "home").mkdir()
    # OS media is the operator's to place on the PXE server (kprov publishes only per-machine files).
    lab.ssh("pxe", "mkdir", "-p", "/srv/kprov-pxe/http/media/live", check=True)
    for name in ("vmlinuz", "initrd.img"):
        with (media / name).open("rb") as f:
            subprocess.run([*_ssh(lab, PXE_IP), f"cat > /srv/kprov-pxe/http/media/live/{name}"],
                           stdin=f, check=True, timeout=120)
    vm.ensure_libvirt()
    machine = vm.NetbootVm(DOMAIN, BM_MAC, BRIDGE)
    machine.define()
    try:
        with vm.SushyEmulator(tmp_path / "bmc", user="admin", password=PASSWORD, allowed=[DOMAIN]) as bmc:
            site = _site(tmp_path, lab, bmc.base_url, bmc.system_path(DOMAIN))
            assert machine.state() == "shut off"
            with ArgvWatch(PASSWORD) as watch:
                up = _kprov(tmp_path, "up", str(site))
            serial = machine.serial_log.read_text(errors="replace") if machine.serial_log.exists() else ""
            dnsmasq = _journal(lab, "dnsmasq")
            detail = (f"\n--- kprov stderr (tail)\n{up.stderr[-4000:]}\n--- dnsmasq\n{dnsmasq[-3000:]}"
                      f"\n--- serial (tail)\n{serial[-4000:]}")
            events = _events(up.stdout)
            done = [e["stage"] for e in events if e["event"] == "stage_done"]
            # link by link: how far did the machine get?
            assert "pxe" in done, "the PXE server playbook did not complete" + detail
            assert "infra" in done, "Terraform (publish, PXE once, power on) did not complete" + detail
            assert f"DHCPACK(eth0) {BM_IP} {BM_MAC}" in dnsmasq, "no DHCP lease for the machine" + detail
            tftp_dir = "/srv/kprov-pxe/tftp/" + BM_MAC.replace(":", "-")
            assert f"sent {tftp_dir}/boot.ipxe to {BM_IP}" in dnsmasq, "the machine did not get its script" + detail
            assert f"ds=nocloud;s=http://{PXE_IP}:8080/machines/bm1/" in serial, "kprov's kernel line" + detail
            assert up.returncode == 0, detail
            assert done == ["pxe", "infra", "inventory", "ssh", "preflight", "bootstrap", "kubeconfig", "verify"]

            # the booted machine is the one the seed describes
            probe = subprocess.run([*_ssh(lab, BM_IP), "hostname; ip -br addr"],
                                   capture_output=True, text=True, timeout=60, check=False)
            assert probe.stdout.splitlines()[0] == "bm1", probe.stdout + probe.stderr
            assert f"{BM_IP}/24" in probe.stdout

            # another MAC asking for boot.ipxe is refused; the TFTP server itself answers (control)
            ok, _ = tftp_get(PXE_IP, "undionly.kpxe")
            assert ok
            ok, error = tftp_get(PXE_IP, "boot.ipxe")
            assert not ok and "not found" in error
            # an unknown MAC gets no DHCP answer at all
            dhcp_discover(BRIDGE, "52:54:00:de:ad:01")
            time.sleep(1)
            assert "52:54:00:de:ad:01 ignored" in _journal(lab, "dnsmasq")

            status = _kprov(tmp_path, "power", str(site), "bm1", "status")
            assert status.returncode == 0 and _events(status.stdout)[-1]["data"]["power"] == "on"

            # the BMC password is nowhere kprov writes or passes
            assert watch.samples > 10 and watch.hits == []
            workdir = tmp_path / ".kprov" / "metal-lab"
            assert (workdir / "terraform" / "terraform.tfstate").is_file()
            for path in workdir.rglob("*"):
                if path.is_file() and not path.is_socket():
                    assert PASSWORD.encode() not in path.read_bytes(), path
            assert PASSWORD not in up.stdout + up.stderr

            with ArgvWatch(PASSWORD) as watch:
                down = _kprov(tmp_path, "down", str(site), "--yes")
            assert down.returncode == 0, down.stderr[-4000:]
            assert watch.hits == []
            deadline = time.monotonic() + 60
            while machine.state() != "shut off" and time.monotonic() < deadline:
                time.sleep(1)
            assert machine.state() == "shut off"
            assert lab.ssh("pxe", "test", "-e", tftp_dir).returncode != 0
            assert lab.ssh("pxe", "test", "-e", "/srv/kprov-pxe/http/machines/bm1").returncode != 0

            # Disarmed, as kprov leaves a machine whose installer has finished, the machine's network boot hands
            # on to its disk: kprov-pxe's local-disk script, iPXE's "exit", the firmware's next boot device.
            # (The live OS above is never disarmed, so this uses kprov-pxe directly.)
            installer = tar_of({"boot.ipxe": b"#!ipxe\necho kprov-test: the installer ran\nshell\n"})
            published = subprocess.run([*_ssh(lab, PXE_IP), "/usr/local/sbin/kprov-pxe", "publish", "bm1", "--mac",
                                        BM_MAC, "--ip", BM_IP], input=installer, capture_output=True, timeout=60,
                                       check=False)
            assert published.returncode == 0, published.stderr
            assert lab.ssh("pxe", "/usr/local/sbin/kprov-pxe", "disarm", "bm1").returncode == 0
            mark = machine.serial_log.stat().st_size
            assert _kprov(tmp_path, "power", str(site), "bm1", "on").returncode == 0
            after = _serial_until(machine, mark, "Booting from Hard Disk", timeout=180)
            assert "kprov: bm1 is installed, booting from disk" in after, after[-3000:]
            assert "Booting from Hard Disk" in after, after[-3000:]  # SeaBIOS, after iPXE handed back
            assert "the installer ran" not in after
            assert _kprov(tmp_path, "power", str(site), "bm1", "off").returncode == 0
    finally:
        machine.undefine()
