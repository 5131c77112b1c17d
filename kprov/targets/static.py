"""``static``: machines that already exist, given by address.

For pre-installed fleets, and what the lab tests use. Its Terraform module creates no infrastructure: one
``terraform_data`` per machine records it in state, so adding or removing a machine is a plan like any other.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import DnsLabel, Labels, NodeSpec, Role
from kprov.targets.base import Target, zone_label


class StaticProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["static"]


class StaticMachine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: DnsLabel
    ip: ipaddress.IPv4Address
    access_ip: ipaddress.IPv4Address | None = None
    """The address other nodes and kprov use, when it differs from the one the node binds (NAT, bastion)."""
    labels: Labels = Field(default_factory=dict)


class StaticPool(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    provider: str
    roles: Annotated[list[Role], Field(min_length=1)]
    labels: Labels = Field(default_factory=dict)
    zone: DnsLabel | None = None
    """Failure domain: becomes the node label topology.kubernetes.io/zone."""
    machines: Annotated[list[StaticMachine], Field(min_length=1)]


class Static(Target[StaticProvider, StaticPool]):
    name = "static"
    provider_model = StaticProvider
    pool_model = StaticPool

    def nodes(self, pool_name: str, pool: StaticPool, provider_name: str, provider: StaticProvider,
              ssh_user: str) -> list[NodeSpec]:
        return [
            NodeSpec(
                name=m.name, pool=pool_name, provider=provider_name, roles=tuple(dict.fromkeys(pool.roles)),
                ip=str(m.ip), access_ip=str(m.access_ip or m.ip), ssh_user=ssh_user,
                labels={**zone_label(pool.zone), **pool.labels, **m.labels},
                loc=("pools", pool_name, "machines", i),
            )
            for i, m in enumerate(pool.machines)
        ]
