"""What every VM target's pools share: a count of VMs on consecutive static addresses, their size, labels."""

from __future__ import annotations

import ipaddress
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import DnsLabel, Labels, NodeSpec, Role
from kprov.targets.base import Loc, Target, zone_label


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


PV = TypeVar("PV", bound=BaseModel)
QV = TypeVar("QV", bound=VmPool)


class VmTarget(Target[PV, QV]):
    """A target whose pools are counted VMs: the nodes and the address-range check come from the pool, and new
    VMs get the site's SSH public key."""

    needs_public_key = True

    def nodes(self, pool_name: str, pool: QV, provider_name: str, provider: PV, ssh_user: str) -> list[NodeSpec]:
        return pool.vm_nodes(pool_name, provider_name, ssh_user)

    def check(self, pool_name: str, pool: QV, provider: PV) -> list[tuple[Loc, str]]:
        return pool.check_range() + self.check_pool(pool, provider)

    def check_pool(self, pool: QV, provider: PV) -> list[tuple[Loc, str]]:
        """The target's own pool checks, beyond the address range (locations relative to the pool)."""
        return []
