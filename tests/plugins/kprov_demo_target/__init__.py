"""``demo``: machines listed by name and address, as an outside package would add a target to kprov.

Its Terraform module is ``module/`` beside this file; the test fills it with a copy of kprov's ``static`` module
plus the shared contract, so the demo records machines in state without any provider.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import DnsLabel, NodeSpec, Role
from kprov.targets.base import Loc, Target

HERE = Path(__file__).resolve().parent


class DemoProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["demo"]
    rack: DnsLabel


class DemoMachine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: DnsLabel
    ip: ipaddress.IPv4Address


class DemoPool(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    provider: str
    roles: Annotated[list[Role], Field(min_length=1)]
    machines: Annotated[list[DemoMachine], Field(min_length=1)]


class Demo(Target[DemoProvider, DemoPool]):
    name = "demo"
    provider_model = DemoProvider
    pool_model = DemoPool

    def nodes(self, pool_name: str, pool: DemoPool, provider_name: str, provider: DemoProvider,
              ssh_user: str) -> list[NodeSpec]:
        return [NodeSpec(name=m.name, pool=pool_name, provider=provider_name, roles=tuple(pool.roles), ip=str(m.ip),
                         access_ip=str(m.ip), ssh_user=ssh_user, labels={"example.com/rack": provider.rack},
                         loc=("pools", pool_name, "machines", i)) for i, m in enumerate(pool.machines)]

    def check(self, pool_name: str, pool: DemoPool, provider: DemoProvider) -> list[tuple[Loc, str]]:
        return [(("machines", i, "name"), "demo machines are named demo-*")
                for i, m in enumerate(pool.machines) if not m.name.startswith("demo-")]

    def module_dir(self) -> Path:
        return HERE / "module"

    def template_dir(self) -> Path:
        return HERE / "templates"

    def example(self) -> str:
        return (HERE / "example.yaml").read_text()
