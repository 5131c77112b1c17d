"""Render + validate time for 100- and 1,000-node sites.

Target: 1,000 nodes in < 1 s, growing linearly (the 1,000/100 time ratio should stay near 10, not 100).
Prints the figures and the ratios they are compared to. Run: python benchmarks/render_validate.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kprov.engine.workdir import Workdir
from kprov.render import render
from kprov.site.load import load_site


def site(n: int) -> dict[str, object]:
    machines = [{"name": f"w-{i:04d}", "ip": f"10.{20 + i // 250}.{i % 250}.{10}", "labels": {"rack": f"r{i % 40}"}}
                for i in range(n - 3)]
    return {
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": "bench"},
        "kubernetes": {"version": "1.35.4", "kubespray": {"version": "v2.31.0"}, "pods_cidr": "10.128.0.0/10",
                       "services_cidr": "10.96.0.0/16"},
        "ssh": {"private_key": "id"}, "network": {"cidr": "10.0.0.0/10"},
        "providers": {"dc": {"type": "static"}},
        "pools": {
            "cp": {"provider": "dc", "roles": ["control_plane", "etcd"],
                   "machines": [{"name": f"cp-{i}", "ip": f"10.1.0.{10 + i}"} for i in range(3)]},
            "workers": {"provider": "dc", "roles": ["worker"], "machines": machines},
        },
    }


def measure(n: int, repeat: int = 5) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.yaml"
        path.write_text(yaml.safe_dump(site(n), sort_keys=False))
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            loaded = load_site(path)
            render(loaded, Workdir.for_site(path, loaded.name))
            times.append(time.perf_counter() - start)
            assert len(loaded.nodes) == n
        return statistics.median(times)


def main() -> None:
    measure(10, repeat=1)  # warm imports and caches
    t100, t1000 = measure(100), measure(1000)
    print(f"render+validate 100 nodes:   {t100 * 1000:7.1f} ms")
    print(f"render+validate 1000 nodes:  {t1000 * 1000:7.1f} ms  (target < 1000 ms: ratio {t1000 / 1.0:.2f})")
    print(f"growth 1000/100:             {t1000 / t100:7.1f}x  (linear = 10x)")


if __name__ == "__main__":
    main()
