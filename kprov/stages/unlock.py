"""``unlock``: break the Terraform state lock a dead process left, the one named before the user was asked."""

from __future__ import annotations

from kprov.engine.stage import Session, Stage
from kprov.errors import LockHeld, UsageError
from kprov.tools.terraform import lock_holder

_found: dict[int, dict[str, str]] = {}
"""The lock found for a session (by ``id``), from the question asked until the stage breaks that lock."""


def held_lock(session: Session) -> dict[str, str]:
    """The Terraform lock's info, asked of the backend; refused at once while a live kprov holds the site (the
    Terraform lock is then its own, and its Terraform directory is not to be touched)."""
    if id(session) not in _found:
        from kprov import render  # noqa: PLC0415
        from kprov.engine.lock import SiteLock  # noqa: PLC0415

        wd = session.workdir
        live = SiteLock(wd.lock_file, "unlock").held_by() if wd.lock_file.exists() else None
        if live is not None:
            raise LockHeld(f"kprov pid {live.get('pid', '?')} on {live.get('host', '?')} ({live.get('command', '?')}, "
                           f"since {live.get('started', '?')}) holds site {session.loaded.name}: the Terraform lock is "
                           "its own; let it finish or stop it, never break it")
        if not (wd.terraform / ".terraform").is_dir():
            render.render_terraform(session.loaded, wd)
            info = session.terraform_initialized().lock_held()
        else:
            info = session.terraform().lock_held()
        if info is None:
            raise UsageError(f"the Terraform state of site {session.loaded.name} is not locked: nothing to unlock")
        _found[id(session)] = info
    return _found[id(session)]


class Unlock(Stage):
    name = "unlock"

    def describe(self, session: Session) -> str:
        return "terraform force-unlock"

    def run(self, session: Session) -> dict[str, str]:
        info = held_lock(session)
        session.terraform().force_unlock(info["ID"])
        _found.pop(id(session), None)
        session.events.emit(self.name, "info", f"broke the lock of {lock_holder(info)}", lock=info)
        return info

    def done_message(self, result: dict[str, str]) -> str:
        return f"the Terraform state is free (the lock of {result.get('Who', 'an unknown holder')} is gone)"
