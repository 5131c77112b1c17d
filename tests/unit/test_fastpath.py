from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kprov.__main__ import FastUp, parse_fast_up
from kprov.engine import fastpath, fingerprint
from kprov.engine.fastpath import converged_key, converged_workdir
from kprov.engine.state import StageState
from kprov.exitcodes import ExitCode
from kprov.paths import asset_dir
from tests.unit.test_fingerprint import git, rewrite

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


def test_a_stage_output_gone_since_declines_as_the_full_path_would_rerun_its_stage(tmp_path: Path) -> None:
    site, work, state = _converge(tmp_path)
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    record = state.converged()
    assert record is not None
    state.record_converged(record["key"], site.resolve(), tmp_path / "ks", STAGES, [kubeconfig])
    assert converged_workdir(site, None) == (work, STAGES)
    kubeconfig.unlink()
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


# -- what the fast path keeps in its cache, and what still declines ------------------------------------------------


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat every file as changed long enough ago for the StatCache to keep its digests (in real use only files
    unchanged for RACY_NS are; a test cannot wait that long)."""
    monkeypatch.setattr(fingerprint, "RACY_NS", -3600 * 10**9)


@pytest.fixture
def assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of kprov's asset folders the test may edit."""
    root = tmp_path / "assets"
    for name in ("templates", "terraform", "playbooks"):
        shutil.copytree(asset_dir(name), root / name, symlinks=True)
    monkeypatch.setattr(fastpath, "asset_dir", lambda name: root / name)
    return root


def git_kubespray(tmp_path: Path) -> Path:
    ks = tmp_path / "ks"
    (ks / "roles" / "r").mkdir(parents=True)
    (ks / "cluster.yml").write_text("- hosts: all\n")
    (ks / "roles" / "r" / "main.yml").write_text("- debug: msg=a\n")
    git(ks, "init", "-q")
    git(ks, "add", "-A")
    git(ks, "commit", "-qm", "one")
    return ks


@pytest.mark.usefixtures("settled", "assets")
def test_a_no_op_reads_no_asset_folder_and_runs_git_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git_kubespray(tmp_path)
    site, work, _ = _converge(tmp_path)
    assert (work / fastpath.CACHE).is_file()
    calls: list[str] = []
    run = subprocess.run
    monkeypatch.setattr(fingerprint, "file_digest", lambda *paths: calls.append("read") or "")
    monkeypatch.setattr(fingerprint.subprocess, "run", lambda argv, **kw: calls.append(argv[3]) or run(argv, **kw))
    assert converged_workdir(site, None) == (work, STAGES)
    assert calls == ["diff"]  # HEAD is read from .git; the asset folders' digests come from the cache


@pytest.mark.usefixtures("settled")
def test_editing_a_tracked_file_of_a_git_kubespray_tree_declines(tmp_path: Path) -> None:
    ks = git_kubespray(tmp_path)
    site, work, _ = _converge(tmp_path)
    assert converged_workdir(site, None) == (work, STAGES)  # the cache now holds the tree's identity
    rewrite(ks / "roles" / "r" / "main.yml", "- debug: msg=b\n")  # same size
    assert converged_workdir(site, None) is None


@pytest.mark.usefixtures("settled")
def test_a_new_commit_in_the_kubespray_tree_declines(tmp_path: Path) -> None:
    ks = git_kubespray(tmp_path)
    site, work, _ = _converge(tmp_path)
    assert converged_workdir(site, None) == (work, STAGES)
    rewrite(ks / "cluster.yml", "- hosts: k8s_cluster\n")
    git(ks, "commit", "-qam", "two")
    assert converged_workdir(site, None) is None


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("asset", ["templates", "terraform", "playbooks"])
def test_editing_any_file_of_kprovs_assets_declines(tmp_path: Path, assets: Path, asset: str) -> None:
    site, work, _ = _converge(tmp_path)
    assert converged_workdir(site, None) == (work, STAGES)
    edited = next(p for p in sorted((assets / asset).rglob("*")) if p.is_file() and not p.is_symlink())
    rewrite(edited, edited.read_text().replace("a", "b", 1) if "a" in edited.read_text() else "x")
    assert converged_workdir(site, None) is None


@pytest.mark.usefixtures("settled", "assets")
def test_a_lost_or_damaged_cache_changes_nothing_but_the_time(tmp_path: Path) -> None:
    site, work, _ = _converge(tmp_path)
    (work / fastpath.CACHE).unlink()
    assert converged_workdir(site, None) == (work, STAGES)
    (work / fastpath.CACHE).write_text('{"tree:' + str(tmp_path / "ks") + '": {"signature": "x", "value": "y"}}')
    assert converged_workdir(site, None) == (work, STAGES)
    (work / fastpath.CACHE).write_text("[")
    assert converged_workdir(site, None) == (work, STAGES)


# -- the entry that answers before click is imported ----------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["up", "s.yaml"], FastUp(Path("s.yaml"), None, "human", False)),
    (["-o", "json", "up", "s.yaml"], FastUp(Path("s.yaml"), None, "json", False)),
    (["--output=json", "-v", "up", "s.yaml"], FastUp(Path("s.yaml"), None, "json", True)),
    (["-ojson", "--workdir", "w", "up", "s.yaml"], FastUp(Path("s.yaml"), Path("w"), "json", False)),
    (["--workdir=w", "--verbose", "up", "up"], FastUp(Path("up"), Path("w"), "human", True)),
    (["--workdir", "up", "up", "s.yaml"], FastUp(Path("s.yaml"), Path("up"), "human", False)),
])
def test_the_up_shapes_it_answers(argv: list[str], expected: FastUp) -> None:
    assert parse_fast_up(argv) == expected


@pytest.mark.parametrize("argv", [
    [], ["up"], ["up", "s.yaml", "--force"], ["up", "--force", "s.yaml"], ["up", "s.yaml", "-h"], ["up", "--help"],
    ["--help", "up", "s.yaml"], ["--version", "up", "s.yaml"], ["up", "a.yaml", "b.yaml"], ["up", "--", "s.yaml"],
    ["plan", "s.yaml"], ["-o", "xml", "up", "s.yaml"], ["-o=json", "up", "s.yaml"], ["-o", "json", "-o", "json",
    "up", "s.yaml"], ["--workdir", "up", "s.yaml"], ["--workdir", "-v", "up", "s.yaml"], ["--workdir=", "up", "s"],
    ["-vo", "json", "up", "s.yaml"], ["--out", "json", "up", "s.yaml"], ["up", ""], ["up", "-"],
])
def test_everything_else_goes_to_click(argv: list[str]) -> None:
    assert parse_fast_up(argv) is None


def test_python_m_kprov_answers_a_no_op_up_without_importing_click(tmp_path: Path) -> None:
    site, work, _ = _converge(tmp_path)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kprov", "-o", "json", "up", str(site)],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["stage"] for e in events if e["event"] == "stage_skip"] == STAGES
    assert events[-1]["event"] == "result" and events[-1]["data"]["kubeconfig"] == str(work / "kubeconfig")
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not {m for m in imported if m.split(".")[0] in ("click", "pydantic", "jinja2", "rich", "ansible_runner")}
    assert "- infra skipped: inputs unchanged since the last successful run" in proc.stderr


def test_a_site_the_fast_path_declines_goes_through_click(tmp_path: Path) -> None:
    site, _, _ = _converge(tmp_path)
    site.write_text("metadata: {name: lab}\n# changed\n")  # no longer converged, and no valid site either
    proc = subprocess.run([sys.executable, "-m", "kprov", "up", str(site)], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == ExitCode.INVALID_SITE, proc.stderr
