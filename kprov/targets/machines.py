"""What targets whose pools list their machines share (static, bare metal): the pool's keys and its nodes.

A pool names its machines one by one, each with a name, an address and labels (a target adds its own keys:
``access_ip`` for static machines, ``mac`` and ``bmc`` for bare metal); every node gets the pool's roles, the
pool's zone as the topology label, and the pool's labels under the machine's own.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import DnsLabel, Labels, NodeSpec, Role
from kprov.targets.base import Target, zone_label


class MachinePool(BaseModel):
    """A pool of listed machines; subclasses declare ``machines`` with their machine model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    provider: str
    roles: Annotated[list[Role], Field(min_length=1)]
    labels: Labels = Field(default_factory=dict)
    zone: DnsLabel | None = None
    """Failure domain: becomes the node label topology.kubernetes.io/zone."""

    @property
    def listed(self) -> list[Any]:
        machines: list[Any] = getattr(self, "machines", [])
        return machines


PM = TypeVar("PM", bound=BaseModel)
QM = TypeVar("QM", bound=MachinePool)


class MachineTarget(Target[PM, QM]):
    """A target whose pools list their machines: one node per machine, in the order written."""

    def nodes(self, pool_name: str, pool: QM, provider_name: str, provider: PM, ssh_user: str) -> list[NodeSpec]:
        roles = tuple(dict.fromkeys(pool.roles))
        return [
            NodeSpec(name=m.name, pool=pool_name, provider=provider_name, roles=roles, ip=str(m.ip),
                     access_ip=str(getattr(m, "access_ip", None) or m.ip), ssh_user=ssh_user,
                     labels={**zone_label(pool.zone), **pool.labels, **m.labels}, mac=getattr(m, "mac", None),
                     loc=("pools", pool_name, "machines", i))
            for i, m in enumerate(pool.listed)
        ]
