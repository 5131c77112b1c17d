"""``kprov snapshot``'s refusals and record, without a platform: each refusal is a usage error (exit 2) before
anything is written, and the record is what every render hands the modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kprov import api
from kprov import snapshots as record
from kprov.engine.state import StageState
from kprov.engine.workdir import Workdir
from kprov.errors import UsageError
from kprov.render import tfvars
from kprov.site.load import load_site
from kprov.stages.snapshot import resource_type


def test_a_plans_resource_type_is_read_from_its_address() -> None:
    assert resource_type('module.local["control-plane"].lxd_snapshot.node["cp-1/before.1"]') == "lxd_snapshot"
    assert resource_type("module.a.lxd_container.node") == "lxd_container"


def test_the_record_gives_each_node_its_snapshot_names_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.json"
    assert record.load(path) == []
    record.save(path, [record.new("one", ["a", "b"]), record.new("two", ["b"])])
    assert record.by_node(record.load(path)) == {"a": ("one",), "b": ("one", "two")}
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text('[{"name": 1}]')
    with pytest.raises(UsageError, match=r"not a snapshot record"):
        record.load(path)


def test_rendered_node_input_carries_the_recorded_names(write_site: Callable[..., Path]) -> None:
    loaded = load_site(write_site())
    nodes = tfvars(loaded, {"w1": ("before",)})["pools"]["lab"]["workers"]["nodes"]
    assert nodes["w1"]["snapshots"] == ["before"] and nodes["w2"]["snapshots"] == []


def _brought_up(site: Path) -> Workdir:
    """The workdir as a finished `up` of the static site leaves it (infra recorded, nodes known)."""
    wd = Workdir.for_site(site, "lab").ensure()
    wd.nodes_file.write_text(json.dumps([
        {"name": n, "pool": p, "roles": r, "ip": ip, "access_ip": ip, "ssh_user": "root", "instance_id": n}
        for n, p, r, ip in (("cp1", "cp", ["control_plane", "etcd"], "192.168.77.10"),
                            ("w1", "workers", ["worker"], "192.168.77.11"))]))
    StageState(wd.state_file).record("infra", "fp")
    return wd


def test_refusals_come_before_anything_is_written(write_site: Callable[..., Path]) -> None:
    site = write_site()
    with pytest.raises(UsageError, match=r"site lab was never brought up: run `kprov up` first"):
        api.snapshot(site, "create", "before")
    wd = _brought_up(site)
    with pytest.raises(UsageError, match=r"snapshot name 'bad name': letters, digits"):
        api.snapshot(site, "create", "bad name")
    with pytest.raises(UsageError, match=r"no node of site lab is on a target with snapshots \(lxd, vsphere\)"):
        api.snapshot(site, "create", "before")
    with pytest.raises(UsageError, match=r"site lab has no snapshot 'gone' \(kprov snapshot list\)"):
        api.snapshot(site, "revert", "gone", yes=True)
    assert not wd.snapshots_file.exists()
    assert not list(wd.runs.iterdir())  # refused: no run recorded
    assert api.snapshot(site, "list") == []


def test_a_machine_made_again_leaves_the_snapshot_record(write_site: Callable[..., Path]) -> None:
    from kprov.engine.stage import Session  # noqa: PLC0415
    from kprov.events import Event, Events  # noqa: PLC0415
    from kprov.nodes import load as load_nodes  # noqa: PLC0415
    from kprov.stages.infra import forget_snapshots  # noqa: PLC0415

    site = write_site()
    wd = _brought_up(site)
    record.save(wd.snapshots_file, [record.new("one", ["cp1", "w1"]), record.new("two", ["w1"])])
    before = load_nodes(wd.nodes_file)
    seen: list[Event] = []
    events = Events([])
    events.listeners.append(seen.append)
    session = Session(loaded=load_site(site), workdir=wd, events=events, command="up")
    session.nodes = [n.model_copy(update={"instance_id": "new"}) if n.name == "w1" else n for n in before]
    forget_snapshots(session, before)
    assert [(s.name, s.nodes) for s in record.load(wd.snapshots_file)] == [("one", ("cp1",))]
    assert [e.message for e in seen] == ["snapshots went with the machines made again: one of w1, two of w1"]
