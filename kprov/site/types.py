"""Small value types shared by the site model, the providers and the stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import StringConstraints

DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
"""A node, pool or site name: a DNS label, so it is a valid hostname and a safe map key everywhere."""

_LABEL_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_LABEL_PREFIX = r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
LabelKey = Annotated[str, StringConstraints(pattern=rf"^{_LABEL_PREFIX}{_LABEL_NAME}$", max_length=316)]
LabelValue = Annotated[str, StringConstraints(pattern=rf"^{_LABEL_NAME}?$", max_length=63)]
Labels = dict[LabelKey, LabelValue]
"""Kubernetes node labels, checked with Kubernetes' own syntax so a bad one fails here, not mid-bootstrap."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
"""A provider name: it becomes a Terraform module name, so only identifier characters."""


KERNEL_ARG = r"^[A-Za-z0-9._,:/=+@-]+$"
"""One kernel argument: no spaces, quotes or '$' (iPXE expands ``${...}``)."""


def describe_pattern(pattern: str) -> str:
    """What a pattern means, in words, for error messages."""
    return _PATTERN_WORDS.get(pattern, f"the pattern {pattern}")


_PATTERN_WORDS = {
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "a DNS label (lower-case letters, digits and '-', at most 63)",
    r"^[a-z][a-z0-9_]{0,62}$": "an identifier (lower-case letter, then letters, digits or '_')",
    rf"^{_LABEL_PREFIX}{_LABEL_NAME}$": "a Kubernetes label key ([prefix/]name, name at most 63 characters)",
    rf"^{_LABEL_NAME}?$": "a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.')",
    KERNEL_ARG: "one kernel argument of letters, digits and ._,:/=+@- (no spaces, quotes or '$')",
}


class Role(StrEnum):
    CONTROL_PLANE = "control_plane"
    ETCD = "etcd"
    WORKER = "worker"


@dataclass(frozen=True)
class NodeSpec:
    """A node as the site file asks for it, whatever target makes it.

    ``loc`` is where it was written in the site file, so later checks can point at it.
    """

    name: str
    pool: str
    provider: str
    roles: tuple[Role, ...]
    ip: str
    access_ip: str
    ssh_user: str
    labels: dict[str, str] = field(default_factory=dict)
    mac: str | None = None
    loc: tuple[str | int, ...] = ()


M = TypeVar("M")


def exactly_one(model: M, first: str, second: str, message: str) -> M:
    """For a model validator: exactly one of two optional keys is set, or ``ValueError(message)``."""
    if (getattr(model, first) is None) == (getattr(model, second) is None):
        raise ValueError(message)
    return model
