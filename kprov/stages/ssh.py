"""``ssh``: wait, in parallel, until every node answers SSH (host keys recorded on first contact)."""

from __future__ import annotations

from kprov.engine.fingerprint import fingerprint
from kprov.engine.stage import Session, Stage
from kprov.stages.inventory import node_data
from kprov.targets import target_for
from kprov.tools import ssh
from kprov.tools.ssh import Reach


def ssh_fingerprint(session: Session) -> str:
    return fingerprint(node_data(session), session.site.ssh.model_dump(mode="json"))


def ssh_timeout(session: Session) -> float:
    """How long the stage waits: ``ssh.connect_timeout``, or longer when a target installs an OS first."""
    used = {str(pool.provider) for pool in session.loaded.pools.values()}  # type: ignore[attr-defined]
    boot = [target_for(p.type).boot_timeout(p) for n, p in session.site.providers.items() if n in used]
    return float(max([session.site.ssh.connect_timeout, *boot]))


class Ssh(Stage):
    name = "ssh"

    def describe(self, session: Session) -> str:
        return f"waiting for SSH on {len(session.nodes)} nodes"

    def fingerprint(self, session: Session) -> str:
        return ssh_fingerprint(session)

    def run(self, session: Session) -> list[Reach]:
        config = session.ssh_config(session.nodes)
        return ssh.wait_for(config, session.nodes, ssh_timeout(session), session.events, session.workdir.known_hosts)
