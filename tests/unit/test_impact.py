"""What a site change does to the running cluster (:mod:`kprov.impact`): who joins through which playbook, who
leaves, and every refusal, from the member record and the site's nodes alone."""

from __future__ import annotations

import pytest

from kprov.errors import UsageError
from kprov.impact import Step, assess, refuse
from kprov.members import Member
from kprov.site.types import Role

CP = (Role.CONTROL_PLANE, Role.ETCD)
W = (Role.WORKER,)


def _members(*nodes: tuple[str, tuple[Role, ...]]) -> list[Member]:
    return [Member(name=n, instance_id=f"id-{n}", roles=r) for n, r in nodes]


def test_a_new_cluster_joins_everyone_through_cluster_yml() -> None:
    impact = assess([], [("cp1", CP), ("w1", W)])
    assert [(c.node, c.action, c.why) for c in impact.nodes] == [("cp1", "join", "not bootstrapped yet"),
                                                                 ("w1", "join", "not bootstrapped yet")]
    assert impact.steps == (Step("cluster.yml"),)
    assert impact.etcd == (0, 1) and impact.refusals == ()


def test_new_workers_join_with_facts_over_all_hosts_then_scale_limited_to_them() -> None:
    impact = assess(_members(("cp1", CP), ("w1", W)), [("cp1", CP), ("w1", W), ("w2", W), ("w3", W)])
    assert impact.joining() == ["w2", "w3"]
    assert impact.steps == (Step("playbooks/facts.yml"), Step("scale.yml", limit=("w2", "w3")))
    assert [c.action for c in impact.nodes] == ["keep", "keep", "join", "join"]


def test_a_new_control_plane_or_etcd_node_goes_through_cluster_yml() -> None:
    impact = assess(_members(("cp1", CP), ("w1", W)), [("cp1", CP), ("cp2", CP), ("cp3", CP), ("w1", W)])
    assert impact.steps == (Step("cluster.yml"),)
    assert impact.etcd == (1, 3) and impact.control_plane == (1, 3)


def test_a_removed_worker_leaves_through_remove_node_before_terraform_and_nothing_else_runs() -> None:
    impact = assess(_members(("cp1", CP), ("w1", W), ("w2", W)), [("cp1", CP), ("w1", W)])
    assert impact.leaving() == ["w2"]
    assert impact.steps == (Step("remove-node.yml", extravars={"node": "w2", "skip_confirmation": True},
                                 when="before"),)


def test_the_first_control_plane_never_leaves_and_the_plan_says_how_to_move_it() -> None:
    impact = assess(_members(("cp1", CP), ("cp2", (Role.CONTROL_PLANE,)), ("w1", W)),
                    [("cp2", (Role.CONTROL_PLANE,)), ("w1", W), ("e1", (Role.ETCD,))])
    assert impact.refusals[0].startswith("cp1 is the first control-plane node, which Kubespray cannot remove: "
                                         "move it first (put cp2 first")
    with pytest.raises(UsageError, match=r"^refused: cp1 is the first control-plane node"):
        refuse(impact)


def test_removing_every_control_plane_is_refused() -> None:
    impact = assess(_members(("cp1", (Role.CONTROL_PLANE,)), ("e1", (Role.ETCD,)), ("w1", W)),
                    [("e1", (Role.ETCD,)), ("w1", W)])
    assert any("removes every control-plane node" in r for r in impact.refusals)


def test_taking_a_majority_of_etcd_out_at_once_is_refused_one_is_not() -> None:
    three = _members(("e1", CP), ("e2", CP), ("e3", CP))
    wanted = [("e1", CP), ("e2", CP), ("e3", CP)]
    assert assess(three, wanted, remade={"e2"}).refusals == (
        "e2's machine would be made again, and an etcd member cannot rejoin under its old name: remove e2 from "
        "the site file and run `kprov up` (remove-node.yml removes its member), then add it back",)
    assert assess(three, wanted[:2]).refusals == ()  # one member leaving through remove-node.yml is fine
    refusals = assess(three, wanted[:1]).refusals
    assert refusals == ("the change takes 2 of 3 etcd members out at once (e2, e3), which loses quorum: change at "
                        "most 1 per run",)
    assert assess(_members(("e1", CP)), [("e1", CP)], remade={"e1"}).refusals  # a lone member: its data goes


def test_the_document_is_plain_json_with_its_schema_version() -> None:
    doc = assess(_members(("cp1", CP), ("w1", W)), [("cp1", CP), ("w2", W)]).document()
    assert doc["schema"] == 1
    assert [s["playbook"] for s in doc["steps"]] == ["remove-node.yml", "playbooks/facts.yml", "scale.yml"]
    assert doc["steps"][2]["limit"] == ["w2"]
    assert doc["etcd"] == {"before": 1, "after": 1} and doc["refusals"] == []


def test_a_hosts_inventory_digest_changes_with_its_own_entry_only() -> None:
    from kprov.inventory import host_digests, hosts  # noqa: PLC0415
    from kprov.nodes import Node  # noqa: PLC0415

    def node(name: str, roles: tuple[Role, ...], **labels: str) -> Node:
        return Node(name=name, pool="p", roles=roles, ip=f"10.0.0.{len(name)}", access_ip="10.0.0.1",
                    ssh_user="root", labels=labels)

    two = host_digests(hosts([node("cp1", CP), node("w1", W)]))
    three = host_digests(hosts([node("cp1", CP), node("w1", W), node("w22", W)]))
    assert {k: three[k] for k in two} == two  # a new worker changes nobody else's entry
    relabelled = host_digests(hosts([node("cp1", CP), node("w1", W, zone="b")]))
    assert relabelled["w1"] != two["w1"] and relabelled["cp1"] == two["cp1"]
    moved = host_digests(hosts([node("cp1", CP), node("w1", (Role.WORKER, Role.ETCD))]))
    assert moved["w1"] != two["w1"]  # a new group is a change of the host too


def test_established_members_keep_their_places_and_etcd_names_when_a_node_is_added_before_them() -> None:
    from kprov.inventory import hosts  # noqa: PLC0415
    from kprov.nodes import Node  # noqa: PLC0415

    def node(name: str, roles: tuple[Role, ...]) -> Node:
        return Node(name=name, pool="p", roles=roles, ip="10.0.0.9", access_ip="10.0.0.9", ssh_user="root")

    site_order = [node("cp0", CP), node("cp1", CP), node("e1", (Role.ETCD,)), node("cp2", CP), node("w1", W)]
    inv = hosts(site_order, established=["cp1", "e1", "w1"])["all"]
    assert list(inv["children"]["kube_control_plane"]["hosts"]) == ["cp1", "cp0", "cp2"]
    assert {h: inv["hosts"][h]["etcd_member_name"] for h in ("cp1", "e1", "cp0", "cp2")} == {
        "cp1": "etcd1", "e1": "etcd2", "cp0": "etcd3", "cp2": "etcd4"}
    fresh = hosts(site_order)["all"]  # a new cluster: the site file's order
    assert list(fresh["children"]["kube_control_plane"]["hosts"]) == ["cp0", "cp1", "cp2"]
