"""No-op `kprov up` on a converged site, as a ratio to a bare `terraform plan` on the same workdir.

Target: ratio <= 1.3. Builds 3 real lab nodes (root; see tests/lab), converges the site once with the Kubespray
stand-in, then times each command several times and prints the medians and the ratio. kprov runs with bytecode
caching on (PYTHONDONTWRITEBYTECODE unset), as from a normal install whose .pyc files pip compiled.
Run: python benchmarks/noop_up.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import site_data  # noqa: E402
from tests.lab.nodes import Lab  # noqa: E402


def timed(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(repeat: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp, Lab(Path(tmp) / "lab") as lab:
        nodes = lab.start(["cp1", "w1", "w2"])
        roles = {"cp1": ["control_plane", "etcd"], "w1": ["worker"], "w2": ["worker"]}
        data = site_data(nodes=[(n.name, n.ip, roles[n.name]) for n in nodes])
        data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
        site = Path(tmp) / "site.yaml"
        site.write_text(yaml.safe_dump(data))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["KPROV_CACHE_DIR"] = str(Path(tmp) / "cache")
        kprov = [sys.executable, "-m", "kprov", "up", str(site)]
        subprocess.run(kprov, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        tf_dir = Path(tmp) / ".kprov" / "lab" / "terraform"
        up = statistics.median(timed(kprov, env=env) for _ in range(repeat))
        plan = statistics.median(timed(["terraform", "plan", "-input=false", "-lock-timeout=60s"], cwd=tf_dir)
                                 for _ in range(repeat))
        print(f"no-op kprov up:        {up * 1000:7.0f} ms (median of {repeat})")
        print(f"bare terraform plan:   {plan * 1000:7.0f} ms (median of {repeat})")
        print(f"ratio up/plan:         {up / plan:7.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
