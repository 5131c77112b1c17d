"""``kubeconfig``: Kubespray's ``artifacts/admin.conf`` becomes the site's ``kubeconfig`` (0600)."""

from __future__ import annotations

from pathlib import Path

from kprov.engine.fingerprint import fingerprint
from kprov.engine.stage import Session, Stage
from kprov.engine.workdir import Workdir, write_atomic
from kprov.errors import BootstrapError
from kprov.stages.bootstrap import bootstrap_fingerprint


def fetch_kubeconfig(workdir: Workdir) -> Path:
    src = workdir.inventory / "artifacts" / "admin.conf"
    if not src.is_file():
        raise BootstrapError(f"Kubespray wrote no {src} (kubeconfig_localhost must stay true)")
    src.chmod(0o600)
    write_atomic(workdir.kubeconfig, src.read_bytes(), mode=0o600)
    return workdir.kubeconfig


class Kubeconfig(Stage):
    name = "kubeconfig"

    def describe(self, session: Session) -> str:
        return "the cluster's admin kubeconfig into the workdir"

    def fingerprint(self, session: Session) -> str:
        return fingerprint(bootstrap_fingerprint(session), "kubeconfig-1")

    def outputs(self, session: Session) -> list[Path]:
        return [session.workdir.kubeconfig]

    def run(self, session: Session) -> Path:
        return fetch_kubeconfig(session.workdir)

    def done_message(self, result: Path) -> str:
        return str(result)
