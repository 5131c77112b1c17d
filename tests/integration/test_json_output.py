"""Every command's failure paths with ``--output json`` (given before or after the subcommand): stdout holds only
JSON lines, an ``error`` event carries what stderr says (a site file's problems as data, with file, line and
column), and the stream ends with one ``result`` event whose ``data.exit_code`` is the process's documented exit
code. A pipeline can rely on that whatever went wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov.exitcodes import ExitCode
from tests.conftest import site_data

BAD_SITE = "apiVersion: kprov.io/v1alpha1\nkind: Site\nmetadata: {name: x}\nbogus: 1\n"


def _run(*args: str, cwd: Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, check=False, timeout=120)
    events = []
    for line in proc.stdout.splitlines():
        events.append(json.loads(line))  # nothing but JSON lines on stdout
    return proc.returncode, events, proc.stderr


@pytest.fixture
def sites(tmp_path: Path, write_site: Callable[..., Path]) -> Path:
    write_site()  # site.yaml: valid, never brought up
    (tmp_path / "id_lab.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n")
    (tmp_path / "bad.yaml").write_text(BAD_SITE)
    secret = site_data()
    secret["state"] = {"backend": "http", "address": "http://127.0.0.1:9/state", "username": "ci",
                       "password": {"env": "KPROV_TEST_NO_SUCH_SECRET"}}
    (tmp_path / "secret.yaml").write_text(yaml.safe_dump(secret, sort_keys=False))
    (tmp_path / "adir.yaml").mkdir()
    return tmp_path


FAILURES: list[tuple[list[str], ExitCode]] = [
    (["validate", "bad.yaml"], ExitCode.INVALID_SITE),
    (["plan", "bad.yaml"], ExitCode.INVALID_SITE),
    (["up", "bad.yaml"], ExitCode.INVALID_SITE),
    (["validate", "missing.yaml"], ExitCode.INVALID_SITE),
    (["validate", "adir.yaml"], ExitCode.INVALID_SITE),
    (["nosuch"], ExitCode.USAGE),
    (["up"], ExitCode.USAGE),
    (["init", "--target", "nope"], ExitCode.USAGE),
    (["ssh", "site.yaml", "nope"], ExitCode.USAGE),
    (["replace", "--yes", "site.yaml", "nope"], ExitCode.USAGE),
    (["scale", "--yes", "site.yaml"], ExitCode.NOT_BUILT),
    (["upgrade", "--yes", "--to", "1.35.4", "site.yaml"], ExitCode.NOT_BUILT),
    (["snapshot", "revert", "site.yaml", "nope", "--yes"], ExitCode.NOT_BUILT),
    (["snapshot", "create", "site.yaml", "bad name"], ExitCode.USAGE),
    (["etcd", "snapshot", "site.yaml"], ExitCode.NOT_BUILT),
    (["down", "site.yaml"], ExitCode.USAGE),
    (["power", "site.yaml", "cp1", "status"], ExitCode.USAGE),
    (["kubeconfig", "site.yaml"], ExitCode.NOT_BUILT),
    (["verify", "site.yaml"], ExitCode.NOT_BUILT),
    (["ssh", "site.yaml", "cp1", "--", "true"], ExitCode.NOT_BUILT),
]


def _check(rc: int, events: list[dict[str, Any]], stderr: str, expected: ExitCode) -> None:
    assert rc == expected, stderr
    assert events, f"nothing on stdout; stderr: {stderr}"
    assert events[-1]["event"] == "result" and events[-1]["data"]["exit_code"] == rc
    assert events[-1]["data"]["ok"] is False
    assert [e["event"] for e in events].count("result") == 1
    errors = [e for e in events if e["event"] in ("error", "stage_failed")]
    assert errors and all(e["message"] for e in errors)


@pytest.mark.parametrize(("args", "expected"), FAILURES, ids=[" ".join(a) for a, _ in FAILURES])
def test_every_failure_ends_the_json_stream_with_its_exit_code(args: list[str], expected: ExitCode,
                                                               sites: Path) -> None:
    rc, events, stderr = _run("--output", "json", *args, cwd=sites)
    _check(rc, events, stderr, expected)


def test_the_options_work_after_the_subcommand_and_problems_come_as_data(sites: Path) -> None:
    rc, events, stderr = _run("validate", "bad.yaml", "-o", "json", cwd=sites)
    _check(rc, events, stderr, ExitCode.INVALID_SITE)
    error = next(e for e in events if e["event"] == "error")
    assert {"file": "bad.yaml", "line": 4, "col": 1, "path": "bogus", "message": "unknown key"} in \
        error["data"]["problems"]
    assert error["data"]["lines"] == stderr.splitlines()  # the same lines a person sees
    rc, events, _ = _run("validate", "site.yaml", "--output=json", cwd=sites)
    assert rc == 0 and events[-1]["event"] == "result"
    assert events[-1]["data"] == {"valid": True, "nodes": 3, "warnings": events[-1]["data"]["warnings"],
                                  "exit_code": 0, "ok": True}
    help_text = subprocess.run([sys.executable, "-m", "kprov", "status", "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--output" in help_text and "--verbose" in help_text


def test_a_missing_secret_is_a_setting_of_the_users_not_a_bug(sites: Path) -> None:
    rc, events, stderr = _run("plan", "secret.yaml", "-o", "json", cwd=sites)
    _check(rc, events, stderr, ExitCode.INVALID_SITE)
    assert "KPROV_TEST_NO_SUCH_SECRET" in stderr


def test_status_writes_its_report_to_stdout(sites: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kprov", "status", "site.yaml"], capture_output=True, text=True,
                          cwd=sites, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "last success" in proc.stdout and "last success" not in proc.stderr


def test_a_command_whose_answer_is_a_document_puts_it_in_its_result(sites: Path) -> None:
    for args, key in ((["schema", "--events"], "schema"), (["init", "--target", "static"], "example")):
        rc, events, stderr = _run("-o", "json", *args, cwd=sites)  # only JSON lines on stdout (parsed above)
        assert rc == 0, stderr
        assert [e["event"] for e in events] == ["result"] and events[0]["data"]["exit_code"] == 0
        assert events[0]["data"][key]
    plain = subprocess.run([sys.executable, "-m", "kprov", "schema", "--events"], capture_output=True, text=True,
                           cwd=sites, check=True)
    assert json.loads(plain.stdout)["title"].startswith("kprov event")  # without -o json: the document itself
