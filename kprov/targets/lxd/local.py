"""This machine's LXD, as ``kprov doctor`` sees it: the daemon answers, the storage pool and managed network the
site names exist (the network on the site's subnet), the image alias is there, and virtual machines can run
where pools ask for them. Checking changes nothing.

What ``kprov doctor --fix`` may repair here, and only here on the local daemon:

* a missing storage pool: made with the ``dir`` driver (works on any filesystem);
* a missing network: a bridge on the site's ``network.cidr`` with its gateway as the bridge's address, NAT on
  (nodes fetch Kubernetes from the internet), IPv6 off, made only after checking that no interface or route
  of this machine uses any of that subnet already (LXD's own ``lxd init --auto`` picks a subnet by guessing, and
  hangs where it cannot);
* a missing image alias, from a tarball the user names (``--image``): a plain root filesystem (what
  ``mmdebstrap`` writes) gets LXD's metadata (architecture, and the hostname and hosts templates every instance
  needs) and is imported as a split image; a unified image (``lxc image export``) is imported as it is.

A network on another subnet is not changed: other instances may use it.
"""

from __future__ import annotations

import ipaddress
import json
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from kprov.doctor import Finding, FixInputs
from kprov.errors import InfrastructureError, UsageError
from kprov.targets.lxd.client import LocalLxd, quote

if TYPE_CHECKING:
    from kprov.site.load import LoadedSite
    from kprov.targets.lxd.target import LxdProvider

HOSTNAME_TEMPLATES = {
    "hostname.tpl": "{{ container.name }}\n",
    "hosts.tpl": "127.0.0.1\tlocalhost\n127.0.1.1\t{{ container.name }}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def findings(loaded: LoadedSite, provider_name: str, provider: LxdProvider) -> list[Finding]:
    """Every check of the local LXD for one provider block, the repairable ones with their repair."""
    check = f"{provider_name}: LXD"
    lxd = LocalLxd()
    if not lxd.path.exists():
        return [Finding(check, False, f"no LXD socket at {lxd.path}",
                        "apt install lxd (or snap install lxd), start it, then kprov doctor --fix (README: lxd)")]
    try:
        status, server = lxd.get("/1.0")
    except PermissionError:
        return [Finding(check, False, f"no permission on {lxd.path}",
                        "sudo usermod -aG lxd $USER, then log in again")]
    except OSError as exc:
        return [Finding(check, False, f"LXD does not answer on {lxd.path} ({exc.strerror or exc})",
                        "start the LXD daemon (systemctl start lxd; without systemd: lxd --group lxd &)")]
    env = (server or {}).get("environment", {})
    out = [Finding(check, status == 200, f"LXD {env.get('server_version', '?')} on {lxd.path}",
                   "start the LXD daemon")]
    out.append(_storage_pool(lxd, check, provider.storage_pool))
    out.append(_network(lxd, check, loaded, provider.network))
    out.append(_image(lxd, check, provider.image))
    drivers = str(env.get("driver", ""))
    wants_vm = any(getattr(p, "instance_type", "") == "virtual-machine" for p in loaded.pools.values()
                   if str(getattr(p, "provider", "")) == provider_name)
    if wants_vm:
        out.append(Finding(f"{check} virtual machines", "qemu" in drivers, f"LXD drivers: {drivers or 'none'}",
                           "virtual machines need KVM and LXD's qemu driver on this host; use instance_type: "
                           "container"))
    return out


def _storage_pool(lxd: LocalLxd, check: str, pool: str) -> Finding:
    status, _ = lxd.get(f"/1.0/storage-pools/{quote(pool)}")

    def repair(_: FixInputs) -> str:
        lxd.call("POST", "/1.0/storage-pools", {"name": pool, "driver": "dir"}, what=f"storage pool {pool}")
        return f"made storage pool {pool} (driver dir)"

    return Finding(f"{check} storage pool", status == 200, f"storage pool {pool}" if status == 200 else
                   f"no storage pool {pool}", f"kprov doctor --fix, or lxc storage create {pool} dir",
                   repair=repair)


def site_gateway(loaded: LoadedSite) -> str:
    """The bridge address the site's nodes expect: its gateway (or the subnet's first address) with the prefix."""
    net = loaded.site.network
    return f"{net.gateway or next(net.cidr.hosts())}/{net.cidr.prefixlen}"


def _network(lxd: LocalLxd, check: str, loaded: LoadedSite, name: str) -> Finding:
    want = site_gateway(loaded)
    status, network = lxd.get(f"/1.0/networks/{quote(name)}")
    if status == 200:
        have = (network or {}).get("config", {}).get("ipv4.address", "")
        return Finding(f"{check} network", have == want, f"network {name}: ipv4.address {have}",
                       f"lxc network set {name} ipv4.address={want}   (the site's network.cidr and gateway), "
                       f"or change the site's network to {have}")
    used = subnet_users(loaded.site.network.cidr)
    if used:
        return Finding(f"{check} network", False, f"no network {name}, and {loaded.site.network.cidr} is in use "
                       f"on this machine ({'; '.join(used)})", "choose a network.cidr no interface or route here uses")

    def repair(_: FixInputs) -> str:
        again = subnet_users(loaded.site.network.cidr)
        if again:
            raise InfrastructureError(f"{loaded.site.network.cidr} is in use: {'; '.join(again)}")
        config = {"ipv4.address": want, "ipv4.nat": "true", "ipv6.address": "none"}
        lxd.call("POST", "/1.0/networks", {"name": name, "type": "bridge", "config": config},
                 what=f"network {name}")
        return f"made network {name} with ipv4.address {want} (NAT on, IPv6 off)"

    return Finding(f"{check} network", False, f"no network {name}",
                   f"kprov doctor --fix, or lxc network create {name} ipv4.address={want} ipv6.address=none",
                   repair=repair)


def subnet_users(cidr: ipaddress.IPv4Network) -> list[str]:
    """Interfaces and routes of this machine that overlap ``cidr`` (the default route does not)."""
    try:
        addrs = json.loads(_ip("-4", "addr", "show") or "[]")
        routes = json.loads(_ip("-4", "route", "show", "table", "all") or "[]")
    except (OSError, ValueError) as exc:
        return [f"cannot tell ({exc})"]
    out = []
    for iface in addrs:
        for a in iface.get("addr_info", []):
            net = ipaddress.ip_interface(f"{a.get('local')}/{a.get('prefixlen')}").network
            if net.version == 4 and net.overlaps(cidr):
                out.append(f"{iface.get('ifname')} has {a.get('local')}/{a.get('prefixlen')}")
    for route in routes:
        dst = str(route.get("dst", "default"))
        if dst == "default" or route.get("type") in ("local", "broadcast"):
            continue
        net = ipaddress.ip_network(dst, strict=False)
        if net.version == 4 and net.overlaps(cidr) and not any(dst in u for u in out):
            out.append(f"route {dst} via {route.get('dev', '?')}")
    return out


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=False, timeout=10,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise OSError(proc.stderr.strip() or f"ip {' '.join(args)} failed")
    return proc.stdout


def _image(lxd: LocalLxd, check: str, alias: str) -> Finding:
    status, _ = lxd.get(f"/1.0/images/aliases/{quote(alias)}")

    def repair(inputs: FixInputs) -> str:
        if inputs.image is None:
            raise UsageError(f"name a tarball to import as {alias}: kprov doctor --fix --image FILE")
        return import_image(inputs.image, alias)

    return Finding(f"{check} image", status == 200, f"image alias {alias}" if status == 200 else
                   f"no image alias {alias}",
                   f"kprov doctor --fix --image rootfs.tar  (e.g. mmdebstrap --include=openssh-server,cloud-init,"
                   f"sudo,python3 bookworm rootfs.tar), or lxc image copy <remote>:debian/12/cloud local: "
                   f"--alias {alias}", repair=repair)


def is_unified(tarball: Path) -> bool:
    """A unified LXD image (``metadata.yaml`` beside ``rootfs/``) rather than a plain root filesystem."""
    try:
        with tarfile.open(tarball) as tar:
            for n, member in enumerate(tar):
                name = member.name.removeprefix("./")
                if name == "metadata.yaml":
                    return True
                if name.split("/")[0] in ("etc", "usr", "bin", "var") or n > 200:
                    return False
    except (OSError, tarfile.TarError) as exc:
        raise UsageError(f"{tarball}: not a readable tarball ({exc})") from exc
    return False


def metadata_tarball(directory: Path, description: str) -> Path:
    """LXD's metadata for a plain root filesystem: this machine's architecture, and the templates that give each
    instance its own hostname."""
    arch = ARCHITECTURES.get(platform.machine(), platform.machine())
    meta = {"architecture": arch, "creation_date": int(time.time()),
            "properties": {"description": description},
            "templates": {"/etc/hostname": {"when": ["create", "copy"], "template": "hostname.tpl"},
                          "/etc/hosts": {"when": ["create", "copy"], "template": "hosts.tpl"}}}
    (directory / "metadata.yaml").write_text(yaml.safe_dump(meta))
    (directory / "templates").mkdir()
    for name, text in HOSTNAME_TEMPLATES.items():
        (directory / "templates" / name).write_text(text)
    out = directory / "metadata.tar"
    with tarfile.open(out, "w") as tar:
        tar.add(directory / "metadata.yaml", "metadata.yaml")
        tar.add(directory / "templates", "templates")
    return out


def import_image(tarball: Path, alias: str) -> str:
    """Import ``tarball`` into the local LXD under ``alias`` (with ``lxc``, LXD's own client)."""
    if not tarball.is_file():
        raise UsageError(f"{tarball}: no such file")
    lxc = shutil.which("lxc")
    if lxc is None:
        raise InfrastructureError("lxc (LXD's client) is not on PATH: apt install lxd")
    with tempfile.TemporaryDirectory(prefix="kprov-image-") as tmp:
        files = [str(tarball)]
        if not is_unified(tarball):
            files.insert(0, str(metadata_tarball(Path(tmp), f"kprov image from {tarball.name}")))
        proc = subprocess.run([lxc, "image", "import", *files, "--alias", alias], capture_output=True, text=True,
                              check=False, timeout=1800, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise InfrastructureError(f"lxc image import {tarball}: {proc.stderr.strip()}")
    kind = "unified image" if len(files) == 1 else "root filesystem, with kprov's metadata"
    return f"imported {tarball} ({kind}) as {alias}"

