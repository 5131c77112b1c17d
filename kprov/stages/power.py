"""``power``: one machine's power through its BMC, by the target that made it (``kprov power``)."""

from __future__ import annotations

from typing import Any

from kprov.engine.stage import Session, Stage
from kprov.errors import UsageError
from kprov.site.load import LoadedSite
from kprov.targets import target_for


def bmc_target(loaded: LoadedSite, node: str) -> Any:
    """The target whose machine ``node`` is, if kprov can drive its power; else a usage error naming those it can."""
    known: list[str] = []
    for pool in loaded.pools.values():
        target = target_for(loaded.site.providers[str(pool.provider)].type)  # type: ignore[attr-defined]
        names = target.bmc_nodes(pool)
        if node in names:
            return target
        known += names
    raise UsageError(f"{node} is not a bare-metal node of site {loaded.name}"
                     + (f" (those are: {', '.join(sorted(known))})" if known else " (it has none)"))


class Power(Stage):
    name = "power"

    def __init__(self, node: str, action: str) -> None:
        self.node = node
        self.action = action

    def describe(self, session: Session) -> str:
        return f"{self.node}: power {self.action}"

    def run(self, session: Session) -> str:
        state: str = bmc_target(session.loaded, self.node).power(session.loaded, self.node, self.action)
        return state
