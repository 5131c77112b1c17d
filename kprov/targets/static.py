"""``static``: machines that already exist, given by address.

For pre-installed fleets, and what the lab tests use. Its Terraform module creates no infrastructure: one
``terraform_data`` per machine records it in state, so adding or removing a machine is a plan like any other.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import DnsLabel, Labels
from kprov.targets.machines import MachinePool, MachineTarget


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


class StaticPool(MachinePool):
    machines: Annotated[list[StaticMachine], Field(min_length=1)]


class Static(MachineTarget[StaticProvider, StaticPool]):
    name = "static"
