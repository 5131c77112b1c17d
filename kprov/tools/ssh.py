"""SSH to the nodes: one ``ssh_config`` per site, host keys recorded (accept-new) in the workdir's
``known_hosts``, connection multiplexing, and a parallel wait until every node answers.

Host keys are never ignored: a node whose key changed is an error that names the file and line to fix.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from kprov.engine.workdir import Workdir, private_dir, write_atomic
from kprov.errors import InfrastructureError
from kprov.events import Events
from kprov.nodes import Node

STAGE = "ssh"


def control_dir(workdir: Workdir) -> Path:
    """Sockets for ControlMaster live in a short private path: a socket path must fit in 108 bytes."""
    digest = hashlib.sha256(str(workdir.root).encode()).hexdigest()[:12]
    base = Path(f"/tmp/kprov-{os.getuid()}")  # noqa: S108 - checked below: ours, not a link, 0700
    private_dir(base)
    st = base.lstat()
    if base.is_symlink() or st.st_uid != os.getuid():
        raise InfrastructureError(f"{base} is not a private directory of this user: remove it")
    return private_dir(base / digest)


def write_config(workdir: Workdir, nodes: Sequence[Node], private_key: Path, port: int) -> Path:
    """The one ssh_config every tool uses (ssh, Ansible via ``-F``, testinfra)."""
    lines = [
        "# Written by kprov; every SSH connection to this site's nodes uses it.",
        "Host *",
        f"  IdentityFile {_quote(private_key)}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {_quote(workdir.known_hosts)}",
        "  StrictHostKeyChecking accept-new",
        "  BatchMode yes",
        "  ConnectTimeout 10",
        "  ServerAliveInterval 15",
        "  ControlMaster auto",
        f"  ControlPath {control_dir(workdir)}/%C",
        "  ControlPersist 60s",
        "  LogLevel ERROR",
        f"  Port {port}",
    ]
    for n in nodes:
        lines += [f"Host {n.name}", f"  HostName {n.access_ip}", f"  User {n.ssh_user}"]
    if not workdir.known_hosts.exists():
        write_atomic(workdir.known_hosts, "")
    write_atomic(workdir.ssh_config, "\n".join(lines) + "\n")
    return workdir.ssh_config


def forget_host_keys(known_hosts: Path, addresses: Iterable[str]) -> None:
    """Drop the recorded host keys of machines made again (a new VM, container or install has new keys), so
    the next contact records the new ones (accept-new) instead of refusing a changed key."""
    if not known_hosts.is_file():
        return
    for address in dict.fromkeys(addresses):
        subprocess.run(["ssh-keygen", "-R", address, "-f", str(known_hosts)], capture_output=True, check=False)
    Path(f"{known_hosts}.old").unlink(missing_ok=True)  # ssh-keygen's backup of the file


def _quote(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\n'):
        raise InfrastructureError(f"path cannot be used in ssh_config: {text!r}")
    return f'"{text}"'


def ssh_argv(config: Path, node: Node, *command: str) -> list[str]:
    return ["ssh", "-F", str(config), "-l", node.ssh_user, node.access_ip, "--", *command]


@dataclass(frozen=True)
class Reach:
    node: str
    ok: bool
    seconds: float
    error: str = ""


_FATAL = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed", "Permission denied")


def probe(config: Path, node: Node, stop: threading.Event | None = None) -> tuple[bool, str]:
    """One ``ssh NODE true``; killed at once when ``stop`` is set (the wait was interrupted)."""
    proc = subprocess.Popen(ssh_argv(config, node, "true"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                _, stderr = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                    proc.kill()
                    proc.communicate()
                    return False, "ssh timed out" if stop is None or not stop.is_set() else "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = stderr.strip().splitlines()
    return proc.returncode == 0, (err[-1] if err else f"ssh exit code {proc.returncode}")


def wait_for(config: Path, nodes: Sequence[Node], timeout: float, events: Events,
             known_hosts: Path | None = None, *, report_every: float = 10.0) -> list[Reach]:
    """Wait, in parallel, until every node accepts SSH, or raise naming each node that did not. Says up front how
    long it waits, and every ``report_every`` seconds which nodes are still missing; Ctrl-C or SIGTERM stops
    every probe at once."""
    stop = threading.Event()

    def one(node: Node) -> Reach:
        start = time.monotonic()
        error = ""
        while not stop.is_set():
            ok, error = probe(config, node, stop)
            took = time.monotonic() - start
            if ok:
                events.emit(STAGE, "progress", "reachable", host=node.name, seconds=round(took, 2))
                return Reach(node.name, True, took)
            if any(f in error for f in _FATAL):
                if "IDENTIFICATION HAS CHANGED" in error or "verification failed" in error:
                    error = (f"host key of {node.access_ip} changed; if the machine was reinstalled, "
                             f"remove its line from {known_hosts or 'the known_hosts file'}")
                return Reach(node.name, False, took, error)
            if took >= timeout:
                return Reach(node.name, False, took, error)
            stop.wait(min(2.0, max(0.2, timeout - took)))
        return Reach(node.name, False, time.monotonic() - start, "stopped")

    events.emit(STAGE, "info", f"waiting up to {timeout:.0f} s for SSH on "
                f"{len(nodes)} node(s)", timeout=timeout)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(nodes)))) as pool:
        futures = {pool.submit(one, n): n.name for n in nodes}
        try:
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=report_every)
                if pending:
                    missing = sorted(futures[f] for f in pending)
                    events.emit(STAGE, "progress", f"still waiting for {', '.join(missing)} "
                                f"({time.monotonic() - start:.0f} of {timeout:.0f} s)", missing=missing)
        except BaseException:
            stop.set()  # the threads kill their ssh and end; the pool's exit waits for them
            raise
        results = [f.result() for f in futures]
    failed = [r for r in results if not r.ok]
    for r in failed:
        events.emit(STAGE, "error", f"unreachable: {r.error}", host=r.node)
    if failed:
        detail = "; ".join(f"{r.node}: {r.error}" for r in failed)
        raise InfrastructureError(f"SSH stage: {len(failed)} node(s) not reachable: {detail}")
    return results
