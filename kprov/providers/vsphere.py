"""``vsphere``: VMs cloned from a template through vCenter (hashicorp/vsphere).

Small control-plane VMs and big hosts carved into worker VMs, spread over ESXi hosts by a DRS anti-affinity rule
per pool. Addresses are static, set by guest customization or by cloud-init through guestinfo; credentials are
secret references that reach Terraform only as ``TF_VAR_*`` environment variables.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kprov.providers.base import Loc, SiteContext, Target, TerraformProvider, zone_label
from kprov.secrets import SecretRef
from kprov.types import DnsLabel, Labels, NodeSpec, Role

VSPHERE_PROVIDER_VERSION = "2.0.2"
"""The hashicorp/vsphere version kprov is tested with (offline validate and the vCenter simulator)."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class VsphereProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["vsphere"]
    server: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+(:\d+)?$")]
    user: str | SecretRef
    password: SecretRef
    insecure: bool = False
    """Accept an unverified TLS certificate (lab vCenters only)."""
    datacenter: Name
    cluster: Name
    datastore: Name
    resource_pool: Name | None = None
    folder: Name | None = None
    network: Name | None = None
    networks: list[Name] | None = None
    template: Name
    customization: Literal["guest", "cloud-init"] = "guest"
    terraform_provider_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")] = VSPHERE_PROVIDER_VERSION

    @model_validator(mode="after")
    def _one_network_form(self) -> Self:
        if (self.network is None) == (self.networks is None):
            raise ValueError("give exactly one of 'network' or 'networks'")
        return self

    @property
    def network_list(self) -> list[str]:
        return [self.network] if self.network is not None else list(self.networks or [])


class VspherePool(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    provider: str
    roles: Annotated[list[Role], Field(min_length=1)]
    count: Annotated[int, Field(ge=1, le=1000)]
    ip_start: ipaddress.IPv4Address
    """Address of the first VM; the others take the next ones."""
    cpus: Annotated[int, Field(ge=1, le=768)] = 2
    memory_gib: Annotated[float, Field(ge=0.5, le=24576)] = 4
    disk_gib: Annotated[int, Field(ge=1, le=62 * 1024)] = 40
    """At least this size; a bigger template disk is kept as it is."""
    anti_affinity: bool = False
    template: Name | None = None
    datastore: Name | None = None
    folder: Name | None = None
    labels: Labels = Field(default_factory=dict)
    zone: DnsLabel | None = None


class Vsphere(Target[VsphereProvider, VspherePool]):
    name = "vsphere"
    module = "vsphere"
    provider_model = VsphereProvider
    pool_model = VspherePool
    needs_public_key = True

    def nodes(self, pool_name: str, pool: VspherePool, provider_name: str, provider: VsphereProvider,
              ssh_user: str) -> list[NodeSpec]:
        return vm_nodes(pool_name, pool.roles, pool.count, pool.ip_start, provider_name=provider_name,
                        ssh_user=ssh_user, labels={**zone_label(pool.zone), **pool.labels})

    def check(self, pool_name: str, pool: VspherePool, provider: VsphereProvider) -> list[tuple[Loc, str]]:
        last = int(pool.ip_start) + pool.count - 1
        if last > int(ipaddress.IPv4Address("255.255.255.254")):
            return [(("ip_start",), f"{pool.count} addresses from {pool.ip_start} run past the address space")]
        return []

    def terraform_provider(self, provider: VsphereProvider) -> TerraformProvider:
        return TerraformProvider("vsphere", "hashicorp/vsphere", provider.terraform_provider_version)

    def provider_settings(self, provider: VsphereProvider) -> dict[str, Any]:
        return {"server": provider.server, "insecure": provider.insecure}

    def credentials(self, provider: VsphereProvider) -> dict[str, str | SecretRef]:
        return {"user": provider.user, "password": provider.password}

    def settings(self, pool_name: str, pool: VspherePool, provider: VsphereProvider,
                 ctx: SiteContext) -> dict[str, Any]:
        return {
            "site": ctx.site, "datacenter": provider.datacenter, "cluster": provider.cluster,
            "datastore": pool.datastore or provider.datastore, "resource_pool": provider.resource_pool,
            "folder": pool.folder or provider.folder, "networks": provider.network_list,
            "template": pool.template or provider.template, "cpus": pool.cpus,
            "memory_mib": int(pool.memory_gib * 1024), "disk_gib": pool.disk_gib,
            "anti_affinity": pool.anti_affinity, "customization": provider.customization,
            "prefix_length": ctx.prefix_length, "gateway": ctx.gateway, "dns": list(ctx.dns),
            "domain": ctx.domain, "ssh_public_key": ctx.ssh_public_key, "annotation": ctx.description,
        }


def vm_nodes(pool_name: str, roles: list[Role], count: int, ip_start: ipaddress.IPv4Address, *,
             provider_name: str, ssh_user: str, labels: dict[str, str]) -> list[NodeSpec]:
    """Nodes of a counted VM pool: ``<pool>-1`` … ``<pool>-N`` on consecutive addresses from ``ip_start``."""
    return [
        NodeSpec(name=f"{pool_name}-{i + 1}", pool=pool_name, provider=provider_name,
                 roles=tuple(dict.fromkeys(roles)), ip=str(ip_start + i), access_ip=str(ip_start + i),
                 ssh_user=ssh_user, labels=dict(labels), loc=("pools", pool_name, "ip_start"))
        for i in range(count)
    ]
