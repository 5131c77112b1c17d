"""What every VM target's pools share: a count of VMs on consecutive static addresses, their size, labels."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kprov.site.types import DnsLabel, Labels, NodeSpec, Role
from kprov.targets.base import Loc, Target, TerraformProvider, zone_label

ProviderVersion = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
"""A Terraform provider version to pin (one per site and provider)."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""A name in the platform's own inventory (datacenter, datastore, image, flavor), free text."""
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
"""A host, pool or bridge name that also appears in URLs and paths: letters, digits and ._- only."""


class VmProvider(BaseModel):
    """What every VM target's provider block has: unknown keys refused, and a pinned provider version (each target
    redeclares ``terraform_provider_version`` with the version it is tested with as its default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    terraform_provider_version: ProviderVersion


class VmPool(BaseModel):
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
    labels: Labels = Field(default_factory=dict)
    zone: DnsLabel | None = None

    @property
    def memory_mib(self) -> int:
        return int(self.memory_gib * 1024)

    def sizes(self) -> dict[str, Any]:
        """The size of the pool's VMs as the VM modules take it."""
        return {"cpus": self.cpus, "memory_mib": self.memory_mib, "disk_gib": self.disk_gib}

    def vm_nodes(self, pool_name: str, provider_name: str, ssh_user: str) -> list[NodeSpec]:
        """``<pool>-1`` … ``<pool>-N`` on consecutive addresses from ``ip_start``."""
        labels = {**zone_label(self.zone), **self.labels}
        return [
            NodeSpec(name=f"{pool_name}-{i + 1}", pool=pool_name, provider=provider_name,
                     roles=tuple(dict.fromkeys(self.roles)), ip=str(self.ip_start + i),
                     access_ip=str(self.ip_start + i), ssh_user=ssh_user, labels=dict(labels),
                     loc=("pools", pool_name, "ip_start"))
            for i in range(self.count)
        ]

    def check_range(self) -> list[tuple[Loc, str]]:
        if int(self.ip_start) + self.count - 1 > int(ipaddress.IPv4Address("255.255.255.254")):
            return [(("ip_start",), f"{self.count} addresses from {self.ip_start} run past the address space")]
        return []


PV = TypeVar("PV", bound=VmProvider)
QV = TypeVar("QV", bound=VmPool)


class VmTarget(Target[PV, QV]):
    """A target whose pools are counted VMs: the nodes and the address-range check come from the pool, and new
    VMs get the site's SSH public key."""

    needs_public_key = True
    terraform_source: ClassVar[str]
    """The Terraform provider's registry source (``hashicorp/vsphere``); its local name is the target's."""

    def nodes(self, pool_name: str, pool: QV, provider_name: str, provider: PV, ssh_user: str) -> list[NodeSpec]:
        return pool.vm_nodes(pool_name, provider_name, ssh_user)

    pins: ClassVar[tuple[str, str] | None] = None
    """``(key, what)``: the pool's ``key`` may pin its VMs to some of the provider's ``key`` (libvirt hosts,
    Proxmox nodes), and naming one the provider lacks is an error about that ``what``."""

    def check(self, pool_name: str, pool: QV, provider: PV) -> list[tuple[Loc, str]]:
        problems = pool.check_range() + self.check_pool(pool, provider)
        if self.pins is not None:
            key, what = self.pins
            allowed = getattr(provider, key)
            problems += [((key, i), f"{what} {value} is not one of the provider's {key}")
                         for i, value in enumerate(getattr(pool, key) or []) if value not in allowed]
        return problems

    def check_pool(self, pool: QV, provider: PV) -> list[tuple[Loc, str]]:
        """The target's own pool checks, beyond the address range (locations relative to the pool)."""
        return []

    def terraform_provider(self, provider: PV) -> TerraformProvider:
        return TerraformProvider(self.name, self.terraform_source, provider.terraform_provider_version)

