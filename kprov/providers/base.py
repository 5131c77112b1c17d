"""The contract every target (static, vsphere, libvirt, ...) fulfils.

A target is a Python class (schemas of its provider block and pool options, meaning checks, the data its
Terraform module needs), a template folder and a Terraform module in ``terraform/modules/<module>/``. Every
module takes the same ``pool``/``nodes``/``settings`` variables and returns the same ``nodes`` output, so the
inventory, SSH and verify stages never know which target made a node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from kprov.types import NodeSpec

Loc = tuple[str | int, ...]
P = TypeVar("P", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)


class Target(ABC, Generic[P, Q]):
    """One kind of machine source. Subclasses are registered in :mod:`kprov.providers`."""

    name: ClassVar[str]
    module: ClassVar[str]
    provider_model: ClassVar[type[BaseModel]]
    pool_model: ClassVar[type[BaseModel]]

    @abstractmethod
    def nodes(self, pool_name: str, pool: Q, provider_name: str, provider: P, ssh_user: str) -> list[NodeSpec]:
        """The nodes a pool asks for, in the order the user wrote them."""

    def check(self, pool_name: str, pool: Q, provider: P) -> list[tuple[Loc, str]]:
        """Meaning checks beyond the schema; locations are relative to the pool."""
        return []

    def settings(self, pool: Q, provider: P) -> dict[str, Any]:
        """Target-specific, non-secret module input for one pool (goes to ``kprov.auto.tfvars.json``)."""
        return {}
