"""``preflight``: testinfra checks on fresh nodes before Kubespray (what Kubespray would fail on mid-run)."""

from __future__ import annotations

from kprov import verify as verify_mod
from kprov.engine.fingerprint import fingerprint
from kprov.engine.stage import Session, Stage
from kprov.errors import InfrastructureError
from kprov.stages.checks import require, run_suite
from kprov.stages.ssh import ssh_fingerprint


class Preflight(Stage):
    name = "preflight"

    def __init__(self, *, always: bool = False) -> None:
        self.always = always

    def describe(self, session: Session) -> str:
        return "checking nodes before Kubespray"

    def fingerprint(self, session: Session) -> str | None:
        return None if self.always else fingerprint(ssh_fingerprint(session), "preflight-2")

    def run(self, session: Session) -> verify_mod.VerifyResult:
        result = run_suite(session, suite="preflight", stage=self.name,
                           junit=session.run_dir / "junit-preflight.xml")
        return require(result, InfrastructureError, "preflight")
