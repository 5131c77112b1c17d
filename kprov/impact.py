"""What a change of the site does to the running cluster, node by node, before anything is done: who joins and
through which Kubespray playbook (and ``--limit``), who leaves (``remove-node.yml``, before Terraform destroys the
machine), who stays; etcd and control-plane counts before and after; and the changes kprov refuses.

One computation serves ``kprov plan`` (shown, and as one JSON document), ``up``'s check before anything is written
(refusals), and the stages that act (``remove`` and ``bootstrap`` take their nodes from here).

Kubespray's rules it follows: new workers join with ``playbooks/facts.yml`` over every host (no limit: the other
hosts' facts must be cached) and then ``scale.yml --limit`` the new ones; new control-plane or etcd nodes join
through ``cluster.yml``; a node leaves through ``remove-node.yml -e node=… -e skip_confirmation=true`` (which
drains it and, for etcd, removes its member); the first control-plane node cannot leave that way.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kprov import members as members_mod
from kprov.members import Member
from kprov.site.types import Role

if TYPE_CHECKING:
    from kprov.engine.stage import Session

SCHEMA_VERSION = 1


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeDocument(_Doc):
    node: str
    roles: list[str]
    action: Literal["join", "rejoin", "leave", "keep"]
    why: str


class StepDocument(_Doc):
    playbook: str
    limit: list[str] = Field(description="Hosts the playbook is limited to; empty: all.")
    extravars: dict[str, Any]
    when: Literal["before", "after"] = Field(description="Before Terraform (a node leaving) or after it.")


class Count(_Doc):
    before: int
    after: int


class BudgetDocument(_Doc):
    namespace: str
    name: str
    disruptions_allowed: int
    pods: list[str] = Field(description="Its pods on the nodes to drain, as namespace/name.")


class DrainDocument(_Doc):
    nodes: list[str] = Field(description="The nodes the change drains (leaving nodes).")
    unanswered: str | None = Field(description="Why the cluster could not be asked about PodDisruptionBudgets; "
                                   "null when it answered or nothing is drained.")
    blocking: list[BudgetDocument] = Field(description="Budgets that allow no disruption now and cover pods on "
                                           "those nodes: the drain would wait on them (and fail after "
                                           "kubernetes.drain.timeout).")


class ImpactDocument(_Doc):
    """What ``kprov plan --output json`` emits as ``data.impact`` of its ``impact`` event (``kprov schema
    --impact`` prints this as JSON Schema)."""

    schema_version: int = Field(alias="schema", description="1 for this shape.")
    nodes: list[NodeDocument]
    steps: list[StepDocument]
    etcd: Count
    control_plane: Count
    refusals: list[str] = Field(description="What `up` would refuse, each with the way to do it instead.")
    forced_by: dict[str, list[str]] = Field(default_factory=dict, description="Per node whose machine is made "
                                            "again, the attributes that force Terraform to replace it.")
    drain: DrainDocument | None = Field(default=None, description="PodDisruptionBudgets against the drains the "
                                        "change makes, as the cluster answers now.")
    settings: list[str] = Field(default_factory=list, description="Why the settings for every node differ from "
                                "those the cluster was brought up with (changed variables as `group: name`): "
                                "cluster.yml then runs on every node. Empty: they do not.")


def playbook_line(playbook: str, limit: Sequence[str] = ()) -> str:
    """``playbook --limit a,b``, as a person would run it."""
    return playbook + (f" --limit {','.join(limit)}" if limit else "")


def playbook_lines(steps: Iterable[tuple[str, Sequence[str]]]) -> str:
    """Playbook runs (name, limit) as one line for a message; "no playbook" for none."""
    return ", ".join(playbook_line(p, limit) for p, limit in steps) or "no playbook"


@dataclass(frozen=True)
class Step:
    """One playbook run: which, limited to which hosts (none: all), with which extra variables."""

    playbook: str
    limit: tuple[str, ...] = ()
    extravars: dict[str, Any] = field(default_factory=dict)
    when: str = "after"
    """``before`` Terraform (a node leaving), or ``after`` it (nodes joining)."""


@dataclass(frozen=True)
class NodeChange:
    node: str
    roles: tuple[str, ...]
    action: str
    """``join``, ``rejoin`` (its machine is made again), ``leave`` or ``keep``."""
    why: str


@dataclass(frozen=True)
class Impact:
    nodes: tuple[NodeChange, ...]
    steps: tuple[Step, ...]
    etcd: tuple[int, int]
    control_plane: tuple[int, int]
    refusals: tuple[str, ...] = ()

    def joining(self) -> list[str]:
        return [c.node for c in self.nodes if c.action in ("join", "rejoin")]

    def leaving(self) -> list[str]:
        return [c.node for c in self.nodes if c.action == "leave"]

    def document(self) -> dict[str, Any]:
        """The plan as one JSON document (``kprov plan --output json``'s ``impact`` event; README: Day 2)."""
        return {"schema": SCHEMA_VERSION, "nodes": [asdict(c) for c in self.nodes],
                "steps": [{**asdict(s), "limit": list(s.limit)} for s in self.steps],
                "etcd": {"before": self.etcd[0], "after": self.etcd[1]},
                "control_plane": {"before": self.control_plane[0], "after": self.control_plane[1]},
                "refusals": list(self.refusals)}


def assess(members: Sequence[Member], wanted: Sequence[tuple[str, tuple[Role, ...]]],
           remade: Collection[str] = ()) -> Impact:
    """The impact of bringing a cluster whose members are ``members`` to the nodes ``wanted`` (name, roles; in
    the site file's order), where Terraform makes the machines of ``remade`` again. No members: nothing was
    bootstrapped yet, and everyone joins through ``cluster.yml``."""
    joined = {m.name: m for m in members}
    names = {n for n, _ in wanted}
    changes: list[NodeChange] = []
    for m in members:
        if m.name not in names:
            changes.append(NodeChange(m.name, tuple(r.value for r in m.roles), "leave",
                                      "no longer in the site file"))
    for name, roles in wanted:
        values = tuple(r.value for r in roles)
        if name not in joined:
            why = "not bootstrapped yet" if not members else "new in the site file"
            changes.append(NodeChange(name, values, "join", why))
        elif name in remade:
            changes.append(NodeChange(name, values, "rejoin", "Terraform makes its machine again"))
        else:
            changes.append(NodeChange(name, values, "keep", "unchanged"))
    leaving = [c for c in changes if c.action == "leave"]
    entering = [c for c in changes if c.action in ("join", "rejoin")]
    steps: list[Step] = []
    if leaving:
        steps.append(Step("remove-node.yml", extravars={"node": ",".join(c.node for c in leaving),
                                                         "skip_confirmation": True}, when="before"))
    if entering:
        if members and all(c.roles == (Role.WORKER.value,) for c in entering):
            steps += [Step("playbooks/facts.yml"), Step("scale.yml", limit=tuple(c.node for c in entering))]
        else:
            steps.append(Step("cluster.yml"))
    etcd = (sum(m.has(Role.ETCD) for m in members), sum(Role.ETCD in r for _, r in wanted))
    cp = (sum(m.has(Role.CONTROL_PLANE) for m in members), sum(Role.CONTROL_PLANE in r for _, r in wanted))
    return Impact(tuple(changes), tuple(steps), etcd, cp, tuple(_refusals(members, changes, etcd[0])))


def _refusals(members: Sequence[Member], changes: Sequence[NodeChange], etcd_before: int) -> list[str]:
    out = []
    first = next((m for m in members if m.has(Role.CONTROL_PLANE)), None)
    leaving = {c.node for c in changes if c.action == "leave"}
    cp_left = [c for c in changes if c.action != "leave" and Role.CONTROL_PLANE.value in c.roles]
    if first is not None and first.name in leaving and cp_left:
        out.append(f"{first.name} is the first control-plane node, which Kubespray cannot remove: move it first "
                   f"(put {cp_left[0].node} first among the control-plane nodes, run `kprov up`), then remove it")
    if members and leaving and not cp_left:
        out.append("the change removes every control-plane node: a cluster needs one (use `kprov down` to end it)")
    for c in changes:
        if c.action == "rejoin" and Role.ETCD.value in c.roles:
            out.append(f"{c.node}'s machine would be made again, and an etcd member cannot rejoin under its old "
                       f"name: remove {c.node} from the site file and run `kprov up` (remove-node.yml removes its "
                       "member), then add it back")
    etcd_out = [c.node for c in changes if Role.ETCD.value in c.roles and c.action in ("leave", "rejoin")
                and c.node in {m.name for m in members}]
    if etcd_before == 1 and etcd_out:
        out.append(f"{etcd_out[0]} is the only etcd member: taking it out loses the cluster's data; grow etcd to "
                   "3 members first (or keep its machine)")
    elif etcd_before and len(etcd_out) > (etcd_before - 1) // 2:
        out.append(f"the change takes {len(etcd_out)} of {etcd_before} etcd members out at once "
                   f"({', '.join(etcd_out)}), which loses quorum: change at most {(etcd_before - 1) // 2} per run")
    return out


def of_site(session: Session, remade: Collection[str] = ()) -> Impact:
    """The impact of the session's site file on the cluster as kprov last brought it up."""
    record = members_mod.read(session.workdir.members_file)
    assessed = assess(record.members, [(n.name, n.roles) for n in session.loaded.nodes], remade)
    want = session.site.kubernetes.version
    if record.members and record.version and record.version != want:
        assessed = replace(assessed, refusals=(*assessed.refusals, (
            f"the cluster runs Kubernetes {record.version} and the site file asks for {want}: "
            f"`kprov upgrade {session.loaded.source.name} --to {want}` goes there minor by minor, with snapshots")))
    return assessed


def refuse(impact: Impact) -> None:
    """A usage error naming every refusal (nothing has been done yet)."""
    from kprov.errors import UsageError  # noqa: PLC0415

    if impact.refusals:
        raise UsageError("refused: " + "; ".join(impact.refusals))
