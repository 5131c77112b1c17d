"""Every kprov module imports on its own in a fresh interpreter: an import circle that import order hides in
one process (see tests/unit/test_architecture.py for the static check) fails here."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.unit.test_architecture import FILES


def test_every_module_imports_on_its_own() -> None:
    """Each module in a fresh interpreter: an import circle hidden behind import order would fail here."""
    def load(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return name, subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True,
                                    check=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(load, sorted(n for n in FILES if not n.endswith("__main__"))))
    failed = {name: proc.stderr.strip().splitlines()[-1:] for name, proc in results if proc.returncode != 0}
    assert not failed
