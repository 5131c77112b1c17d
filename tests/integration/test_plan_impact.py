"""``kprov plan`` on a running static site (real Terraform state, the member record as `up` leaves it): a machine
made again is named with the attribute that forces it, and a change up would refuse is shown as such."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kprov import api, inventory
from kprov import members as members_mod
from kprov.engine.fingerprint import file_digest, fingerprint
from kprov.engine.workdir import Workdir
from kprov.events import Event, Events
from kprov.impact import ImpactDocument
from kprov.render import render
from kprov.site.load import load_site
from kprov.site.types import Role
from kprov.tools import kubespray
from kprov.tools.terraform import Terraform
from tests.conftest import site_data


def _plan(site: Path) -> tuple[dict[str, Any], list[Event]]:
    seen: list[Event] = []
    events = Events([])
    events.listeners.append(seen.append)
    api.plan(site, events=events)
    doc = next(e for e in seen if e.event == "impact").data["impact"]
    ImpactDocument.model_validate(json.loads(json.dumps(doc)))  # the documented shape, nothing more
    return doc, seen


def test_the_documented_schema_names_every_field_the_readme_lists() -> None:
    schema = api.schema(impact=True)
    assert set(schema["properties"]) == {"schema", "nodes", "steps", "etcd", "control_plane", "refusals",
                                         "forced_by", "drain", "settings"}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    day2 = readme[readme.index("## Day 2"):readme.index("## How kprov keeps")]
    for field in [*schema["properties"], *schema["$defs"]["NodeDocument"]["properties"],
                  *schema["$defs"]["StepDocument"]["properties"], *schema["$defs"]["DrainDocument"]["properties"],
                  *schema["$defs"]["BudgetDocument"]["properties"]]:
        assert f"`{field}`" in day2, f"the README's Day 2 section does not document {field}"


def _brought_up(site: Path) -> Workdir:
    """The workdir as `up` leaves it: Terraform applied, the inventory's settings written and recorded with
    the members."""
    loaded = load_site(site)
    wd = Workdir.for_site(site, loaded.name).ensure()
    render(loaded, wd)
    tf = Terraform(wd.terraform)
    tf.init()
    tf.apply()
    group_vars = inventory.write_group_vars(wd.inventory, loaded.site)
    tree = kubespray.resolve(loaded.site.kubernetes.kubespray, loaded.base_dir)
    members_mod.write(wd.members_file, members_mod.Record(
        settings=fingerprint(file_digest(group_vars), tree.commit()), version=loaded.site.kubernetes.version,
        members=tuple(members_mod.Member(name=n, instance_id=n, roles=r) for n, r in
                      (("cp1", (Role.CONTROL_PLANE, Role.ETCD)), ("w1", (Role.WORKER,)), ("w2", (Role.WORKER,))))))
    return wd


def test_a_remade_machine_is_named_with_what_forces_it_and_a_lone_etcd_is_protected(
        write_site: Callable[..., Path]) -> None:
    site = write_site()
    _brought_up(site)

    data = site_data()
    data["pools"]["workers"]["machines"][0]["ip"] = "192.168.77.21"  # w1 is another machine now
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    doc, seen = _plan(site)
    assert [(n["node"], n["action"]) for n in doc["nodes"]] == [("cp1", "keep"), ("w1", "rejoin"), ("w2", "keep")]
    assert doc["forced_by"] == {"w1": ["triggers_replace"]}
    nodes = next(e for e in seen if e.event == "table" and e.data["title"] == "nodes").data["rows"]
    assert nodes[1] == ["w1", "worker", "rejoin", "Terraform makes its machine again (triggers_replace)"]
    assert [(s["playbook"], s["limit"]) for s in doc["steps"]] == [("playbooks/facts.yml", []),
                                                                   ("scale.yml", ["w1"])]
    assert doc["refusals"] == []

    data["pools"]["cp"]["machines"][0]["ip"] = "192.168.77.20"  # and the only etcd member too
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    doc, seen = _plan(site)
    assert doc["refusals"][-1] == ("cp1 is the only etcd member: taking it out loses the cluster's data; grow etcd "
                                   "to 3 members first (or keep its machine)")
    assert any(e.event == "warning" and e.message.startswith("up would refuse: cp1 is the only etcd member")
               for e in seen)


def test_a_change_of_the_settings_for_every_node_names_the_variables_and_runs_cluster_yml(
        write_site: Callable[..., Path]) -> None:
    site = write_site()
    wd = _brought_up(site)
    doc, _ = _plan(site)
    assert doc["settings"] == [] and doc["steps"] == []

    data = site_data()
    data["kubernetes"]["network_plugin"] = "cilium"
    data["kubernetes"]["vars"] = {"kube_proxy_mode": "nftables"}
    del data["pools"]["workers"]["machines"][1]  # w2 leaves as well
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    doc, seen = _plan(site)
    assert doc["settings"] == ["all: kube_proxy_mode", "k8s_cluster: kube_network_plugin"]
    assert [(s["playbook"], s["when"]) for s in doc["steps"]] == [("remove-node.yml", "before"),
                                                                  ("cluster.yml", "after")]
    assert "settings for every node changed: all: kube_proxy_mode, k8s_cluster: kube_network_plugin" in [
        e.message for e in seen]
    assert doc["drain"]["nodes"] == ["w2"] and doc["drain"]["unanswered"].startswith("no kubeconfig at")
    assert (wd.inventory / "group_vars" / "k8s_cluster" / "kprov.yml").read_text().count("calico") == 1  # untouched

    members_mod.write(wd.members_file, members_mod.read(wd.members_file).model_copy(
        update={"settings": members_mod.REVERTED}))
    doc, _ = _plan(site)
    assert doc["settings"] == ["nodes were reverted to a snapshot"]
