"""Registry of targets. Adding a target is adding a module here, a template folder and a Terraform module."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from kprov.providers.baremetal import Baremetal, BaremetalProvider
from kprov.providers.base import Target
from kprov.providers.libvirt import Libvirt, LibvirtProvider
from kprov.providers.openstack import Openstack, OpenstackProvider
from kprov.providers.proxmox import Proxmox, ProxmoxProvider
from kprov.providers.static import Static, StaticProvider
from kprov.providers.vsphere import Vsphere, VsphereProvider

TARGETS: dict[str, Target[Any, Any]] = {t.name: t for t in (Static(), Vsphere(), Libvirt(), Proxmox(), Openstack(),
                                                                 Baremetal())}

# The provider block: a union discriminated by ``type``; a new target adds its model here.
ProviderConfig = Annotated[
    StaticProvider | VsphereProvider | LibvirtProvider | ProxmoxProvider | OpenstackProvider | BaremetalProvider,
    Field(discriminator="type"),
]


def target_for(provider_type: str) -> Target[Any, Any]:
    return TARGETS[provider_type]
