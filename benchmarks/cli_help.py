"""`kprov --help` and `kprov up --help` as a user starts them, as a ratio to a bare Python start-up.

Target: each <= 2x `python -c pass` (the same interpreter, site-packages and .pth files loaded: what any
Python CLI pays before its first import). Help needs click, so this is the cost of the CLI's imports, which
kprov keeps to click and its own light modules. Runs each command N times, interleaved so a change in the
machine's load weighs on all alike, and prints the medians and the ratios. kprov runs with bytecode caching on
(PYTHONDONTWRITEBYTECODE unset), as from a normal install whose .pyc files pip compiled.
Run: python benchmarks/cli_help.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

TARGET = 2.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(repeat: int = 21) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "kprov --help": [sys.executable, "-m", "kprov", "--help"],
        "kprov up --help": [sys.executable, "-m", "kprov", "up", "--help"],
    }
    for argv in commands.values():  # warm the page cache and write any missing .pyc
        timed(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            times[name].append(timed(argv, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["python -c pass"]
    print(f"python -c pass:        {base * 1000:7.1f} ms (median of {repeat})")
    for name in ("kprov --help", "kprov up --help"):
        ratio = medians[name] / base
        verdict = "met" if ratio <= TARGET else "missed"
        print(f"{name + ':':22s} {medians[name] * 1000:7.1f} ms  ratio {ratio:5.2f}  (target <= {TARGET:g}: {verdict})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
