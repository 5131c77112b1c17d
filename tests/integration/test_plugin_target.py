"""A target that lives outside the kprov package, registered through the ``kprov.targets`` entry-point group as
``pip install`` would register it, runs through validate, schema, init, render and a real Terraform plan, with no
edit inside ``kprov/``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kprov.exitcodes import ExitCode
from kprov.paths import asset_dir

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "kprov_demo_target"

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A site-packages-like folder holding the plug-in and the dist-info that registers it."""
    root = tmp_path / "site-packages"
    package = root / "kprov_demo_target"
    shutil.copytree(PLUGIN, package, ignore=shutil.ignore_patterns("__pycache__"))
    module = package / "module"
    shutil.copytree(asset_dir("terraform") / "modules" / "static", module, symlinks=False)
    info = root / "kprov_demo_target-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kprov-demo-target\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kprov.targets]\ndemo = kprov_demo_target:Demo\n")
    return root


def _kprov(plugin_path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, check=False, timeout=300)


def test_an_outside_target_validates_renders_and_plans(plugin_path: Path, tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    init = _kprov(plugin_path, "init", "--target", "demo", cwd=site_dir)
    assert init.returncode == 0, init.stderr
    site = site_dir / "site.yaml"
    site.write_text(init.stdout)
    (site_dir / "id_demo").write_text("not a real key\n")

    validate = _kprov(plugin_path, "validate", str(site), cwd=site_dir)
    assert validate.returncode == 0, validate.stderr
    assert "valid (1 nodes)" in validate.stderr

    schema = json.loads(_kprov(plugin_path, "schema", cwd=site_dir).stdout)
    assert "DemoProvider" in schema["$defs"] and "DemoPool" in schema["$defs"]

    plan = _kprov(plugin_path, "-o", "json", "plan", str(site), cwd=site_dir)
    assert plan.returncode == 0, plan.stderr
    events = [json.loads(line) for line in plan.stdout.splitlines()]
    (table,) = [e for e in events if e["event"] == "table" and e["data"]["title"] == "terraform"]
    assert table["data"]["rows"] == [['module.shelf["all"].terraform_data.node["demo-1"]', "create", ""]]

    tf = site_dir / ".kprov" / "demo" / "terraform"
    assert (tf / "modules" / "demo" / "main.tf").is_file()
    tfvars = json.loads((tf / "kprov.auto.tfvars.json").read_text())
    node = tfvars["pools"]["shelf"]["all"]["nodes"]["demo-1"]
    assert node["ip"] == "10.99.0.11" and node["labels"] == {"example.com/rack": "r1"}

    render = _kprov(plugin_path, "render", str(site), cwd=site_dir)
    assert render.returncode == 0, render.stderr
    hosts = yaml.safe_load((site_dir / ".kprov" / "demo" / "inventory" / "hosts.yaml").read_text())
    assert hosts["all"]["hosts"]["demo-1"]["node_labels"] == {"kprov.io/pool": "all", "example.com/rack": "r1"}


def test_an_outside_targets_own_checks_and_schema_errors_point_at_the_file(plugin_path: Path,
                                                                            tmp_path: Path) -> None:
    example = yaml.safe_load((PLUGIN / "example.yaml").read_text())
    site = tmp_path / "site.yaml"
    data = json.loads(json.dumps(example))
    data["providers"]["shelf"]["rackk"] = "r2"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = _kprov(plugin_path, "validate", str(site), cwd=tmp_path)
    assert proc.returncode == ExitCode.INVALID_SITE
    assert proc.stderr.splitlines() == [f"{site}:18:5: providers.shelf.rackk: unknown key (did you mean 'rack'?)"]

    data = json.loads(json.dumps(example))
    data["ssh"]["usr"] = "kprov"
    data["pools"]["all"]["machines"][0]["name"] = "box-1"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = _kprov(plugin_path, "validate", str(site), cwd=tmp_path)
    assert proc.returncode == ExitCode.INVALID_SITE
    assert proc.stderr.splitlines() == [
        f"{site}:12:3: ssh.usr: unknown key (did you mean 'user'?)",
        f"{site}:27:13: pools.all.machines[0].name: demo machines are named demo-*",
    ]


def test_without_the_plugin_its_type_is_unknown(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text((PLUGIN / "example.yaml").read_text())
    proc = subprocess.run([sys.executable, "-m", "kprov", "validate", str(site)], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == ExitCode.INVALID_SITE
    assert ("'demo' is not a target kprov has (baremetal, libvirt, lxd, openstack, proxmox, static, vsphere)"
            in proc.stderr)
