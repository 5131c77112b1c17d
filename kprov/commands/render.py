"""``kprov render``: write the workdir (Terraform root, tfvars, inventory) to read before anything runs."""

from __future__ import annotations

from kprov.commands.base import Command, renderable
from kprov.stages.render import Render

RENDER = Command("render", lambda session: [Render()], locks=False, records=False, requires=renderable)
