"""``kprov verify``: the post-install checks on every node, always run; JUnit on request."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.engine.stage import Session
from kprov.stages.verify import Verify


def nodes_known(session: Session) -> None:
    """The site was brought up: there are nodes to verify (else a usage error, and no run is recorded)."""
    session.nodes = session.known_nodes()


VERIFY = Command("verify", lambda session: [Verify(always=True, junit=session.options.get("junit"))], locks=False,
                 requires=nodes_known)
