"""The README installs kprov with `pip install .`: the wheel must carry the templates and Terraform modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_carries_templates_and_modules(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build", ".kprov",
                                                             "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("kprov-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kprov/assets/templates/terraform/root/main.tf.j2" in names
    for target in ("static", "vsphere", "libvirt", "proxmox", "openstack"):
        for f in ("main.tf", "variables.tf", "outputs.tf", "contract.tf"):
            assert f"kprov/assets/terraform/modules/{target}/{f}" in names
    contract = zipfile.ZipFile(wheel).read("kprov/assets/terraform/modules/vsphere/contract.tf").decode()
    assert 'variable "nodes"' in contract  # the link's content, not a dangling link
    assert "kprov/assets/examples/vsphere.yaml" in names
    assert not any(n.startswith("tests/") for n in names)
    assert "kprov/targets/baremetal/target.py" in names and "kprov/commands/up.py" in names
    assert "kprov/assets/templates/terraform/baremetal/boot/boot.ipxe.j2" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    registered = text.split("[kprov.targets]")[1].split("[")[0]
    assert {line.split(" = ")[0] for line in registered.strip().splitlines()} == {
        "static", "vsphere", "libvirt", "proxmox", "openstack", "baremetal", "lxd"}
