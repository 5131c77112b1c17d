from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kprov.engine.fastpath import converged_key, converged_workdir
from kprov.engine.state import StageState

STAGES = ["infra", "inventory", "ssh", "preflight", "bootstrap", "kubeconfig", "verify"]


def _converge(tmp_path: Path) -> tuple[Path, Path, StageState]:
    site = tmp_path / "site.yaml"
    site.write_text("metadata: {name: lab}\n")
    ks = tmp_path / "ks"
    ks.mkdir(exist_ok=True)
    (ks / "cluster.yml").write_text("- hosts: all\n")
    work = tmp_path / ".kprov" / "lab"
    work.mkdir(parents=True, exist_ok=True)
    state = StageState(work / "state.json")
    for s in STAGES:
        state.record(s, "fp")
    state.record_converged(converged_key(site, work, ks), site.resolve(), ks, STAGES)
    return site, work, state


def test_a_converged_site_with_unchanged_inputs_takes_the_fast_path(tmp_path: Path) -> None:
    site, work, _ = _converge(tmp_path)
    assert converged_workdir(site, None) == (work, STAGES)
    assert converged_workdir(site, work) == (work, STAGES)


def test_a_stage_recorded_in_the_converged_run_but_forgotten_since_declines(tmp_path: Path) -> None:
    site, _, state = _converge(tmp_path)
    del state.data["stages"]["kubeconfig"]  # as if state.json were edited behind kprov's back
    state._save()
    assert converged_workdir(site, None) is None


def test_any_changed_input_declines(tmp_path: Path) -> None:
    site, _, _ = _converge(tmp_path)
    site.write_text("metadata: {name: lab}\n# a comment is a change too\n")
    assert converged_workdir(site, None) is None


def test_a_changed_kubespray_tree_declines(tmp_path: Path) -> None:
    site, _, _ = _converge(tmp_path)
    (tmp_path / "ks" / "cluster.yml").write_text("- hosts: k8s_cluster\n")
    assert converged_workdir(site, None) is None


def test_a_stage_that_ran_since_drops_the_record(tmp_path: Path) -> None:
    site, _, state = _converge(tmp_path)
    state.record("bootstrap", "other")  # e.g. a later up that changed something, then the file was reverted
    assert converged_workdir(site, None) is None
    _, _, state = _converge(tmp_path)
    state.forget()  # kprov down
    assert converged_workdir(site, None) is None


def test_a_held_lock_declines_so_the_full_path_can_report_the_holder(tmp_path: Path) -> None:
    site, work, _ = _converge(tmp_path)
    fd = os.open(work / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert converged_workdir(site, None) is None
    finally:
        os.close(fd)
    assert converged_workdir(site, None) == (work, STAGES)
