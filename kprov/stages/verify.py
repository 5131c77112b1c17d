"""``verify``: testinfra checks on every node after Kubespray; a host-by-check table, events and JUnit.

In ``up`` it is fingerprinted like every stage; ``kprov verify`` runs it always (``Verify(always=True)``).
"""

from __future__ import annotations

from pathlib import Path

from kprov import verify as verify_mod
from kprov.engine.fingerprint import fingerprint
from kprov.engine.stage import Session, Stage
from kprov.errors import VerifyFailed
from kprov.stages.bootstrap import bootstrap_fingerprint
from kprov.stages.checks import require, run_suite
from kprov.stages.inventory import node_data


class Verify(Stage):
    name = "verify"

    def __init__(self, *, always: bool = False, junit: Path | None = None, only: tuple[str, ...] = ()) -> None:
        self.always = always
        self.junit = junit
        self.only = only

    def describe(self, session: Session) -> str:
        return f"testinfra checks on {len(session.nodes)} nodes" if self.always else "testinfra checks on every node"

    def fingerprint(self, session: Session) -> str | None:
        if self.always:
            return None
        return fingerprint(bootstrap_fingerprint(session), node_data(session), "post-install-1")

    def run(self, session: Session) -> verify_mod.VerifyResult:
        junit = self.junit if self.always else session.run_dir / "junit-post-install.xml"
        result = run_suite(session, suite="post-install", stage=self.name, junit=junit, only=self.only)
        if self.always and not result.ok:
            raise VerifyFailed(f"verification failed: {result.failure_detail}")
        return require(result, VerifyFailed, "post-install")

    def done_message(self, result: verify_mod.VerifyResult) -> str:
        return f"{len(result.results)} checks passed" if self.always else ""
