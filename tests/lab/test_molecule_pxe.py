"""molecule's pxe-server scenario (syntax, converge, idempotence, testinfra verify) against a lab node."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.lab.nodes import Lab

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def test_pxe_server_scenario(tmp_path: Path) -> None:
    with Lab(tmp_path / "lab", bridge="kprovmol0", subnet="192.168.78.0/24") as lab:
        (node,) = lab.start(["pxe"])
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"children": {"pxe_server": {"hosts": {"pxe": {
            "ansible_host": node.ip, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(lab.ssh_private_key),
            # tests only: the node is new in every run
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                       "-o LogLevel=ERROR",
            "kprov_pxe_dhcp_range": ["192.168.78.100", "192.168.78.120"],
            "kprov_pxe_dhcp_router": lab.gateway,
        }}}}}}))
        (tmp_path / "home").mkdir()
        control = tempfile.mkdtemp(prefix="kmol-")  # ssh control sockets need a short path (108 bytes)
        env = {**os.environ, "ANSIBLE_SSH_CONTROL_PATH_DIR": control, "HOME": str(tmp_path / "home"),
               "KPROV_MOLECULE_INVENTORY": str(inventory),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule"), "NO_COLOR": "1"}
        proc = subprocess.run(["molecule", "test", "-s", "pxe-server"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-6000:]
        shutil.rmtree(control, ignore_errors=True)
        for step in ("syntax", "converge", "idempotence", "verify"):
            assert re.search(rf"pxe-server\W+{step}\W+Executed: Successful", output), output[-3000:]
