"""``kprov unlock``: break a Terraform state lock a dead process left (a CI job killed with SIGKILL, a lost
runner), after naming its holder and asking. kprov's own site lock needs no breaking: it is an ``flock`` the
kernel releases when its holder dies, and a live holder is named and refused (exit 7) before anything here."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.engine.stage import Session
from kprov.stages.unlock import Unlock, held_lock
from kprov.tools.terraform import lock_holder


def question(session: Session) -> str:
    return (f"The Terraform state of site {session.loaded.name} is locked ({lock_holder(held_lock(session))}). "
            "Break the lock? Only if that process is gone: two writers corrupt the state")


UNLOCK = Command("unlock", lambda session: [Unlock()], confirm=question, refusal="break the lock",
                 requires=held_lock)
