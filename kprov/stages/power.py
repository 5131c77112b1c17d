"""``power``: one machine's power through its BMC, by the target that made it (``kprov power``)."""

from __future__ import annotations

from kprov.engine.stage import Session, Stage
from kprov.errors import UsageError
from kprov.targets import target_for


class Power(Stage):
    name = "power"

    def __init__(self, node: str, action: str) -> None:
        self.node = node
        self.action = action

    def describe(self, session: Session) -> str:
        return f"{self.node}: power {self.action}"

    def run(self, session: Session) -> str:
        loaded = session.loaded
        known: list[str] = []
        for pool in loaded.pools.values():
            provider = loaded.site.providers[str(pool.provider)]  # type: ignore[attr-defined]
            target = target_for(provider.type)
            names = target.bmc_nodes(pool)
            if self.node in names:
                return target.power(loaded, self.node, self.action)
            known += names
        raise UsageError(f"{self.node} is not a bare-metal node of site {loaded.name}"
                         + (f" (those are: {', '.join(known)})" if known else " (it has none)"))

    def done_message(self, result: str) -> str:
        return f"{self.node}: {result}"
