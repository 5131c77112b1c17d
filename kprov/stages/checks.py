"""Running a testinfra suite (:mod:`kprov.verify`) on the session's nodes, for the preflight and verify stages."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from kprov import members as members_mod
from kprov import verify as verify_mod
from kprov.engine.stage import Session
from kprov.errors import KprovError


def run_suite(session: Session, *, suite: str, stage: str, junit: Path | None,
              version: str | None = None, only: Collection[str] = ()) -> verify_mod.VerifyResult:
    """Run a check suite on every node, show its host-by-check table, and write JUnit if asked. ``version``: the
    Kubernetes version the nodes must run (default: the site's; an upgrade step checks its own)."""
    nodes = session.nodes
    members = [m.name for m in members_mod.load(session.workdir.members_file)]
    result = verify_mod.verify(nodes, session.ssh_config(nodes), session.events, suite=suite, stage=stage,
                               context={"kubernetes_version": version or session.site.kubernetes.version,
                                        "members": members}, only=only)
    session.events.emit(stage, "table", "", **result.table())
    if junit is not None:
        verify_mod.write_junit(result, junit)
    return result


def require(result: verify_mod.VerifyResult, error: type[KprovError], what: str) -> verify_mod.VerifyResult:
    if not result.ok:
        raise error(f"{what}: {len(result.failed)} check(s) failed: {result.failure_detail}")
    return result
