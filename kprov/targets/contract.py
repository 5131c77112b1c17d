"""The one definition of what every target module receives in common and what it returns.

Every target module (``terraform/modules/<name>/``) takes three variables of the same type — ``pool``, ``nodes``
and ``site`` — besides a ``settings`` variable of its own, and returns a ``nodes`` output of one shape. Both
sides are made from the models here:

* Python: :func:`kprov.render.tfvars` builds every node entry (:class:`NodeInput`) and the site object
  (:class:`Site`, also what targets get as their ``ctx``) from these models and dumps them to
  ``kprov.auto.tfvars.json``; :class:`kprov.nodes.Node`, what kprov reads back from the ``nodes`` output, is a
  :class:`NodeOutput`.
* Terraform: :func:`contract_tf` writes the variables' exact types as HCL. The committed
  ``terraform/modules/_contract/contract.tf`` (linked into every module as ``contract.tf``) is its output, and a
  test keeps it so; regenerate it with::

      python -m kprov.targets.contract > terraform/modules/_contract/contract.tf

A nullable field (``X | None``) is an ``optional(X)`` attribute in Terraform: null when kprov has no value.
"""

from __future__ import annotations

import sys
import textwrap
import types
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from kprov.site.types import NodeSpec, Role

CONTRACT_TF = "terraform/modules/_contract/contract.tf"
"""Where the generated HCL is committed (relative to kprov's assets), and linked from every module."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# What every module gets.


class NodeInput(_Model):
    """One node of the pool, as the module gets it (the value of ``var.nodes[name]``)."""

    roles: tuple[Role, ...]
    ip: str
    access_ip: str
    ssh_user: str
    labels: dict[str, str]
    mac: str | None = None
    """The machine's boot MAC (bare metal); null for VMs and existing machines."""
    snapshots: tuple[str, ...] = ()
    """Names of the snapshots the node must have (``kprov snapshot``); targets without snapshots ignore it."""

    @classmethod
    def of(cls, spec: NodeSpec, snapshots: tuple[str, ...] = ()) -> NodeInput:
        return cls(roles=spec.roles, ip=spec.ip, access_ip=spec.access_ip, ssh_user=spec.ssh_user,
                   labels=spec.labels, mac=spec.mac, snapshots=snapshots)


class Network(_Model):
    """The site network every node is on: what a node's static address configuration needs besides its IP."""

    prefix_length: int
    gateway: str | None = None
    dns: tuple[str, ...] = ()
    domain: str | None = None


class Ssh(_Model):
    """Who kprov logs in as on new machines, and the public key they get (empty when no target makes machines)."""

    user: str
    public_key: str


class Site(_Model):
    """What every target needs from the rest of the site: its Python ``settings``/``files`` get it as ``ctx``,
    its module as ``var.site``."""

    name: str
    description: str
    network: Network
    ssh: Ssh


class ModuleInput(_Model):
    """The variables every target module declares in ``contract.tf`` (its own ``settings`` come on top)."""

    pool: str = Field(description="Name of the pool this module instance makes.")
    nodes: dict[str, NodeInput] = Field(description="Nodes of the pool, keyed by node name.")
    site: Site = Field(description="The site: name, description, network, and the SSH user and public key "
                                   "new machines get.")


# What every module returns.


class NodeOutput(_Model):
    """One node of the ``nodes`` output every module returns, keyed by node name."""

    name: str
    pool: str
    roles: tuple[Role, ...]
    ip: str
    access_ip: str
    ssh_user: str
    labels: dict[str, str]
    instance_id: str
    """What made the node (VM id, install id); a node made again has a new one, so later stages re-run."""


def validate_output(value: Any) -> dict[str, NodeOutput]:
    """A module's (or the root's) ``nodes`` output, checked against the contract: raises ValidationError."""
    if not isinstance(value, dict):
        raise TypeError("the nodes output is not a map of nodes")
    return {name: NodeOutput.model_validate(v) for name, v in value.items()}


# The HCL side.


def hcl_type(tp: Any, indent: int = 0) -> str:
    """The Terraform type of a Python annotation, formatted as ``terraform fmt`` leaves it (object attributes
    at ``indent + 2``). Nullable types are only allowed as object attributes (see :func:`_attributes`)."""
    tp = _strip(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "object({\n" + _attributes(tp, indent + 2) + " " * indent + "})"
    if origin in (list, tuple):
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"only tuple[X, ...] maps to a Terraform list, not {tp}")
        return f"list({hcl_type(args[0], indent)})"
    if origin is dict:
        key, value = get_args(tp)
        if _strip(key) is not str:
            raise TypeError(f"Terraform maps have string keys, not {key}")
        return f"map({hcl_type(value, indent)})"
    if tp is bool:
        return "bool"
    if tp in (int, float):
        return "number"
    if tp is str or (isinstance(tp, type) and issubclass(tp, Enum) and issubclass(tp, str)):
        return "string"
    raise TypeError(f"no Terraform type for {tp}")


def _strip(tp: Any) -> Any:
    """The type behind ``Annotated[...]``."""
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _nullable(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, ``(tp, False)`` otherwise."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"no Terraform type for the union {tp}")
        return args[0], len(args) != len(get_args(tp))
    return tp, False


def _attributes(model: type[BaseModel], indent: int) -> str:
    """An object type's attribute lines, aligned the way ``terraform fmt`` aligns them: consecutive one-line
    attributes share a column; a multi-line one stands alone."""
    items: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        tp, nullable = _nullable(field.annotation)
        text = hcl_type(tp, indent)
        items.append((name, f"optional({text})" if nullable else text))
    return _aligned(items, indent)


def _aligned(items: list[tuple[str, str]], indent: int) -> str:
    lines: list[str] = []
    group: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(n) for n, _ in group), default=0)
        lines.extend(f"{' ' * indent}{n.ljust(width)} = {v}" for n, v in group)
        group.clear()

    for name, value in items:
        if "\n" in value:
            flush()
            lines.append(f"{' ' * indent}{name} = {value}")
        else:
            group.append((name, value))
    flush()
    return "".join(line + "\n" for line in lines)


def _variable(name: str, description: str, tp: Any) -> str:
    return f'variable "{name}" {{\n' + _aligned([("description", _hcl_string(description)),
                                                 ("type", hcl_type(tp, 2))], 2) + "}\n"


def _hcl_string(text: str) -> str:
    if any(c in text for c in '"\\\n$%'):
        raise ValueError(f"keep contract descriptions plain: {text!r}")
    return f'"{text}"'


def contract_tf() -> str:
    """The text of ``terraform/modules/_contract/contract.tf``."""
    outputs = ", ".join(NodeOutput.model_fields)
    about = textwrap.fill(
        "The contract every kprov target module shares: these variables (this file is linked into every module as "
        "contract.tf), a `settings` variable of the target's own, and a `nodes` output of one shape: "
        f"{{{outputs}}} per node, keyed by name. instance_id is the id of what makes the node (VM, server, "
        "machine install), so a node made again is seen as new by the later stages.",
        width=110, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)
    header = ("# Generated by kprov.targets.contract: do not edit. Regenerate it with\n"
              f"#   python -m kprov.targets.contract > {CONTRACT_TF}\n#\n{about}\n")
    blocks = []
    for name, field in ModuleInput.model_fields.items():
        assert field.description is not None, name
        blocks.append(_variable(name, field.description, field.annotation))
    return header + "".join("\n" + b for b in blocks)


if __name__ == "__main__":
    sys.stdout.write(contract_tf())
