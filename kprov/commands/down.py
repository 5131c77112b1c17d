"""``kprov down``: reset → destroy, confirmed first (on a terminal, or with ``--yes``)."""

from __future__ import annotations

from kprov.commands.base import Command
from kprov.stages.destroy import Destroy
from kprov.stages.reset import Reset

DOWN = Command("down", lambda session: [Reset(), Destroy()],
               confirm=lambda session: f"Reset and destroy every node of site {session.loaded.name}?",
               refusal="destroy")
