"""No-op `kprov up` on a converged site, as a ratio to a bare `terraform plan` on the same workdir.

Target: ratio <= 1.3. Builds 3 real lab nodes (root; see tests/lab), converges the site once with the Kubespray
stand-in, then times each command several times and prints the medians and the ratio. kprov runs with bytecode
caching on (PYTHONDONTWRITEBYTECODE unset), as from a normal install whose .pyc files pip compiled.

The stand-in is copied into a git repository of its own, as a cloned Kubespray is: inside kprov's checkout its
identity would include kprov's HEAD, which anyone committing there changes mid-run. `up` and `plan` runs are
interleaved, so a change in the machine's load weighs on both alike. The timed runs are the steady state: the
site converged and its files settled (a digest is cached only for files unchanged for fingerprint.RACY_NS).
Also printed, not compared: the same no-op with that cache emptied before each run (what it costs when a file
under an input was touched but not changed), and through the installed `kprov` script rather than
`python -m kprov` (that script imports kprov.cli, hence click, before anything else).
Run: python benchmarks/noop_up.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kprov.engine.fastpath import CACHE  # noqa: E402
from kprov.engine.fingerprint import RACY_NS  # noqa: E402
from tests.conftest import STANDIN, site_data  # noqa: E402
from tests.lab.nodes import Lab  # noqa: E402


def timed(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
          before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   check=True, capture_output=True)


def kubespray_clone(dest: Path) -> Path:
    shutil.copytree(STANDIN, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / ".gitignore").write_text("__pycache__/\n*.pyc\n")
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "stand-in")
    return dest


def main(repeat: int = 15) -> None:
    with tempfile.TemporaryDirectory() as tmp, Lab(Path(tmp) / "lab") as lab:
        nodes = lab.start(["cp1", "w1", "w2"])
        roles = {"cp1": ["control_plane", "etcd"], "w1": ["worker"], "w2": ["worker"]}
        data = site_data(nodes=[(n.name, n.ip, roles[n.name]) for n in nodes])
        data["kubernetes"]["kubespray"] = {"path": str(kubespray_clone(Path(tmp) / "kubespray"))}
        data["ssh"] = {"user": "root", "private_key": str(lab.ssh_private_key)}
        site = Path(tmp) / "site.yaml"
        site.write_text(yaml.safe_dump(data))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["KPROV_CACHE_DIR"] = str(Path(tmp) / "cache")
        kprov = [sys.executable, "-m", "kprov", "up", str(site)]
        subprocess.run(kprov, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        time.sleep(RACY_NS / 1e9)  # let what the converging run wrote settle, then one no-op fills the cache
        subprocess.run(kprov, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        workdir = Path(tmp) / ".kprov" / "lab"
        tf_dir = workdir / "terraform"
        ups, plans = [], []
        for _ in range(repeat):  # interleaved, so a change in the machine's load weighs on both alike
            ups.append(timed(kprov, env=env))
            plans.append(timed(["terraform", "plan", "-input=false", "-lock-timeout=60s"], cwd=tf_dir))
        up, plan = statistics.median(ups), statistics.median(plans)
        cold = statistics.median(timed(kprov, env=env, before=lambda: (workdir / CACHE).unlink(missing_ok=True))
                                 for _ in range(repeat))
        script = Path(sys.executable).parent / "kprov"
        print(f"no-op kprov up:        {up * 1000:7.0f} ms (median of {repeat})")
        print(f"bare terraform plan:   {plan * 1000:7.0f} ms (median of {repeat})")
        print(f"ratio up/plan:         {up / plan:7.2f}  (target <= 1.3)")
        print(f"  the same no-op with its digest cache emptied (asset folders read): {cold * 1000:.0f} ms")
        if script.is_file():
            via_script = statistics.median(timed([str(script), "up", str(site)], env=env) for _ in range(repeat))
            print(f"  the same no-op through the installed `kprov` script: {via_script * 1000:.0f} ms"
                  f" (ratio {via_script / plan:.2f})")


if __name__ == "__main__":
    main()
