from __future__ import annotations

import yaml

from kprov import inventory
from kprov.nodes import Node
from kprov.site.load import load_site
from kprov.site.types import Role
from tests.conftest import site_data


def _node(name: str, *roles: Role, **kw: object) -> Node:
    return Node(name=name, pool="p", roles=roles, ip=f"10.0.0.{len(name)}", access_ip=f"10.0.0.{len(name)}",
                ssh_user="root", **kw)  # type: ignore[arg-type]


class _Reader(yaml.SafeLoader):
    pass


_Reader.add_constructor("!unsafe", lambda loader, node: ("UNSAFE", loader.construct_scalar(node)))


def test_user_strings_are_tagged_unsafe() -> None:
    text = inventory.dump(inventory.unsafe({"a": "{{ 6*7 }}", "b": ["x{%"], "c": 3, "d": True, "e": "yes"}))
    assert yaml.load(text, Loader=_Reader) == {"a": ("UNSAFE", "{{ 6*7 }}"), "b": [("UNSAFE", "x{%")], "c": 3,
                                               "d": True, "e": "yes"}


def test_a_k8s_cluster_member_comes_first_and_groups_are_kubespray_s() -> None:
    nodes = [_node("etcd1", Role.ETCD), _node("w1", Role.WORKER), _node("cp1", Role.CONTROL_PLANE, Role.ETCD)]
    data = inventory.hosts(nodes)["all"]
    assert list(data["hosts"]) == ["cp1", "w1", "etcd1"]
    ch = data["children"]
    assert list(ch["kube_control_plane"]["hosts"]) == ["cp1"]
    assert list(ch["kube_node"]["hosts"]) == ["w1"]
    assert list(ch["etcd"]["hosts"]) == ["cp1", "etcd1"]
    assert set(ch["k8s_cluster"]["children"]) == {"kube_control_plane", "kube_node", "calico_rr"}
    assert data["hosts"]["cp1"]["etcd_member_name"] == "etcd1"
    assert data["hosts"]["etcd1"]["etcd_member_name"] == "etcd2"
    assert "etcd_member_name" not in data["hosts"]["w1"]


def test_no_etcd_role_leaves_the_etcd_group_out() -> None:
    children = inventory.hosts([_node("cp1", Role.CONTROL_PLANE), _node("w1", Role.WORKER)])["all"]["children"]
    assert "etcd" not in children and list(children["kube_control_plane"]["hosts"]) == ["cp1"]


def test_group_vars_carry_the_site(write_site, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = site_data()
    data["kubernetes"]["vars"] = {"kube_proxy_mode": "nftables", "http_proxy": "{{ lookup('env','HOME') }}"}
    loaded = load_site(write_site(data))
    hosts = inventory.write(tmp_path / "inv", loaded.site, [Node.from_spec(s) for s in loaded.nodes])
    gv = yaml.load((hosts.parent / "group_vars/all/kprov.yml").read_text(), Loader=_Reader)
    assert gv["kube_version"] == "1.35.4"
    assert gv["kubeconfig_localhost"] is True
    assert gv["http_proxy"] == ("UNSAFE", "{{ lookup('env','HOME') }}")
    k8s = yaml.load((hosts.parent / "group_vars/k8s_cluster/kprov.yml").read_text(), Loader=_Reader)
    assert k8s["kube_pods_subnet"] == "10.233.64.0/18"
    assert oct(hosts.stat().st_mode & 0o777) == "0o600"
