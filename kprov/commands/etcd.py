"""``kprov etcd snapshot site.yaml``: an etcd snapshot on demand (:mod:`kprov.etcd`), under the site lock."""

from __future__ import annotations

from typing import Any

from kprov import etcd
from kprov import members as members_mod
from kprov.commands.base import Command
from kprov.engine.runner import StageOutcome
from kprov.engine.stage import Session, Stage
from kprov.errors import NotBuilt


class EtcdSnapshot(Stage):
    name = "etcd"

    def describe(self, session: Session) -> str:
        return "etcd snapshot through the first etcd member"

    def run(self, session: Session) -> etcd.EtcdSnapshot:
        version = members_mod.read(session.workdir.members_file).version
        return etcd.take(session, "on demand (kprov etcd snapshot)", version or session.site.kubernetes.version)

    def done_message(self, result: etcd.EtcdSnapshot) -> str:
        return f"{result.file} (sha256 {result.sha256[:12]}…)"


def bootstrapped(session: Session) -> None:
    if not members_mod.load(session.workdir.members_file):
        raise NotBuilt(f"site {session.loaded.name} was never bootstrapped: `kprov up` first")
    session.nodes = session.known_nodes()


def finish(session: Session, outcomes: list[StageOutcome]) -> Any:
    snap: etcd.EtcdSnapshot = outcomes[-1].result
    path = etcd.folder(session) / snap.file
    session.events.emit("etcd", "result", f"etcd snapshot: {path}", file=str(path), sha256=snap.sha256)
    return snap


SNAPSHOT = Command("etcd", lambda session: [EtcdSnapshot()], requires=bootstrapped)
