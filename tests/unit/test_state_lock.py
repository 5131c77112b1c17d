from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kprov.engine.fingerprint import fingerprint
from kprov.engine.lock import SiteLock
from kprov.engine.state import StageState
from kprov.engine.workdir import Workdir, write_atomic
from kprov.errors import LockHeld
from tests.conftest import lock_held_by_another_process


def test_fingerprint_is_stable_and_order_free() -> None:
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_stage_state_round_trips_and_forgets(tmp_path: Path) -> None:
    s = StageState(tmp_path / "state.json")
    s.record("infra", "x")
    again = StageState(tmp_path / "state.json")
    assert again.done("infra", "x") and not again.done("infra", "y")
    again.forget("infra")
    assert not StageState(tmp_path / "state.json").done("infra", "x")


def test_write_atomic_sets_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    write_atomic(tmp_path / "f", "secret", mode=0o600)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_workdir_is_private(tmp_path: Path) -> None:
    w = Workdir.for_site(tmp_path / "site.yaml", "lab").ensure()
    assert w.root == tmp_path / ".kprov" / "lab"
    for d in (w.root.parent, w.root, w.terraform, w.inventory, w.runs):
        assert d.stat().st_mode & 0o777 == 0o700


def test_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with lock_held_by_another_process(path) as pid:
        with pytest.raises(LockHeld) as info:
            SiteLock(path, "up").acquire()
        msg = str(info.value)
        assert f"pid {pid}" in msg and os.uname().nodename in msg and "(up, since " in msg
        held = SiteLock(path, "status").held_by()
        assert held is not None and held["pid"] == pid  # what `kprov status` shows while it lives
    # the holder died without releasing: status names no holder, and the lock is taken over naming the dead one
    assert SiteLock(path, "status").held_by() is None
    assert SiteLock(path, "status").holder() is not None  # (its record is still in the file)
    lock = SiteLock(path, "up").acquire()
    assert lock.stale_holder is not None and lock.stale_holder["pid"] == pid
    lock.release()
    assert json.loads(path.read_text() or "null") is None
