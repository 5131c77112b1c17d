"""Golden files for every example's rendered root module and tfvars, `terraform fmt -check`, and a python-hcl2
parse of everything kprov renders or ships (each module against the contract: test_contract.py). Refresh the
golden files with KPROV_UPDATE_GOLDEN=1 after a deliberate change, and read the diff. They end in ``.golden`` (as
Go's testdata convention has it) so that no tool takes the expected output for live Terraform or JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kprov.engine.workdir import Workdir
from kprov.render import render, root_module, tfvars
from kprov.site.load import load_site

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering golden\n"
OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)


def _site(example: Path, tmp_path: Path, **meta: str) -> Path:
    data = yaml.safe_load(example.read_text())
    data["ssh"]["public_key"] = "id.pub"
    data["metadata"].update(meta)
    (tmp_path / "id.pub").write_text(PUBKEY)
    site = tmp_path / example.name
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    return site


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_render_matches_golden_and_is_fmt_clean(example: Path, tmp_path: Path) -> None:
    loaded = load_site(_site(example, tmp_path))
    w = Workdir.for_site(loaded.source, loaded.name)
    render(loaded, w)
    got = {"main.tf": (w.terraform / "main.tf").read_text(),
           "kprov.auto.tfvars.json": (w.terraform / "kprov.auto.tfvars.json").read_text()}
    folder = GOLDEN / example.stem
    if os.environ.get("KPROV_UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in got.items():
            (folder / f"{name}.golden").write_text(text)
    for name, text in got.items():
        golden = folder / f"{name}.golden"
        assert text == golden.read_text(), f"{golden} differs from what kprov renders"
    fmt = subprocess.run(["terraform", "fmt", "-check", "-recursive", str(w.terraform)], capture_output=True,
                         text=True, check=False)
    assert fmt.returncode == 0, fmt.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "terraform" / "modules").rglob("*.tf")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_modules_parse_as_hcl(path: Path) -> None:
    assert hcl2.loads(path.read_text(), serialization_options=OPTIONS)


def test_rendered_roots_parse_with_one_module_and_provider_per_provider_block(tmp_path: Path) -> None:
    loaded = load_site(_site(ROOT / "examples" / "hybrid-vsphere-static.yaml", tmp_path))
    parsed = hcl2.loads(root_module(loaded), serialization_options=OPTIONS)
    modules = {name for block in parsed["module"] for name in block}
    assert modules == {"vc", "racks"}
    providers = [block["vsphere"] for block in parsed["provider"]]
    assert [p["alias"] for p in providers] == ["vc"]
    variables = {name for block in parsed["variable"] for name in block}
    assert {"vc_user", "vc_password"} <= variables


names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


# Free-text fields per target (the others are pattern-checked names): each is fuzzed with any text.
FREE_TEXT = {
    "static": ("dc", {}),
    "vsphere": ("vc", {"datacenter": "datacenter", "template": "template", "network": "networks"}),
    "libvirt": ("kvm", {}),
    "proxmox": ("pve", {}),
    "openstack": ("os", {"image": "image", "network": "network", "subnet": "subnet"}),  # flavor: pools override
}
_BASE_PARSE: dict[str, object] = {}


@pytest.mark.parametrize("target", sorted(FREE_TEXT))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=st.text(max_size=80), text=names)
def test_fuzzed_strings_never_change_the_parsed_structure(tmp_path: Path, target: str, description: str,
                                                          text: str) -> None:
    provider, fields = FREE_TEXT[target]
    base = load_site(_site(ROOT / "examples" / f"{target}.yaml", tmp_path))
    data = yaml.safe_load(base.source.read_text())
    data["metadata"]["description"] = description
    data["providers"][provider].update(dict.fromkeys(fields, text))
    fuzzed_site = tmp_path / "fuzzed.yaml"
    fuzzed_site.write_text(yaml.safe_dump(data, sort_keys=False))
    fuzzed = load_site(fuzzed_site)
    if target not in _BASE_PARSE:
        _BASE_PARSE[target] = hcl2.loads(root_module(base), serialization_options=OPTIONS)
    rendered = root_module(fuzzed)
    assert rendered == root_module(base)  # the HCL text does not change at all, so neither does its parse
    assert hcl2.loads(rendered, serialization_options=OPTIONS) == _BASE_PARSE[target]
    values = json.loads(json.dumps(tfvars(fuzzed)))
    assert values["site"]["description"] == description
    for instance in values["pools"].values():
        for pool in instance.values():
            for key, setting in fields.items():
                assert pool["settings"][setting] == ([text] if setting == "networks" else text), key


def test_libvirt_places_vms_round_robin_or_pinned(tmp_path: Path) -> None:
    values = tfvars(load_site(_site(ROOT / "examples" / "libvirt.yaml", tmp_path)))
    placed = {host: sorted(n for pool in pools.values() for n in pool["nodes"])
              for host, pools in values["pools"].items()}
    assert placed == {"kvm_hv1": ["control-plane-1", "control-plane-3"],
                      "kvm_hv2": ["control-plane-2", "workers-1", "workers-2"]}
    assert values["provider_settings"] == {"kvm_hv1": {"uri": "qemu+ssh://kprov@hv1.lab.example/system"},
                                           "kvm_hv2": {"uri": "qemu+ssh://kprov@hv2.lab.example/system"}}


def test_openstack_password_auth_renders_fmt_clean(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "examples" / "openstack.yaml").read_text())
    vc = data["providers"]["os"]
    del vc["application_credential_id"], vc["application_credential_secret"]
    vc.update(user={"env": "OS_USERNAME"}, password={"env": "OS_PASSWORD"}, project="k8s")
    site = tmp_path / "pw.yaml"
    data["ssh"]["public_key"] = "id.pub"
    (tmp_path / "id.pub").write_text(PUBKEY)
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    loaded = load_site(site)
    w = Workdir.for_site(loaded.source, loaded.name)
    render(loaded, w)
    main = (w.terraform / "main.tf").read_text()
    parsed = hcl2.loads(main, serialization_options=OPTIONS)
    provider = parsed["provider"][0]["openstack"]
    assert provider["user_name"] == "${var.os_user}" and provider["password"] == "${var.os_password}"
    fmt = subprocess.run(["terraform", "fmt", "-check", str(w.terraform / "main.tf")], capture_output=True,
                         check=False)
    assert fmt.returncode == 0
