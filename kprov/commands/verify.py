"""``kprov verify``: the post-install checks on every node, always run; JUnit on request."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.engine.stage import Session, Stage
from kprov.stages.verify import Verify


def stages(session: Session) -> list[Stage]:
    session.nodes = session.known_nodes()
    return [Verify(always=True, junit=session.options.get("junit"))]


VERIFY = Command("verify", stages, locks=False)
