"""Shared fixtures: site files written from data, so each test states only what it cares about."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
STANDIN = HERE / "kubespray_standin"


def site_data(nodes: list[tuple[str, str, list[str]]] | None = None, **over: Any) -> dict[str, Any]:
    """A valid static site. ``nodes`` is [(name, ip, roles)], grouped into one pool per role set."""
    nodes = nodes or [("cp1", "192.168.77.10", ["control_plane", "etcd"]),
                      ("w1", "192.168.77.11", ["worker"]), ("w2", "192.168.77.12", ["worker"])]
    pools: dict[str, Any] = {}
    for name, ip, roles in nodes:
        key = "cp" if "control_plane" in roles else "workers"
        pool = pools.setdefault(key, {"provider": "lab", "roles": roles, "machines": []})
        pool["machines"].append({"name": name, "ip": ip})
    data: dict[str, Any] = {
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": "lab"},
        "kubernetes": {"version": "1.35.4", "kubespray": {"path": str(STANDIN)}},
        "ssh": {"user": "root", "private_key": "id_lab"},
        "network": {"cidr": "192.168.77.0/24", "gateway": "192.168.77.1"},
        "providers": {"lab": {"type": "static"}},
        "pools": pools,
    }
    for key, value in over.items():
        data[key] = value
    return data



def write_metal_site(directory: Path, bmc: dict[str, Any]) -> Path:
    """A one-machine bare-metal site (``bm-01``, ``live`` OS) whose BMC is ``bmc``; for BMC and power tests."""
    (directory / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n")
    site = directory / "site.yaml"
    site.write_text(yaml.safe_dump({
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": "metal"},
        "kubernetes": {"version": "1.35.4", "kubespray": {"version": "v2.31.0"}},
        "ssh": {"user": "root", "private_key": "id", "public_key": "id.pub"},
        "network": {"cidr": "192.168.77.0/24"},
        "providers": {"rack": {"type": "baremetal", "pxe": {"host": "192.168.77.5"},
                               "os": {"kind": "live", "kernel": "media/vmlinuz", "initrd": "media/initrd.img"}}},
        "pools": {"metal": {"provider": "rack", "roles": ["control_plane", "etcd", "worker"], "machines": [
            {"name": "bm-01", "mac": "52:54:00:aa:bb:01", "ip": "192.168.77.50", "bmc": bmc}]}},
    }))
    return site

@pytest.fixture
def write_site(tmp_path: Path) -> Callable[..., Path]:
    def write(data: dict[str, Any] | None = None, name: str = "site.yaml", **over: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data if data is not None else site_data(**over), sort_keys=False))
        (tmp_path / "id_lab").write_text("not a real key\n")
        return path
    return write


@pytest.fixture(scope="session")
def kprov_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Kubespray cache (clones, venvs) for the whole test session, so the venv is built once."""
    path = tmp_path_factory.mktemp("kprov-cache")
    old = os.environ.get("KPROV_CACHE_DIR")
    os.environ["KPROV_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KPROV_CACHE_DIR", None)
    else:
        os.environ["KPROV_CACHE_DIR"] = old


@contextmanager
def lock_held_by_another_process(path: Path, command: str = "up") -> Iterator[int]:
    """Hold the site lock at ``path`` from a separate process (as a second kprov would); yields its pid.
    The holder is killed on exit without releasing, as a crashed kprov would leave it."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from pathlib import Path; from kprov.engine.lock import SiteLock;"
         f"SiteLock(Path({str(path)!r}), {command!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def invalid_events(root: Path, name: str = "events.jsonl") -> list[str]:
    """Every recorded event under ``root`` (in files called ``name``: the runs' ``events.jsonl``) that is not a
    valid event of the documented format, as ``file:line: why``."""
    from pydantic import ValidationError  # noqa: PLC0415

    from kprov.eventschema import EventDocument  # noqa: PLC0415

    bad = []
    for log in root.rglob(name):
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            try:
                EventDocument.model_validate_json(line)
            except ValidationError as exc:
                bad.append(f"{log}:{number}: {exc.errors()[0]['msg']}: {line[:200]}")
    return bad


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every event the suite's kprov runs recorded must fit docs/event.schema.json: a run of the suite whose
    events do not fails, listing them."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or session.testscollected == 0:
        return
    bad = invalid_events(factory.getbasetemp())
    if bad:
        sys.stderr.write(f"\n{len(bad)} recorded event(s) do not fit docs/event.schema.json:\n" + "\n".join(bad[:20])
                         + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
