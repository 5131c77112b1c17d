"""``snapshot``: VM snapshots of a running site's nodes, on targets whose module has a snapshot resource.

Create and delete are Terraform changes of that resource only: the workdir's record (:mod:`kprov.snapshots`)
says which snapshots each node keeps, the render puts that into the modules' input, and the plan is applied only
if every change it holds is a snapshot being made (create) or removed (delete). A site with edits `up` has not
applied yet is refused before anything is planned: a snapshot must never carry another change with it. Revert
is asked of the target directly (no provider has a revert operation), and forgets the stages after the
inventory, so the next `up` brings the reverted nodes back to what the site file says.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from kprov import members as members_mod
from kprov import render
from kprov import snapshots as record
from kprov.engine.stage import Session, Stage
from kprov.errors import InfrastructureError, NotBuilt, UsageError
from kprov.nodes import Node
from kprov.snapshots import Snapshot
from kprov.stages.infra import check_ready, terraform_inputs
from kprov.targets import registry, target_for
from kprov.tools.terraform import transient_plan

FORGOTTEN_BY_REVERT = ("ssh", "preflight", "bootstrap", "kubeconfig", "verify")


@dataclass(frozen=True)
class SnapshotNode:
    node: Node
    provider_name: str
    provider: Any
    target: Any


def capable_nodes(session: Session) -> list[SnapshotNode]:
    """The site's nodes (as the last `up` made them) on a target whose module makes snapshots."""
    out = []
    for node in session.known_nodes():
        pool = session.loaded.pools.get(node.pool)
        if pool is None:
            continue
        name = str(pool.provider)  # type: ignore[attr-defined]  # every pool model has it
        provider = session.site.providers[name]
        target = target_for(provider.type)
        if target.snapshot_resource is not None:
            out.append(SnapshotNode(node, name, provider, target))
    return out


def find(session: Session, name: str) -> Snapshot:
    for s in record.load(session.workdir.snapshots_file):
        if s.name == name:
            return s
    raise UsageError(f"site {session.loaded.name} has no snapshot {name!r} (kprov snapshot list)")


def check_request(session: Session) -> object:
    """What must hold before anything is written: the site was brought up, the name is valid, and for create a
    new name on at least one capable node; for revert and delete, a recorded snapshot."""
    action, name = str(session.options["action"]), str(session.options.get("name") or "")
    if action == "list":
        return None
    if not re.fullmatch(record.NAME_PATTERN, name):
        raise UsageError(f"snapshot name {name!r}: letters, digits, '.', '_' and '-', at most 63, starting with a "
                         "letter or digit")
    if session.state.finished("infra") is None:
        raise NotBuilt(f"site {session.loaded.name} was never brought up: run `kprov up` first")
    if action != "create":
        return find(session, name)
    nodes = capable_nodes(session)
    if not nodes:
        able = sorted(snapshot_resources())
        raise UsageError(f"no node of site {session.loaded.name} is on a target with snapshots ({', '.join(able)})")
    if any(s.name == name for s in record.load(session.workdir.snapshots_file)):
        raise UsageError(f"site {session.loaded.name} has a snapshot {name!r} already")
    return nodes


def snapshot_resources() -> dict[str, str]:
    """Target name → the Terraform resource type its module makes snapshots with, for targets that have one."""
    return {name: t.snapshot_resource for name, t in registry().items() if t.snapshot_resource is not None}


def resource_type(address: str) -> str:
    """``module.x.lxd_snapshot.node["a/b"]`` → ``lxd_snapshot``."""
    bare = re.sub(r"\[[^\]]*\]$", "", address)
    parts = bare.split(".")
    return parts[-2] if len(parts) >= 2 else bare


class SnapshotChange(Stage):
    """Create or delete one snapshot on every node it covers, through Terraform, changing nothing else."""

    name = "snapshot"

    def __init__(self, action: str, snapshot: str) -> None:
        self.action = action
        self.snapshot = snapshot

    def describe(self, session: Session) -> str:
        return f"{self.action} snapshot {self.snapshot} (terraform plan, apply)"

    def run(self, session: Session) -> list[str]:
        wd = session.workdir
        render.render_terraform(session.loaded, wd)
        if not session.state.done("infra", terraform_inputs(session)):
            raise UsageError(f"site {session.loaded.name} has changes `kprov up` has not applied (or its last up "
                             "failed): run `kprov up` first; a snapshot never carries other changes")
        check_ready(session)
        before = record.load(wd.snapshots_file)
        if self.action == "create":
            nodes = [c.node.name for c in capable_nodes(session)]
            running = members_mod.read(wd.members_file)
            after = [*before, record.new(self.snapshot, nodes, running.version if running.members else None)]
            want = "create"
        else:
            nodes = list(find(session, self.snapshot).nodes)
            after = [s for s in before if s.name != self.snapshot]
            want = "delete"
        kinds = set(snapshot_resources().values())
        record.save(wd.snapshots_file, after)
        try:
            render.render_terraform(session.loaded, wd)
            tf = session.terraform_initialized()
            with transient_plan(session.run_dir) as plan_file:
                plan = tf.plan(out=plan_file)
                other = [f"{c.address} ({c.action})" for c in plan.planned
                         if resource_type(c.address) not in kinds or c.action != want]
                if other:
                    raise InfrastructureError(f"{self.action} snapshot {self.snapshot}: the plan would also change "
                                              f"{', '.join(other[:5])}; nothing applied (run `kprov plan`)")
                if plan.changes:
                    tf.apply(plan_file)
            self.confirm(session, nodes)
        except BaseException:
            record.save(wd.snapshots_file, before)
            render.render_terraform(session.loaded, wd)
            raise
        session.state.record("infra", terraform_inputs(session))  # the infra it describes is applied as it is
        return nodes

    def confirm(self, session: Session, nodes: list[str], timeout: float = 60) -> None:
        """Ask the platform whether each node has (create) or no longer has (delete) the snapshot: the LXD
        provider deletes without waiting for LXD, and ignores its errors."""
        capable = {c.node.name: c for c in capable_nodes(session)}
        deadline = time.monotonic() + timeout
        pending = [n for n in nodes if n in capable]
        while pending:
            still = []
            for name in pending:
                c = capable[name]
                have = c.target.snapshots_of(session.loaded, c.provider_name, c.provider, name)
                if have is not None and (self.snapshot in have) != (self.action == "create"):
                    still.append(name)
            pending = still
            if pending and time.monotonic() > deadline:
                state = "missing on" if self.action == "create" else "still on"
                raise InfrastructureError(f"snapshot {self.snapshot} is {state} {', '.join(pending)} after "
                                          f"Terraform's apply; see the node's platform (lxc info NODE)")
            if pending:
                time.sleep(0.5)

    def done_message(self, result: list[str]) -> str:
        return f"{self.snapshot}: {self.action}d on {len(result)} node(s)"


class SnapshotRevert(Stage):
    """Put every node the snapshot covers back to it, through the target (nodes restart)."""

    name = "snapshot"

    def __init__(self, snapshot: str) -> None:
        self.snapshot = snapshot

    def describe(self, session: Session) -> str:
        return f"revert to snapshot {self.snapshot}"

    def run(self, session: Session) -> list[str]:
        snap = find(session, self.snapshot)
        capable = {c.node.name: c for c in capable_nodes(session)}
        missing = [n for n in snap.nodes if n not in capable]
        if missing:
            raise UsageError(f"snapshot {self.snapshot} covers nodes the site no longer has: {', '.join(missing)}")
        session.state.forget(*FORGOTTEN_BY_REVERT)
        # what the members record says the nodes have is no longer so: the next bootstrap runs cluster.yml, and a
        # revert of every member puts the cluster back at the version it ran then (an upgrade is undone with it)
        record = members_mod.read(session.workdir.members_file)
        update: dict[str, object] = {"settings": members_mod.REVERTED}
        every = {m.name for m in record.members} <= set(snap.nodes)
        if snap.kubernetes and record.members and snap.kubernetes != record.version:
            if every:
                update["version"] = snap.kubernetes
                session.events.emit(self.name, "info", f"the cluster runs Kubernetes {snap.kubernetes} again (it "
                                    f"ran {record.version}); set kubernetes.version to it, or `kprov upgrade`")
            else:
                session.events.emit(self.name, "warning", f"{self.snapshot} was taken at Kubernetes "
                                    f"{snap.kubernetes} and does not cover every node: the cluster now mixes "
                                    f"versions; the next `up` brings them back to {record.version}")
        members_mod.write(session.workdir.members_file, record.model_copy(update=update))
        for name in snap.nodes:
            c = capable[name]
            session.events.emit(self.name, "progress", f"reverting to {self.snapshot}", host=name)
            c.target.revert_snapshot(session.loaded, c.provider_name, c.provider, name, self.snapshot)
        session.events.emit(self.name, "info", "the next `kprov up` runs ssh, preflight, bootstrap and verify "
                            "again, to bring the reverted nodes back to the site file")
        return list(snap.nodes)

    def done_message(self, result: list[str]) -> str:
        return f"{len(result)} node(s) back at {self.snapshot}"
