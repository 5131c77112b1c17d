"""Fixtures shared by the integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kprov.targets.baremetal.machine import tar_of

HELPER = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "pxe_server" / "files" / "kprov-pxe"
SSH_SHIM = """#!{python}
# Test transport only: runs the command kprov sends to the PXE server's kprov-pxe here, on a temporary root.
import os, shlex, subprocess, sys
words = [shlex.split(w)[0] for w in sys.argv[sys.argv.index("--") + 1:]]
assert words[0] == "/usr/local/sbin/kprov-pxe", words
with open(os.environ["KPROV_TEST_PXE_LOG"], "a") as log:
    log.write(" ".join(words[1:]) + "\\n")
sys.exit(subprocess.run([sys.executable, {helper!r}, "--config", os.environ["KPROV_TEST_PXE_CONFIG"], *words[1:]],
                        check=False).returncode)
"""
INSTALLER = b"#!ipxe\n# the installer\n"


@pytest.fixture
def pxe_server(tmp_path: Path) -> dict[str, str]:
    """kprov-pxe on a temporary root, reached through an ``ssh`` on PATH that runs it locally; bm-01 published."""
    root = tmp_path / "pxe-root"
    for d in ("tftp", "http/machines", "hosts"):
        (root / d).mkdir(parents=True)
    (tmp_path / "kprov-pxe.json").write_text(json.dumps({"root": str(root), "dhcp_mode": "full"}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(SSH_SHIM.format(python=sys.executable, helper=str(HELPER)))
    (bin_dir / "ssh").chmod(0o755)
    (tmp_path / "ssh_config").write_text("")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "KPROV_SSH_CONFIG": str(tmp_path / "ssh_config"),
           "KPROV_TEST_PXE_CONFIG": str(tmp_path / "kprov-pxe.json"), "KPROV_TEST_PXE_LOG": str(tmp_path / "pxe.log"),
           "KPROV_TEST_BOOT_IPXE": str(root / "tftp" / "52-54-00-aa-bb-01" / "boot.ipxe")}
    subprocess.run([sys.executable, str(HELPER), "--config", env["KPROV_TEST_PXE_CONFIG"], "publish", "bm-01",
                    "--mac", "52:54:00:aa:bb:01"], input=tar_of({"boot.ipxe": INSTALLER}), check=True,
                   capture_output=True)
    return env


def run_machine(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m kprov.targets.baremetal.machine ACTION``, as the bare-metal module's provisioners run it."""
    return subprocess.run([sys.executable, "-m", "kprov.targets.baremetal.machine", action], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
