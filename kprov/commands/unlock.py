"""``kprov unlock``: break a Terraform state lock a dead process left (a CI job killed with SIGKILL, a lost
runner), after naming its holder and asking. kprov's own site lock needs no breaking: it is an ``flock`` the
kernel releases when its holder dies, and a live holder is named and refused (exit 7) before anything here."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.engine.stage import Session, Stage
from kprov.errors import UsageError

_found: dict[int, dict[str, str]] = {}


def _holder(session: Session) -> dict[str, str]:
    """The Terraform lock's holder, asked of the backend; refused at once while a live kprov holds the site (the
    Terraform lock is then its own, and its Terraform directory is not to be touched)."""
    if id(session) not in _found:
        from kprov import render  # noqa: PLC0415
        from kprov.engine.lock import SiteLock  # noqa: PLC0415
        from kprov.errors import LockHeld  # noqa: PLC0415

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


def _named(info: dict[str, str]) -> str:
    return ", ".join(f"{k.lower()} {info[k]}" for k in ("Who", "Operation", "Created", "ID") if k in info)


def question(session: Session) -> str:
    return (f"The Terraform state of site {session.loaded.name} is locked ({_named(_holder(session))}). Break the "
            "lock? Only if that process is gone: two writers corrupt the state")


class Unlock(Stage):
    name = "unlock"

    def describe(self, session: Session) -> str:
        return "terraform force-unlock"

    def run(self, session: Session) -> dict[str, str]:
        info = _holder(session)
        session.terraform().force_unlock(info["ID"])
        session.events.emit(self.name, "info", f"broke the lock of {_named(info)}", lock=info)
        return info

    def done_message(self, result: dict[str, str]) -> str:
        return f"the Terraform state is free (the lock of {result.get('Who', 'an unknown holder')} is gone)"


UNLOCK = Command("unlock", lambda session: [Unlock()], confirm=question, refusal="break the lock",
                 requires=_holder)
