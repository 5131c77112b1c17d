"""kprov.api, the public surface: typed results, the run store, and the workdir it leaves (real Terraform)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kprov import api
from kprov.errors import UsageError
from kprov.events import Event, Events
from kprov.exitcodes import ExitCode
from kprov.tools.terraform import TerraformError

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")


def _run_dirs(workdir: Path) -> list[Path]:
    return sorted(p for p in (workdir / "runs").iterdir() if p.is_dir())


def _assert_private(root: Path) -> None:
    for path in [root.parent, root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if path.is_dir():
            assert mode == 0o700, f"{path} is {mode:o}"
        elif path.is_file():
            assert mode & 0o077 == 0, f"{path} is {mode:o}"


def test_render_and_plan_leave_a_private_workdir(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    root = api.render(site)
    assert root == site.parent / ".kprov" / "lab"
    _assert_private(root)
    assert (root / "terraform" / "modules" / "static" / "main.tf").is_file()
    assert (root / "inventory" / "group_vars" / "all" / "kprov.yml").is_file()
    api.plan(site)  # Terraform creates .terraform/ and the run store a run: private too
    assert (root / "terraform" / ".terraform").is_dir() and (root / "runs").is_dir()
    _assert_private(root)


def test_plan_through_the_cli_records_the_same_events_it_prints(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    proc = subprocess.run([sys.executable, "-m", "kprov", "-o", "json", "plan", str(site)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    (run,) = _run_dirs(site.parent / ".kprov" / "lab")
    assert run.name.endswith("-plan")
    recorded = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert recorded == printed[:-1]  # and the process's own last word: the result with its exit code
    assert (printed[-1]["event"], printed[-1]["data"]) == ("result", {"exit_code": 0, "ok": True})
    assert printed[0]["event"] == "stage_start"
    assert any(e["event"] == "info" and e["data"].get("playbook") == "cluster.yml" for e in printed)
    result = json.loads((run / "result.json").read_text())
    assert result["command"] == "plan" and result["result"] == "ok" and result["exit_code"] == 0


def test_plan_returns_terraforms_typed_plan_and_status_lists_the_runs(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    seen: list[Event] = []
    events = Events()
    events.listeners.append(seen.append)
    result = api.plan(site, events=events)
    assert result.changes and result.summary.add == 3
    assert {c.address for c in result.planned} == {
        f'module.lab["{pool}"].terraform_data.node["{n}"]' for pool, n in (("cp", "cp1"), ("workers", "w1"),
                                                                            ("workers", "w2"))}
    with pytest.raises(UsageError, match="no nodes yet"):
        api.verify(site)  # refused before anything is written: no run
    with pytest.raises(UsageError, match="cp1 is not a bare-metal node"):
        api.power(site, "cp1", "status")
    (site.parent / ".kprov" / "lab" / "terraform" / "broken.tf").write_text("this is { not HCL\n")
    with pytest.raises(TerraformError):
        api.plan(site)
    info = api.status(site)
    runs = info["runs"]
    assert [r["command"] for r in runs] == ["plan", "plan"]  # newest first
    assert runs[0]["result"] == "failed" and runs[0]["exit_code"] == ExitCode.INFRASTRUCTURE
    assert runs[1]["result"] == "ok" and runs[1]["exit_code"] == ExitCode.OK
    assert info["stages"]["infra"] is None and info["lock"] is None
    assert list(info["stages"]) == ["remove", "infra", "inventory", "ssh", "preflight", "bootstrap", "kubeconfig",
                                    "verify"]



def test_down_asks_first_and_a_refusal_changes_nothing(write_site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    workdir = site.parent / ".kprov" / "lab"
    with pytest.raises(UsageError, match="pass --yes"):
        api.down(site, ask=lambda question: True)  # no terminal to ask on: never ask, refuse
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    questions: list[str] = []
    with pytest.raises(UsageError, match="not confirmed"):
        api.down(site, ask=lambda question: questions.append(question) or False)
    assert questions == ["Reset and destroy every node of site lab?"]
    assert not (workdir / "runs").exists()
    events = Events()
    seen: list[Event] = []
    events.listeners.append(seen.append)
    outcomes = api.down(site, ask=lambda question: True, events=events)
    assert [(o.stage, o.status) for o in outcomes] == [("reset", "skipped"), ("destroy", "ran")]
    assert [(e.stage, e.event) for e in seen] == [("reset", "stage_skip"), ("destroy", "stage_start"),
                                                  ("destroy", "stage_done")]
    (run,) = _run_dirs(workdir)
    assert json.loads((run / "result.json").read_text())["result"] == "ok"


def test_power_of_a_node_without_a_bmc_is_a_usage_error(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    with pytest.raises(UsageError, match=r"cp1 is not a bare-metal node of site lab \(it has none\)"):
        api.power(site, "cp1", "status")
