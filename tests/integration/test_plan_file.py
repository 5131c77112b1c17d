"""`kprov plan SITE --out PLAN` then `kprov apply PLAN`, as two CI jobs would run them (the folder moved in
between, as an artifact is): real Terraform on a static site. And every refusal: a stale plan (the state, the
site file or kprov's templates changed since), another site's plan, an edited or truncated plan file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov import api, planfile
from kprov.exitcodes import ExitCode
from kprov.planfile import PlanFileError
from tests.conftest import site_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n"


def kprov(*args: str, cwd: Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([sys.executable, "-m", "kprov", "-o", "json", *args], capture_output=True, text=True,
                          cwd=cwd, stdin=subprocess.DEVNULL, check=False, timeout=300)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def _job_folder(write_site: Callable[..., Path]) -> Path:
    site = write_site()
    (site.parent / "id_lab.pub").write_text(KEY)
    return site.parent


def test_plan_in_one_job_apply_in_the_next_after_the_folder_moved(
        write_site: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> None:
    first = _job_folder(write_site)
    rc, events, stderr = kprov("plan", "site.yaml", "--out", "site.plan", cwd=first)
    assert rc == 0, stderr
    plan = first / "site.plan"
    assert plan.stat().st_mode & 0o777 == 0o600
    doc = planfile.read(plan)
    assert doc.site == "lab" and doc.made.site_file == "site.yaml"
    assert [(c["address"], c["actions"]) for c in doc.changes] == [
        (f'module.lab["{pool}"].terraform_data.node["{n}"]', ["create"])
        for pool, n in (("cp", "cp1"), ("workers", "w1"), ("workers", "w2"))]
    assert [s["playbook"] for s in doc.kubespray_steps] == ["cluster.yml"]
    assert str(first) not in plan.read_text()  # nothing absolute: it moves with the folder

    second = tmp_path_factory.mktemp("next") / "job"
    shutil.move(first, second)
    rc, events, stderr = kprov("apply", "site.plan", cwd=second)
    assert rc == 0, stderr
    assert [e["stage"] for e in events if e["event"] == "stage_done"] == ["review", "infra", "inventory"]
    result = events[-1]
    assert result["event"] == "result" and result["data"]["exit_code"] == 0
    assert [s["playbook"] for s in result["data"]["kubespray_steps"]] == ["cluster.yml"]
    assert json.loads((second / ".kprov" / "lab" / planfile.REVIEWED_STEPS).read_text())[0]["playbook"] == \
        "cluster.yml"
    state = subprocess.run(["terraform", "state", "list"], cwd=second / ".kprov" / "lab" / "terraform",
                           capture_output=True, text=True, check=True).stdout.split()
    assert len(state) == 3

    # the same plan again: the state it was made against is gone
    rc, _, stderr = kprov("apply", "site.plan", cwd=second)
    assert rc == ExitCode.USAGE
    assert "site.plan is stale: the Terraform state (serial" in stderr and "something applied since" in stderr


def test_a_stale_plan_names_what_changed(write_site: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _job_folder(write_site)
    plan = folder / "site.plan"
    api.plan(folder / "site.yaml", out=plan)
    data = site_data()
    data["pools"]["workers"]["machines"][1]["ip"] = "192.168.77.22"
    (folder / "site.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PlanFileError, match=r"is stale: the site file changed since the plan was made"):
        api.apply(plan)

    api.plan(folder / "site.yaml", out=plan)
    monkeypatch.setattr(planfile, "tree_digest", lambda root: "another kprov's templates")
    with pytest.raises(PlanFileError, match=r"is stale: the Terraform modules and templates kprov renders"):
        api.apply(plan)
    assert not (folder / ".kprov" / "lab" / "terraform" / "terraform.tfstate").exists()  # nothing applied


def test_another_sites_plan_and_an_edited_or_cut_plan_file_are_refused(write_site: Callable[..., Path]) -> None:
    folder = _job_folder(write_site)
    rc, _, stderr = kprov("plan", "site.yaml", "--out", "site.plan", cwd=folder)
    assert rc == 0, stderr
    text = (folder / "site.plan").read_text()

    (folder / "site.plan").write_text(text.replace('"create"', '"delete"', 1))
    rc, events, stderr = kprov("apply", "site.plan", cwd=folder)
    assert rc == ExitCode.USAGE and "changed after `kprov plan` wrote it (checksum mismatch)" in stderr
    assert events[-1]["data"]["exit_code"] == ExitCode.USAGE

    (folder / "site.plan").write_text(text[: len(text) // 2])
    rc, _, stderr = kprov("apply", "site.plan", cwd=folder)
    assert rc == ExitCode.USAGE and "not a kprov plan file, or cut short" in stderr

    (folder / "site.plan").write_text(text)
    other = site_data()
    other["metadata"]["name"] = "other"
    (folder / "site.yaml").write_text(yaml.safe_dump(other, sort_keys=False))
    rc, _, stderr = kprov("apply", "site.plan", cwd=folder)
    assert rc == ExitCode.USAGE and "site.plan is a plan for site lab, not other" in stderr

    rc, _, stderr = kprov("apply", "nothing.plan", cwd=folder)
    assert rc == ExitCode.USAGE and "no such plan file" in stderr


def test_bootstrap_needs_machines_first(write_site: Callable[..., Path]) -> None:
    folder = _job_folder(write_site)
    rc, events, stderr = kprov("bootstrap", "site.yaml", cwd=folder)
    assert rc == ExitCode.NOT_BUILT and "has no machines yet: `kprov apply PLAN` (or `kprov up`) first" in stderr
    assert events[-1]["data"]["exit_code"] == ExitCode.NOT_BUILT
