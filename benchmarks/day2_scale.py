"""Day 2: one more worker on a running 10-node lab site (cp1 + 8 workers, then w9).

Two figures, each with its goal:
* the hosts the stand-in's ``scale.yml`` play ran on, over all hosts of the site (goal: only the new node;
  ``playbooks/facts.yml`` runs everywhere first, as Kubespray requires, and is printed apart);
* the wall time of that ``kprov up`` (Terraform, SSH, preflight, facts, scale, verify) over a ``kprov up`` that
  bootstraps the new node alone, as a one-node cluster, from nothing (goal <= 1.5).

Builds real lab nodes (root; see tests/lab) and runs the Kubespray stand-in; takes a few minutes.
Run: python benchmarks/day2_scale.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.noop_up import kubespray_clone  # noqa: E402
from tests.conftest import site_data  # noqa: E402
from tests.lab.nodes import Lab  # noqa: E402

WORKERS = [f"w{i}" for i in range(1, 10)]


def up(site: Path, env: dict[str, str]) -> tuple[float, list[dict[str, Any]]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kprov", "--output", "json", "up", str(site)], env=env,
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"kprov up failed: {proc.stderr[-2000:]}")
    return took, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def hosts_of(events: list[dict[str, Any]], playbook: str) -> set[str]:
    return {e["host"] for e in events
            if e["event"] == "progress" and e.get("host") and e["data"].get("playbook") == playbook}


def write(path: Path, lab: Lab, kubespray: Path, nodes: list[tuple[str, list[str]]]) -> Path:
    ips = {n.name: n.ip for n in lab.nodes()}
    data = site_data(nodes=[(name, ips[name], roles) for name, roles in nodes])
    data["kubernetes"]["kubespray"] = {"path": str(kubespray)}
    data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, Lab(Path(tmp) / "lab") as lab:
        lab.start(["cp1", *WORKERS])
        kubespray = kubespray_clone(Path(tmp) / "kubespray")
        env = {**os.environ, "KPROV_CACHE_DIR": str(Path(tmp) / "cache")}
        cp = [("cp1", ["control_plane", "etcd"])]
        site = write(Path(tmp) / "site" / "site.yaml", lab, kubespray, cp + [(w, ["worker"]) for w in WORKERS[:-1]])
        up(site, env)
        write(site, lab, kubespray, cp + [(w, ["worker"]) for w in WORKERS])
        scale_time, events = up(site, env)
        scaled, facts = hosts_of(events, "scale.yml"), hosts_of(events, "playbooks/facts.yml")
        alone = write(Path(tmp) / "alone" / "site.yaml", lab, kubespray,
                      [(WORKERS[-1], ["control_plane", "etcd", "worker"])])
        subprocess.run([sys.executable, "-m", "kprov", "down", "--yes", str(site)], env=env, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL)
        alone_time, _ = up(alone, env)
        total = 1 + len(WORKERS)
        names = ", ".join(sorted(scaled))
        print(f"scale.yml ran on:      {len(scaled)}/{total} hosts ({names}; goal: 1, the new node)")
        print(f"facts.yml ran on:      {len(facts)}/{total} hosts (Kubespray needs every host's facts)")
        print(f"up +1 worker:          {scale_time:6.1f} s")
        print(f"up of that node alone: {alone_time:6.1f} s")
        print(f"ratio:                 {scale_time / alone_time:6.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
