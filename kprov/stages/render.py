"""``render``: the workdir's Terraform root module, tfvars and an inventory from the site's own node list."""

from __future__ import annotations

from pathlib import Path

from kprov import render
from kprov.engine.stage import Session, Stage


class Render(Stage):
    name = "render"

    def describe(self, session: Session) -> str:
        return f"Terraform root module and Kubespray inventory into {session.workdir.root}"

    def run(self, session: Session) -> Path:
        render.render(session.loaded, session.workdir)
        return session.workdir.root
