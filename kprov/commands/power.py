"""``kprov power``: a machine's power on, off, through a cycle, or its state, through its BMC."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.engine.runner import StageOutcome
from kprov.engine.stage import Session
from kprov.stages.power import Power, bmc_target

POWER = Command("power", lambda s: [Power(str(s.options["node"]), str(s.options["action"]))], locks=False,
                requires=lambda s: bmc_target(s.loaded, str(s.options["node"])))


def finish(session: Session, outcomes: list[StageOutcome]) -> str:
    node, action, state = session.options["node"], session.options["action"], str(outcomes[-1].result)
    session.events.emit("power", "result", f"{node}: {state}", host=node, action=action, power=state)
    return state
