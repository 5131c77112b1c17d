"""``kprov verify``: the post-install checks on every node, always run; JUnit on request."""

from __future__ import annotations

from kprov import members as members_mod
from kprov.commands.base import Command
from kprov.engine.stage import Session
from kprov.errors import NotBuilt, UsageError
from kprov.stages.verify import Verify
from kprov.verify.suites import POST_INSTALL, select


def nodes_known(session: Session) -> None:
    """The site was brought up and bootstrapped: there is something to verify (else exit 8 at once, and no run is
    recorded; the checks would only find nodes that run nothing)."""
    try:
        select(POST_INSTALL, _checks(session))
    except ValueError as e:
        raise UsageError(str(e)) from None
    session.nodes = session.known_nodes()
    if not members_mod.load(session.workdir.members_file) and session.state.finished("bootstrap") is None:
        raise NotBuilt(f"site {session.loaded.name} was never bootstrapped: nothing runs on its nodes to verify "
                       "(`kprov bootstrap` or `kprov up` first)")


def _checks(session: Session) -> tuple[str, ...]:
    return tuple(session.options.get("checks") or ())


VERIFY = Command("verify", lambda session: [Verify(always=True, junit=session.options.get("junit"),
                                                   only=_checks(session))], locks=False,
                 requires=nodes_known)
