"""``libvirt``: VMs on one or more KVM hosts (dmacvicar/libvirt), local or over ``qemu+ssh://``.

A base volume from an image path or URL, a copy-on-write volume of the asked size per node, and a cloud-init
ISO with the user, SSH key, hostname and a *static* network config: the node's address is known before it
boots, so kprov never has to find a DHCP lease (the top complaint about libvirt provisioning). Each host is its
own provider configuration; a pool's VMs go round-robin over its hosts, or only to the hosts it names.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from kprov.site.types import Identifier, exactly_one
from kprov.targets.base import SiteContext
from kprov.targets.vm import HostName, ProviderVersion, VmPool, VmProvider, VmTarget

LIBVIRT_PROVIDER_VERSION = "0.8.3"

Uri = Annotated[str, StringConstraints(pattern=r"^qemu(\+ssh|\+tls|\+tcp)?://[^\s]*/(system|session)(\?[^\s]*)?$")]


class LibvirtProvider(VmProvider):
    type: Literal["libvirt"]
    hosts: Annotated[dict[Identifier, Uri], Field(min_length=1)]
    """Hypervisors by name: ``qemu:///system`` or ``qemu+ssh://user@host/system``."""
    image: Annotated[str, StringConstraints(pattern=r"^(/|https?://)[^\s]+$")]
    """Base image: an absolute path on the hosts or an http(s) URL (a cloud image with cloud-init)."""
    storage_pool: HostName = "default"
    bridge: HostName | None = None
    network: HostName | None = None
    terraform_provider_version: ProviderVersion = LIBVIRT_PROVIDER_VERSION

    @model_validator(mode="after")
    def _one_network(self) -> Self:
        return exactly_one(self, "bridge", "network",
                           "give exactly one of 'bridge' (a host bridge) or 'network' (a libvirt network)")


class LibvirtPool(VmPool):
    hosts: list[Identifier] | None = None
    """Put the pool's VMs only on these hosts (default: all, round-robin)."""


class Libvirt(VmTarget[LibvirtProvider, LibvirtPool]):
    name = "libvirt"
    terraform_source = "dmacvicar/libvirt"
    pins = ("hosts", "host")

    def endpoints(self, provider: LibvirtProvider) -> list[tuple[str, str, int]]:
        ports = {"qemu+ssh": 22, "qemu+tls": 16514, "qemu+tcp": 16509}
        remote = [(name, urllib.parse.urlsplit(uri)) for name, uri in provider.hosts.items()]
        return [(f"libvirt host {name}", u.hostname, u.port or ports[u.scheme]) for name, u in remote if u.hostname]

    def instances(self, provider_name: str, provider: LibvirtProvider) -> dict[str, dict[str, Any]]:
        return {f"{provider_name}_{host}": {"uri": uri} for host, uri in provider.hosts.items()}

    def instance_of(self, provider_name: str, provider: LibvirtProvider, pool: LibvirtPool, index: int) -> str:
        hosts = pool.hosts or list(provider.hosts)
        return f"{provider_name}_{hosts[index % len(hosts)]}"

    def settings(self, pool_name: str, pool: LibvirtPool, provider: LibvirtProvider,
                 ctx: SiteContext) -> dict[str, Any]:
        return {
            "image": provider.image, "storage_pool": provider.storage_pool, "bridge": provider.bridge,
            "network": provider.network, **pool.sizes(),
        }
