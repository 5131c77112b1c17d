"""The contract every target (static, vsphere, libvirt, ...) fulfils.

A target is a Python class (schemas of its provider block and pool options, meaning checks, the data its
Terraform module needs), a template folder and a Terraform module in ``terraform/modules/<module>/``. Every
module takes the same ``pool``/``nodes``/``settings`` variables and returns the same ``nodes`` output, so the
inventory, SSH and verify stages never know which target made a node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from kprov.secrets import SecretRef
from kprov.types import NodeSpec

Loc = tuple[str | int, ...]
P = TypeVar("P", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)


@dataclass(frozen=True)
class SiteContext:
    """What every target may need from the rest of the site when it renders a pool."""

    site: str
    description: str
    prefix_length: int
    gateway: str | None
    dns: tuple[str, ...]
    domain: str | None
    ssh_public_key: str
    ssh_user: str = "root"


@dataclass(frozen=True)
class TerraformProvider:
    """A Terraform provider a target needs, pinned in the rendered ``required_providers``."""

    local_name: str
    source: str
    version: str


class Target(ABC, Generic[P, Q]):
    """One kind of machine source. Subclasses are registered in :mod:`kprov.providers`."""

    name: ClassVar[str]
    module: ClassVar[str]
    needs_public_key: ClassVar[bool] = False
    provider_model: ClassVar[type[BaseModel]]
    pool_model: ClassVar[type[BaseModel]]

    @abstractmethod
    def nodes(self, pool_name: str, pool: Q, provider_name: str, provider: P, ssh_user: str) -> list[NodeSpec]:
        """The nodes a pool asks for, in the order the user wrote them."""

    def check(self, pool_name: str, pool: Q, provider: P) -> list[tuple[Loc, str]]:
        """Meaning checks beyond the schema; locations are relative to the pool."""
        return []

    def settings(self, pool_name: str, pool: Q, provider: P, ctx: SiteContext) -> dict[str, Any]:
        """Target-specific, non-secret module input for one pool (goes to ``kprov.auto.tfvars.json``)."""
        return {}

    def terraform_provider(self, provider: P) -> TerraformProvider | None:
        """The Terraform provider this target's module needs (None: no provider, like ``static``)."""
        return None

    def provider_settings(self, provider: P) -> dict[str, Any]:
        """Non-secret settings of a provider block (goes to ``kprov.auto.tfvars.json`` as ``providers.NAME``)."""
        return {}

    def instances(self, provider_name: str, provider: P) -> dict[str, dict[str, Any]]:
        """Terraform provider configurations this provider block needs, by name, with their settings.

        One for most targets; a target that talks to several endpoints (libvirt: one per hypervisor host) has
        one per endpoint, each with its own module instance."""
        return {provider_name: self.provider_settings(provider)}

    def instance_of(self, provider_name: str, provider: P, pool: Q, index: int) -> str:
        """Which instance makes the pool's ``index``-th node."""
        return provider_name

    def files(self, pool_name: str, pool: Q, provider: P, ctx: SiteContext) -> dict[str, str]:
        """Files the pool's module reads, by path relative to the Terraform root (bare metal: boot files)."""
        return {}

    def boot_timeout(self, provider: P) -> int:
        """Seconds a new node of this target may take to answer SSH (beyond ``ssh.connect_timeout``)."""
        return 0

    def credentials(self, provider: P) -> dict[str, str | SecretRef]:
        """Provider credentials by variable suffix; each reaches Terraform only as ``TF_VAR_<name>_<suffix>``."""
        return {}


def zone_label(zone: str | None) -> dict[str, str]:
    """A pool's ``zone`` as the well-known topology label the scheduler spreads by."""
    return {"topology.kubernetes.io/zone": zone} if zone else {}
