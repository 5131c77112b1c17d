"""The preflight checks' own logic, on recorded host answers (the lab runs them on real nodes): which ports a
node must reach on which others, what counts as blocked, and hostnames that collide."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

import pytest

from kprov.nodes import Node
from kprov.site.types import Role
from kprov.verify import suites


@dataclass
class _Cmd:
    rc: int
    stdout: str = ""
    stderr: str = ""


class _Host:
    """Answers the probe with what a node saw per target, and keeps what it was asked."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def run(self, command: str) -> _Cmd:
        targets = shlex.split(command)[3:]
        self.asked += targets
        return _Cmd(0, json.dumps({t: self.answers.get(t, "refused") for t in targets}))


def _node(name: str, ip: str, *roles: Role) -> Node:
    return Node(name=name, pool="p", roles=tuple(roles), ip=ip, access_ip=ip, ssh_user="root")


CP1 = _node("cp1", "10.0.0.1", Role.CONTROL_PLANE, Role.ETCD)
CP2 = _node("cp2", "10.0.0.2", Role.CONTROL_PLANE, Role.ETCD)
W1 = _node("w1", "10.0.0.3", Role.WORKER)


def test_each_node_probes_the_ports_its_peers_serve_it() -> None:
    host = _Host({})
    suites.reachability(host, W1, {"nodes": [CP1, CP2, W1]})
    assert sorted(host.asked) == ["10.0.0.1:6443", "10.0.0.2:6443"]  # a worker needs the API only
    host = _Host({})
    suites.reachability(host, CP1, {"nodes": [CP1, CP2, W1]})
    assert sorted(host.asked) == ["10.0.0.2:10250", "10.0.0.2:2379", "10.0.0.2:2380", "10.0.0.2:6443",
                                  "10.0.0.3:10250"]


def test_refused_is_reachable_and_a_timeout_or_no_route_is_not() -> None:
    host = _Host({"10.0.0.2:2379": "timeout", "10.0.0.2:6443": "open",
                  "10.0.0.3:10250": "unreachable: No route to host"})
    with pytest.raises(AssertionError) as failed:
        suites.reachability(host, CP1, {"nodes": [CP1, CP2, W1]})
    message = str(failed.value)
    assert "cp2 (10.0.0.2:2379, etcd client): timeout" in message
    assert "w1 (10.0.0.3:10250, kubelet): unreachable: No route to host" in message
    assert "6443" not in message and "fix: allow these TCP ports from 10.0.0.1" in message


def test_colliding_hostnames_name_every_node_involved() -> None:
    ctx: dict[str, Any] = {"hostnames": {"cp1": "cp1", "cp2": "cp2", "w1": "cp1"}}
    assert suites.unique_hostnames(ctx) == {
        "cp1": "hostname 'cp1' is also the hostname of w1; fix: hostnamectl set-hostname cp1",
        "w1": "hostname 'cp1' is also the hostname of cp1; fix: hostnamectl set-hostname w1"}
    assert suites.unique_hostnames({"hostnames": {"a": "a", "b": "b"}}) == {}


def test_checks_are_selected_by_name_or_tag_and_an_unknown_one_is_named() -> None:
    names = [c.name for c in suites.select(suites.POST_INSTALL, ["etcd", "kubelet-version"])]
    assert names == ["kubelet-version", "etcd"]
    assert [c.name for c in suites.select(suites.POST_INSTALL, ["control-plane"])] == ["kube-apiserver", "admin-conf"]
    assert suites.select(suites.POST_INSTALL, []) == suites.POST_INSTALL
    with pytest.raises(ValueError, match=r"no check or tag etcdd \(there are: admin-conf, control-plane, etcd"):
        suites.select(suites.POST_INSTALL, ["etcdd"])


def test_the_junit_report_gives_each_case_its_host_as_a_property(tmp_path: Any) -> None:
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    from kprov.verify import CheckResult, VerifyResult, write_junit  # noqa: PLC0415

    write_junit(VerifyResult("post-install", (CheckResult("cp1", "etcd", True, seconds=0.1),
                                              CheckResult("w1", "kubelet", False, "kubelet is not running"))),
                tmp_path / "r.xml")
    cases = ET.parse(tmp_path / "r.xml").getroot().findall("testcase")
    assert [{p.get("name"): p.get("value") for p in c.iter("property")} for c in cases] == [
        {"host": "cp1"}, {"host": "w1"}]
    assert cases[1].find("failure").get("message") == "kubelet is not running"  # type: ignore[union-attr]
