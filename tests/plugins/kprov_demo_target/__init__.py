"""``demo``: machines listed by name and address, as an outside package would add a target to kprov.

Its Terraform module is ``module/`` beside this file; the test fills it with a copy of kprov's ``static`` module
plus the shared contract, so the demo records machines in state without any provider.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import DnsLabel, NodeSpec
from kprov.targets.base import Loc
from kprov.targets.machines import MachinePool, MachineTarget

HERE = Path(__file__).resolve().parent


class DemoProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["demo"]
    rack: DnsLabel


class DemoMachine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: DnsLabel
    ip: ipaddress.IPv4Address
    labels: dict[str, str] = Field(default_factory=dict)


class DemoPool(MachinePool):
    machines: Annotated[list[DemoMachine], Field(min_length=1)]


class Demo(MachineTarget[DemoProvider, DemoPool]):
    """Listed machines, each labelled with its provider's rack."""

    name = "demo"

    def nodes(self, pool_name: str, pool: DemoPool, provider_name: str, provider: DemoProvider,
              ssh_user: str) -> list[NodeSpec]:
        rack = {"example.com/rack": provider.rack}
        return [dataclasses.replace(n, labels={**n.labels, **rack})
                for n in super().nodes(pool_name, pool, provider_name, provider, ssh_user)]

    def check(self, pool_name: str, pool: DemoPool, provider: DemoProvider) -> list[tuple[Loc, str]]:
        return [(("machines", i, "name"), "demo machines are named demo-*")
                for i, m in enumerate(pool.machines) if not m.name.startswith("demo-")]

    def module_dir(self) -> Path:
        return HERE / "module"

    def template_dir(self) -> Path:
        return HERE / "templates"

    def example(self) -> str:
        return (HERE / "example.yaml").read_text()
