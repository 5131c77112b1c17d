"""Terraform state in a remote backend, against real servers on loopback: S3 (moto_server: an S3 lock file, and
a DynamoDB lock table) and PostgreSQL (advisory locks). Credentials come from the environment through the site's
secret references and reach Terraform only there. The state lives on the server (the local Terraform folder can
go), and a second writer waits for the lock `--lock-timeout` seconds, then fails with exit 7 naming the holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kprov.exitcodes import ExitCode
from kprov.site.model import StateBackend
from kprov.tools.terraform import Terraform
from tests import remote_state
from tests.conftest import site_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n"
SECRET = "s3-secret-9d41c7e2"
PG_PASSWORD = "pg-pass-57ac0e13"

HOLDER = """
terraform {
  backend "%s" {}
}

resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 120"
  }
}
"""


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with remote_state.moto() as url:
        yield url


SECRETS = {"KPROV_TEST_S3_KEY": "AKIAKPROVTEST", "KPROV_TEST_S3_SECRET": SECRET, "KPROV_TEST_PG_PASSWORD": PG_PASSWORD}


@pytest.fixture(autouse=True)
def secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def _env(**more: str) -> dict[str, str]:
    return {**os.environ, **SECRETS, **more}


def kprov(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([sys.executable, "-m", "kprov", "-o", "json", *args], capture_output=True, text=True,
                          cwd=folder, stdin=subprocess.DEVNULL, check=False, timeout=300, env=env or _env())
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def _site(write_site: Callable[..., Path], state: dict[str, Any], name: str = "lab") -> Path:
    data = site_data()
    data["metadata"]["name"] = name
    data["state"] = state
    site = write_site(data)
    (site.parent / "id_lab.pub").write_text(KEY)
    return site


def _s3_state(url: str, bucket: str, **more: Any) -> dict[str, Any]:
    assert remote_state.s3_request(f"{url}/{bucket}", "PUT")[0] == 200
    return {"backend": "s3", "bucket": bucket, "endpoint": url, "path_style": True,
            "access_key": {"env": "KPROV_TEST_S3_KEY"}, "secret_key": {"env": "KPROV_TEST_S3_SECRET"}, **more}


def _apply(site: Path) -> None:
    rc, _, stderr = kprov(site.parent, "plan", "site.yaml", "--out", "site.plan")
    assert rc == 0, stderr
    rc, events, stderr = kprov(site.parent, "apply", "site.plan")
    assert rc == 0, stderr
    assert [e["stage"] for e in events if e["event"] == "stage_done"] == ["review", "infra", "inventory"]


def _survives_losing_the_local_terraform_folder(site: Path) -> None:
    terraform = site.parent / ".kprov" / "lab" / "terraform"
    assert not (terraform / "terraform.tfstate").exists()  # never kept here
    subprocess.run(["rm", "-rf", str(terraform)], check=True)
    rc, events, stderr = kprov(site.parent, "plan", "site.yaml")
    assert rc == 0, stderr
    assert any(e["event"] == "info" and e["message"] == "terraform: no changes" for e in events)


def _nowhere_on_disk(folder: Path, *secrets: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and ".terraform" not in path.parts:
            text = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in text, f"{secret} in {path}"


def test_s3_with_a_lock_file_keeps_the_state_on_the_server(s3: str, write_site: Callable[..., Path]) -> None:
    site = _site(write_site, _s3_state(s3, "kprov-state"))
    _apply(site)
    status, body = remote_state.s3_request(f"{s3}/kprov-state/kprov/lab/terraform.tfstate")
    assert status == 200
    assert {r["type"] for r in json.loads(body)["resources"]} == {"terraform_data"}
    _survives_losing_the_local_terraform_folder(site)
    _nowhere_on_disk(site.parent, SECRET)


def test_s3_with_a_dynamodb_lock_table(s3: str, write_site: Callable[..., Path]) -> None:
    request = json.dumps({"TableName": "kprov-locks", "BillingMode": "PAY_PER_REQUEST",
                          "AttributeDefinitions": [{"AttributeName": "LockID", "AttributeType": "S"}],
                          "KeySchema": [{"AttributeName": "LockID", "KeyType": "HASH"}]}).encode()
    req = remote_state.urllib.request.Request(s3, data=request, method="POST", headers={
        "X-Amz-Target": "DynamoDB_20120810.CreateTable", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": remote_state.AUTH.format(service="dynamodb")})
    with remote_state.urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    site = _site(write_site, _s3_state(s3, "kprov-ddb", lock="dynamodb", dynamodb_table="kprov-locks"))
    _apply(site)
    status, _ = remote_state.s3_request(f"{s3}/kprov-ddb/kprov/lab/terraform.tfstate")
    assert status == 200


@contextmanager
def lock_held(root: Path, state: dict[str, Any], site: str) -> Iterator[subprocess.Popen[str]]:
    """Another writer of the same state: a plain `terraform apply` whose provisioner sleeps, holding the lock."""
    backend = StateBackend.model_validate(state)
    root.mkdir()
    (root / "main.tf").write_text(HOLDER % backend.backend)
    env = {**_env(), **backend.environment(root)}
    Terraform(root, env=backend.environment(root)).init(backend_config=backend.backend_config(site))
    proc = subprocess.Popen(["terraform", "apply", "-auto-approve", "-input=false", "-no-color"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:  # the provisioner runs: the lock is taken
        if "Provisioning with 'local-exec'" in line:
            break
        assert time.monotonic() < deadline, line
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Terraform stops cleanly and releases the lock
            proc.wait(timeout=60)


def _second_writer_waits_then_names_the_holder(site: Path, state: dict[str, Any], tmp_path: Path) -> None:
    with lock_held(tmp_path / "holder", state, "lab"):
        started = time.monotonic()
        rc, events, stderr = kprov(site.parent, "--lock-timeout", "3", "up", "--force", "site.yaml")  # a second apply
        took = time.monotonic() - started
    assert rc == ExitCode.LOCKED, stderr
    assert [e["stage"] for e in events if e["event"] == "stage_failed"] == ["infra"]
    assert "the Terraform state is locked by another process (who " in stderr and ", lock ID " in stderr
    assert "waited 3 s (--lock-timeout)" in stderr
    assert took >= 3
    assert events[-1]["data"]["exit_code"] == ExitCode.LOCKED
    rc, _, stderr = kprov(site.parent, "plan", "site.yaml")  # released: the next one goes through
    assert rc == 0, stderr


def test_a_second_writer_of_s3_state_waits_then_fails_naming_the_holder(
        s3: str, write_site: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> None:
    state = _s3_state(s3, "kprov-locked")
    site = _site(write_site, state)
    _second_writer_waits_then_names_the_holder(site, state, tmp_path_factory.mktemp("holder"))


def test_pg_keeps_the_state_in_the_database_and_locks_it(write_site: Callable[..., Path],
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    with remote_state.postgres(PG_PASSWORD) as url:
        state = {"backend": "pg", "address": url, "password": {"env": "KPROV_TEST_PG_PASSWORD"}}
        site = _site(write_site, state)
        _apply(site)
        _survives_losing_the_local_terraform_folder(site)
        _second_writer_waits_then_names_the_holder(site, state, tmp_path_factory.mktemp("holder"))
        _nowhere_on_disk(site.parent, PG_PASSWORD)


def test_unlock_breaks_the_lock_a_killed_writer_left_after_naming_it(
        s3: str, write_site: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> None:
    state = _s3_state(s3, "kprov-stale")
    site = _site(write_site, state)
    rc, _, stderr = kprov(site.parent, "unlock", "--yes", "site.yaml")
    assert rc == ExitCode.USAGE and "is not locked: nothing to unlock" in stderr
    with lock_held(tmp_path_factory.mktemp("holder") / "holder", state, "lab") as holder:
        os.killpg(holder.pid, signal.SIGKILL)  # a CI job killed hard: its lock stays in the bucket
        holder.wait(timeout=10)
    rc, _, stderr = kprov(site.parent, "--lock-timeout", "1", "plan", "site.yaml")
    assert rc == ExitCode.LOCKED and "`kprov unlock` breaks the lock" in stderr
    rc, _, stderr = kprov(site.parent, "unlock", "site.yaml")  # no terminal to ask on
    assert rc == ExitCode.USAGE and "refusing to break the lock without confirmation" in stderr
    rc, events, stderr = kprov(site.parent, "unlock", "--yes", "site.yaml")
    assert rc == 0, stderr
    broke = next(e for e in events if e["event"] == "info" and e["stage"] == "unlock")
    assert broke["message"].startswith("broke the lock of who ") and "OperationTypeApply" in broke["message"]
    rc, _, stderr = kprov(site.parent, "--lock-timeout", "1", "plan", "site.yaml")
    assert rc == 0, stderr


def test_a_backend_that_does_not_answer_is_named_with_its_address(write_site: Callable[..., Path]) -> None:
    port = remote_state.free_port()  # nothing listens there
    address = f"postgres://kprov@127.0.0.1:{port}/kprov?sslmode=disable"
    site = _site(write_site, {"backend": "pg", "address": address, "password": {"env": "KPROV_TEST_PG_PASSWORD"}})
    rc, events, stderr = kprov(site.parent, "plan", "site.yaml")
    assert rc == ExitCode.INFRASTRUCTURE, stderr
    assert f"127.0.0.1:{port}" in stderr and "terraform init failed" in stderr
    assert events[-1]["data"]["exit_code"] == ExitCode.INFRASTRUCTURE


def test_a_key_of_another_backend_is_refused_at_its_line(write_site: Callable[..., Path]) -> None:
    site = _site(write_site, {"backend": "pg", "address": "postgres://kprov@db/kprov", "bucket": "state"})
    rc, _, stderr = kprov(site.parent, "validate", "site.yaml")
    assert rc == ExitCode.INVALID_SITE
    assert "site.yaml:" in stderr and "'bucket' applies to backend: s3 only" in stderr
    site = _site(write_site, {"backend": "s3", "bucket": "state", "endpoint": "http://127.0.0.1:9", "buckett": "x"})
    rc, _, stderr = kprov(site.parent, "validate", "site.yaml")
    assert rc == ExitCode.INVALID_SITE and "buckett: unknown key" in stderr and "bucket" in stderr
