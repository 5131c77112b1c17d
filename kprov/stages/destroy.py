"""``destroy``: terraform destroy, then forget every stage and what the site's nodes left in the workdir."""

from __future__ import annotations

import shutil

from kprov import render
from kprov.engine.stage import Session, Stage
from kprov.tools.terraform import ApplyResult


class Destroy(Stage):
    name = "destroy"

    def describe(self, session: Session) -> str:
        return "terraform destroy"

    def run(self, session: Session) -> ApplyResult:
        render.render_terraform(session.loaded, session.workdir)
        tf = session.terraform_initialized()
        destroyed = tf.destroy()
        session.state.forget()
        wd = session.workdir
        for f in (wd.kubeconfig, wd.nodes_file, wd.snapshots_file, wd.members_file):  # snapshots go with the machines
            f.unlink(missing_ok=True)
        shutil.rmtree(wd.inventory / "artifacts", ignore_errors=True)
        return destroyed

    def done_message(self, result: ApplyResult) -> str:
        return str(result.summary)
