"""``kprov status``: stages and when they last succeeded, the nodes, the last runs and the lock holder."""

from __future__ import annotations

from typing import Any

from kprov import nodes as nodes_mod
from kprov.commands.up import stages as up_stages
from kprov.engine.lock import SiteLock
from kprov.engine.runs import last_runs
from kprov.engine.stage import Session


def status(session: Session) -> dict[str, Any]:
    wd = session.workdir
    recorded = session.state.data["stages"]
    order = [s.name for s in up_stages(session)]  # the stages `up` would run for this site, in its order
    names = order + sorted(set(recorded) - set(order))
    stages = {s: session.state.finished(s) for s in names}
    nodes = nodes_mod.load(wd.nodes_file)
    runs = last_runs(wd.runs)
    lock = SiteLock(wd.lock_file, "status").held_by() if wd.lock_file.exists() else None
    info = {
        "site": session.loaded.name, "workdir": str(wd.root), "stages": stages,
        "nodes": [n.model_dump(mode="json") for n in nodes],
        "runs": [r.as_dict() for r in runs],
        "kubeconfig": str(wd.kubeconfig) if wd.kubeconfig.exists() else None,
        "lock": lock or None,
    }
    ev = session.events
    ev.emit("status", "table", "", report=True, title=f"site {session.loaded.name}", columns=["stage", "last success"],
            rows=[[s, t or "never"] for s, t in stages.items()])
    if nodes:
        ev.emit("status", "table", "", report=True, title="nodes", columns=["node", "pool", "roles", "address"],
                rows=[[n.name, n.pool, ",".join(n.roles), n.access_ip] for n in nodes])
    if runs:
        ev.emit("status", "table", "", report=True, title="last runs", columns=["run", "command", "result", "message"],
                rows=[[r.name, r.command, r.result, r.message] for r in runs])
    ev.emit("status", "result", "", status=info)
    return info
