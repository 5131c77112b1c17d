"""``kprov power``: a machine's power on, off, through a cycle, or its state, through its BMC."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.engine.stage import Session, Stage
from kprov.stages.power import Power


def stages(session: Session) -> list[Stage]:
    return [Power(str(session.options["node"]), str(session.options["action"]))]


POWER = Command("power", stages, locks=False)
