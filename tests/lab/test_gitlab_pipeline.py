"""The GitLab example (examples/ci/.gitlab-ci.yml) run job by job by `gitlab-ci-local` with its shell executor,
each job in its own copy of the repository (--shell-isolation: only artifacts pass between jobs), the manual
`apply` job triggered explicitly, against lab nodes (static target, the Kubespray stand-in), with Terraform state
in an http backend that answers as GitLab's managed state does. The pipeline ends with a JUnit report that
junitparser reads: one test case per node and check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from junitparser import JUnitXml

from tests import remote_state
from tests.conftest import STANDIN
from tests.lab.nodes import Lab

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "glcbt-kprov-test-4c1d09e6"
GITLAB_CI_LOCAL = "4.65.1"  # the newest that runs on Debian 12's Node.js 20


def _gitlab_ci_local() -> str:
    found = shutil.which("gitlab-ci-local")
    if found is None:
        subprocess.run(["npm", "install", "--global", "--silent", f"gitlab-ci-local@{GITLAB_CI_LOCAL}"], check=True)
        found = shutil.which("gitlab-ci-local")
    assert found is not None
    return found


def _repository(root: Path, lab: Lab, state_url: str) -> Path:
    """A project repository as a user would commit it: the example pipeline and site file, the site made to
    point at the lab nodes, the stand-in and the local state server."""
    repo = root / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "examples" / "ci" / ".gitlab-ci.yml", repo / ".gitlab-ci.yml")
    site = yaml.safe_load((ROOT / "examples" / "ci" / "site.yaml").read_text())
    site["kubernetes"]["kubespray"] = {"path": str(STANDIN)}
    site["ssh"]["user"] = "root"
    site["network"] = {"cidr": "192.168.77.0/24", "gateway": "192.168.77.1"}
    site["pools"]["control-plane"]["machines"] = [{"name": "cp1", "ip": lab.node("cp1").ip}]
    site["pools"]["workers"]["machines"] = [{"name": "w1", "ip": lab.node("w1").ip}]
    site["state"].update(address=state_url, lock_address=f"{state_url}/lock", unlock_address=f"{state_url}/lock")
    (repo / "site.yaml").write_text(yaml.safe_dump(site, sort_keys=False))
    key = (repo / "key-for-the-lab")
    shutil.copy(lab.ssh_private_key, key)  # (a real project keeps it in a File variable, KPROV_SSH_KEY)
    origin = "https://gitlab.example.com/ops/site.git"
    for argv in (["init", "-q", "-b", "main"], ["remote", "add", "origin", origin], ["add", "-A"],
                 ["-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", "site"]):
        subprocess.run(["git", *argv], cwd=repo, check=True)
    return repo


def test_the_gitlab_example_builds_the_site_job_by_job(tmp_path: Path, kprov_cache: Path) -> None:
    gcl = _gitlab_ci_local()
    with Lab(tmp_path / "lab") as lab, remote_state.http_state("gitlab-ci-token", TOKEN) as (url, store):
        lab.start(["cp1", "w1"])
        repo = _repository(tmp_path, lab, url)
        kprov = Path(sys.executable).parent / "kprov"
        env = {**os.environ, "PATH": f"{kprov.parent}{os.pathsep}{os.environ['PATH']}"}
        proc = subprocess.run(
            [gcl, "--shell-isolation", "--artifacts-to-source", "--manual", "apply",
             "--variable", f"KPROV={kprov}", "--variable", f"CI_JOB_TOKEN={TOKEN}",
             "--variable", "KPROV_SSH_KEY=key-for-the-lab", "--variable", f"KPROV_CACHE_DIR={kprov_cache}"],
            cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=1800)
        log = proc.stdout + proc.stderr
        (tmp_path / "pipeline.log").write_text(log)
        assert proc.returncode == 0, log[-5000:]
        passed = re.findall(r"^\s*PASS\s+(\S+)", re.sub(r"\x1b\[[0-9;]*m", "", log), re.M)
        assert passed == ["validate", "plan", "apply", "bootstrap", "verify"], log[-3000:]
        assert store["state"] and b'"terraform_data"' in store["state"]  # the state is GitLab's, not a file
        assert store["locks"] >= 1 and all(store["auth"])
        report = JUnitXml.fromfile(str(repo / "report.xml"))
        cases = [(case.classname, case.name) for suite in report for case in suite]
        assert {c for c, _ in cases} == {"kprov.post-install.cp1", "kprov.post-install.w1"}
        by_node = {node: {n for c, n in cases if c.endswith(f".{node}")} for node in ("cp1", "w1")}
        assert {"kubelet", "kube-apiserver", "etcd", "admin-conf"} <= by_node["cp1"]
        assert {"kubelet", "swap-off"} <= by_node["w1"] and "etcd" not in by_node["w1"]
        assert all(case.is_passed for suite in report for case in suite)
        assert "does not exist" not in log  # every job had the key
        assert TOKEN not in "".join(p.read_text(errors="replace") for p in (repo / ".kprov").rglob("*")
                                    if p.is_file())
