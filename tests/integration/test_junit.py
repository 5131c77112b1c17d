"""`--junit FILE` on every command: a JUnit report junitparser reads, with a case per stage and per node a stage
acted on, failures carrying what a person needs, and a case for a command that failed before any stage."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from junitparser import JUnitXml

from tests.conftest import site_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n"


def _cases(path: Path) -> dict[tuple[str, str], str | None]:
    """(classname, name) → the failure text, or None for a case that passed ("skipped: ..." when skipped)."""
    out: dict[tuple[str, str], str | None] = {}
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            results = list(case.result)
            text = None
            if results:
                text = ("skipped: " if results[0]._tag == "skipped" else "") + (results[0].text or
                                                                                results[0].message or "")
            out[(case.classname, case.name)] = text
    return out


def _kprov(folder: Path, *args: str) -> int:
    return subprocess.run([sys.executable, "-m", "kprov", *args], cwd=folder, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False, timeout=300).returncode


def test_a_failed_up_reports_each_stage_and_each_unreachable_node(write_site: Callable[..., Path]) -> None:
    data = site_data(nodes=[("cp1", "198.51.100.10", ["control_plane", "etcd"]), ("w1", "198.51.100.11", ["worker"])])
    data["network"] = {"cidr": "198.51.100.0/24", "gateway": "198.51.100.1"}
    data["ssh"]["connect_timeout"] = 1
    site = write_site(data)
    (site.parent / "id_lab.pub").write_text(KEY)
    assert _kprov(site.parent, "up", "site.yaml", "--junit", "up.xml") == 4
    cases = _cases(site.parent / "up.xml")
    assert cases[("kprov.up", "infra")] is None and cases[("kprov.up", "inventory")] is None
    assert "2 node(s) not reachable" in (cases[("kprov.up", "ssh")] or "")
    for node in ("cp1", "w1"):
        assert "unreachable" in (cases[("kprov.up.ssh", node)] or "")
    assert ("kprov.up", "bootstrap") not in cases  # it never started

    assert _kprov(site.parent, "plan", "site.yaml", "--junit", "plan.xml") == 0
    assert _cases(site.parent / "plan.xml") == {("kprov.plan", "plan"): None}


def test_a_command_that_fails_before_any_stage_is_one_failed_case(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: kprov.io/v1alpha1\nkind: Site\nmetadata: {name: x}\nbogus: 1\n")
    assert _kprov(tmp_path, "validate", "bad.yaml", "--junit", "validate.xml") == 3
    failure = _cases(tmp_path / "validate.xml")[("kprov.validate", "validate")] or ""
    assert "bad.yaml:4:1: bogus: unknown key" in failure and "bad.yaml:1:1: ssh: required key is missing" in failure
