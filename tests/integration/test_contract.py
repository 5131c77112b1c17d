"""Every target module against the one contract (kprov.targets.contract): the committed contract.tf is what
Python generates, every registered target's module links it, declares pool/nodes/site/settings and outputs
`nodes`, reads only settings it declares and site fields the contract has, and the modules that run offline
really return nodes of the contract's output shape. If the contract test fails after a change to
kprov/targets/contract.py, regenerate the HCL with

    python -m kprov.targets.contract > terraform/modules/_contract/contract.tf
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from pydantic import BaseModel

from kprov.engine.workdir import Workdir
from kprov.nodes import Node
from kprov.render import render, root_module, tfvars
from kprov.site.load import load_site
from kprov.targets import registry
from kprov.targets.contract import (
    CONTRACT_TF,
    ModuleInput,
    Network,
    NodeInput,
    NodeOutput,
    Site,
    contract_tf,
    validate_output,
)
from tests.conftest import site_data, write_metal_site
from tests.integration.test_golden import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
TARGETS = registry()


def _blocks(module: Path, kind: str) -> dict[str, Any]:
    """Every ``kind`` block (variable, output) of a module's .tf files, by name."""
    out: dict[str, Any] = {}
    for tf in sorted(module.glob("*.tf")):
        for block in hcl2.loads(tf.read_text(), serialization_options=OPTIONS).get(kind, []):
            out.update(block)
    return out


def _attributes(object_type: str) -> set[str]:
    """The attribute names of an HCL ``object({...})`` type (or of the objects of a ``map(object({...}))``) as
    python-hcl2 prints it, one level deep."""
    body = object_type.removeprefix("${").removesuffix("}")
    while body.startswith("map("):
        body = body.removeprefix("map(").removesuffix(")")
    assert body.startswith("object({") and body.endswith("})"), object_type
    names, depth = set(), 0
    for m in re.finditer(r"[(){}]|(?:^|[{,]\s*)(\w+)\s*=", body[len("object({"):-2]):
        if m.group(0) in "({":
            depth += 1
        elif m.group(0) in ")}":
            depth -= 1
        elif depth == 0:
            names.add(m.group(1))
    return names


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every attribute path of a contract model: ``name``, ``network``, ``network.prefix_length``, ..."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out |= _paths(field.annotation, f"{prefix}{name}.")
    return out


def test_committed_contract_tf_is_the_generated_one() -> None:
    committed = (ROOT / CONTRACT_TF).read_text()
    assert committed == contract_tf(), (
        f"{CONTRACT_TF} is not what kprov.targets.contract generates: regenerate it with "
        f"`python -m kprov.targets.contract > {CONTRACT_TF}`")
    fmt = subprocess.run(["terraform", "fmt", "-check", "-"], input=committed, capture_output=True, text=True,
                         check=False)
    assert fmt.returncode == 0, fmt.stdout


def test_contract_variables_parse_to_the_models_fields() -> None:
    variables = hcl2.loads(contract_tf(), serialization_options=OPTIONS)["variable"]
    parsed = {name: body for block in variables for name, body in block.items()}
    assert list(parsed) == list(ModuleInput.model_fields) == ["pool", "nodes", "site"]
    assert parsed["pool"]["type"] == "string"
    assert _attributes(parsed["nodes"]["type"]) == set(NodeInput.model_fields)
    assert _attributes(parsed["site"]["type"]) == set(Site.model_fields)
    assert "gateway = optional(string)" in parsed["site"]["type"]  # nullable fields are optional()
    assert "mac = optional(string)" in parsed["nodes"]["type"]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_module_fulfils_the_contract(name: str) -> None:
    module = TARGETS[name].module_dir()
    link = module / "contract.tf"
    assert link.is_file() and link.read_text() == contract_tf(), f"{link} is not the generated contract"
    if module.is_relative_to(ROOT / "terraform" / "modules"):  # kprov's own: one file, linked
        assert link.is_symlink() and link.resolve() == (ROOT / CONTRACT_TF).resolve()
    variables = _blocks(module, "variable")
    assert {"pool", "nodes", "site", "settings"} <= set(variables)
    assert "nodes" in hcl2.loads((module / "outputs.tf").read_text(), serialization_options=OPTIONS)["output"][0]

    code = "\n".join(p.read_text() for p in sorted(module.glob("*.tf")) if p.name != "contract.tf")
    site_paths = _paths(Site)
    for path in re.findall(r"var\.site((?:\.\w+)+)", code):
        assert path[1:] in site_paths, f"{name}: var.site{path} is not in the contract's Site"
    settings_type = variables["settings"]["type"]
    if settings_type != "any":  # a typed settings object: every var.settings.X read is declared, none is site data
        declared = _attributes(settings_type)
        for field in re.findall(r"var\.settings\.(\w+)", code):
            assert field in declared, f"{name}: var.settings.{field} is not declared in its settings type"
        assert not declared & (set(Network.model_fields) | {"ssh_public_key", "public_key"}), (
            f"{name}: site data belongs in var.site, not in settings")


def test_node_is_the_contracts_output_node() -> None:
    assert issubclass(Node, NodeOutput)
    assert {k: f.annotation for k, f in Node.model_fields.items()} == {
        k: f.annotation for k, f in NodeOutput.model_fields.items()}


def test_root_site_variable_has_the_contract_type(write_site) -> None:  # type: ignore[no-untyped-def]
    loaded = load_site(write_site())
    root = hcl2.loads(root_module(loaded), serialization_options=OPTIONS)
    contract = hcl2.loads(contract_tf(), serialization_options=OPTIONS)
    types = [{n: b["type"] for block in parsed["variable"] for n, b in block.items()} for parsed in (root, contract)]
    assert types[0]["site"] == types[1]["site"]
    Site.model_validate(tfvars(loaded)["site"])  # and the tfvars fit it
    for instance in tfvars(loaded)["pools"].values():
        for pool in instance.values():
            for node in pool["nodes"].values():
                NodeInput.model_validate(node)


OFFLINE = {  # targets whose module needs no provider, with a site of theirs: really applied
    "static": lambda d: d / "site.yaml",
    "baremetal": lambda d: write_metal_site(d, {"driver": "redfish", "address": "http://127.0.0.1:1",
                                                "user": "admin", "password": {"env": "KPROV_TEST_NO_BMC"}}),
}


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_offline_modules_return_nodes_of_the_contract_shape(name: str, tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(json.dumps(site_data()))
    (tmp_path / "id_lab").write_text("not a real key\n")
    loaded = load_site(OFFLINE[name](tmp_path))
    w = Workdir.for_site(loaded.source, loaded.name)
    render(loaded, w)
    # bare metal's provisioners run "$KPROV_PYTHON -m kprov.targets.baremetal.machine ...": `true` stands in
    env = {"KPROV_PYTHON": shutil.which("true") or "/bin/true"}
    for argv in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        proc = subprocess.run(["terraform", *argv], cwd=w.terraform, capture_output=True, text=True, check=False,
                              env={**os.environ, **env})
        assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(subprocess.run(["terraform", "output", "-json", "nodes"], cwd=w.terraform, capture_output=True,
                                    text=True, check=True).stdout)
    nodes = validate_output(out)
    specs = {s.name: s for s in loaded.nodes}
    assert set(nodes) == set(specs)
    for node_name, node in nodes.items():
        spec = specs[node_name]
        assert node.name == node_name and node.pool == spec.pool and node.instance_id
        given = NodeInput.of(spec).model_dump(exclude={"mac", "snapshots"})
        assert node.model_dump(include=set(given)) == given
