"""Render with the real Terraform: the rendered root plans and applies, and hostile strings stay literal all the
way to ``terraform output -json`` and ``ansible-inventory``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kprov.engine.workdir import Workdir
from kprov.events import Events
from kprov.render import render, root_module, tfvars
from kprov.site.load import load_site
from kprov.targets.contract import validate_output
from kprov.tools.terraform import Terraform, TerraformError
from tests.conftest import site_data

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")

HOSTILE = [
    'web"\n}\nresource "terraform_data" "evil" {\ninput = "x',
    "${path.cwd} and $${x}",
    "%{ for x in [1] }loop%{ endfor }",
    "{{ 6*7 }} {% raw %} {{ lookup('pipe','id') }}",
    "quote \" back\\slash \t tab \r\n crlf \b bell \u0001 ctl \u2028 ls",
    # YAML 1.1 look-alikes: must stay strings (ansible-core 2.19 turns !unsafe 'yes' into True)
    "yes", "off", "1", "1.35", "null", "~", "2024-01-01",
]


def _apply(site: Path) -> tuple[Workdir, dict[str, Any]]:
    loaded = load_site(site)
    w = Workdir.for_site(site, loaded.name)
    render(loaded, w)
    tf = Terraform(w.terraform, events=Events())
    tf.init()
    tf.apply()
    return w, tf.output()


def _inventory_vars(w: Workdir) -> dict[str, Any]:
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i",
                          str(w.inventory / "hosts.yaml"), "--list"], capture_output=True, text=True, check=True,
                         env={**os.environ, "ANSIBLE_HOME": str(w.root / "ansible-home")})
    hv = json.loads(out.stdout)["_meta"]["hostvars"]["cp1"]
    return {k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v for k, v in hv.items()}


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_stay_literal_in_terraform_and_ansible(write_site, text: str) -> None:  # type: ignore[no-untyped-def]
    data = site_data(metadata={"name": "lab", "description": text})
    data["kubernetes"]["vars"] = {"kprov_probe": text}
    w, out = _apply(write_site(data))
    assert out["site"]["description"] == text
    assert set(out["nodes"]) == {"cp1", "w1", "w2"}
    main_tf = (w.terraform / "main.tf").read_text()
    assert "evil" not in main_tf and "description" not in json.dumps(main_tf.split("variable")[0])
    hv = _inventory_vars(w)
    assert hv["kprov_site_description"] == text
    assert hv["kprov_probe"] == text


def test_rendered_root_is_fmt_clean_and_outputs_the_node_contract(write_site) -> None:  # type: ignore[no-untyped-def]
    w, out = _apply(write_site())
    fmt = subprocess.run(["terraform", "fmt", "-check", "-recursive", str(w.terraform)], capture_output=True,
                         text=True, check=False)
    assert fmt.returncode == 0, fmt.stdout
    validate_output(out["nodes"])  # the shape kprov.targets.contract defines
    w1 = out["nodes"]["w1"]
    assert len(w1.pop("instance_id")) == 36  # terraform_data's id: a UUID, new when the node is made again
    assert w1 == {"name": "w1", "pool": "workers", "roles": ["worker"], "ip": "192.168.77.11",
                  "access_ip": "192.168.77.11", "ssh_user": "root", "labels": {}}
    assert (w.terraform / "kprov.auto.tfvars.json").stat().st_mode & 0o777 == 0o600


def test_removing_a_machine_plans_one_destroy(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    _apply(site)
    data = site_data(nodes=[("cp1", "192.168.77.10", ["control_plane", "etcd"]), ("w1", "192.168.77.11", ["worker"])])
    site.write_text(json.dumps(data))
    loaded = load_site(site)
    w = Workdir.for_site(site, loaded.name)
    render(loaded, w)
    plan = Terraform(w.terraform).plan()
    assert plan.changes and (plan.summary.add, plan.summary.remove) == (0, 1)
    assert [(c.address, c.action) for c in plan.planned] == [
        ('module.lab["workers"].terraform_data.node["w2"]', "delete")]


def test_a_broken_module_raises_terraform_s_diagnostic_with_file_and_line(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    loaded = load_site(site)
    w = Workdir.for_site(site, loaded.name)
    render(loaded, w)
    main = w.terraform / "modules" / "static" / "main.tf"
    main.write_text(main.read_text().replace("input = {", "inptu = {"))
    tf = Terraform(w.terraform)
    tf.init()
    with pytest.raises(TerraformError) as info:
        tf.plan()
    diag = info.value.diagnostics[0]
    assert diag.summary == "Unsupported argument"
    assert diag.filename == "modules/static/main.tf" and diag.line is not None
    assert info.value.exit_code == 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_rendered_hcl_never_depends_on_user_strings(write_site, text: str) -> None:  # type: ignore[no-untyped-def]
    base = load_site(write_site(site_data(metadata={"name": "lab", "description": ""}), name="a.yaml"))
    fuzzed = load_site(write_site(site_data(metadata={"name": "lab", "description": text}), name="b.yaml"))
    assert root_module(base) == root_module(fuzzed)
    assert tfvars(fuzzed)["site"]["description"] == text
