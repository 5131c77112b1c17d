"""A node Terraform made again has new SSH host keys: kprov forgets the old ones (real ssh-keygen, real
known_hosts file), so the SSH stage records the new key instead of refusing a changed one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kprov.nodes import Node
from kprov.stages.infra import remade_addresses
from kprov.tools.ssh import forget_host_keys


def _node(name: str, ip: str, instance_id: str) -> Node:
    return Node(name=name, pool="p", roles=("worker",), ip=ip, access_ip=ip, ssh_user="root", instance_id=instance_id)


def test_only_nodes_made_again_lose_their_host_keys(tmp_path: Path) -> None:
    before = [_node("a", "10.0.0.1", "a/1"), _node("b", "10.0.0.2", "b/1"), _node("c", "10.0.0.3", "c/1")]
    after = [_node("a", "10.0.0.1", "a/1"), _node("b", "10.0.0.2", "b/2"), _node("d", "10.0.0.4", "d/1")]
    assert remade_addresses(before, after) == ["10.0.0.2", "10.0.0.2"]

    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    line = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text("".join(f"{ip} {line}\n" for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3")))
    known.chmod(0o600)
    forget_host_keys(known, remade_addresses(before, after))
    assert [ln.split()[0] for ln in known.read_text().splitlines()] == ["10.0.0.1", "10.0.0.3"]
    assert known.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{known}.old").exists()
    forget_host_keys(tmp_path / "none", ["10.0.0.1"])  # no file yet: nothing to forget, no error
