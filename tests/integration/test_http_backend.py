"""`state: {backend: http}` (GitLab's managed Terraform state) with the real terraform against an http backend
on loopback: state and locks go to the server, authenticated with a password that comes from the environment
and is written nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from kprov.engine.stage import Session
from kprov.engine.workdir import Workdir
from kprov.events import Events
from kprov.render import render
from kprov.site.load import load_site
from tests import remote_state
from tests.conftest import site_data

PASSWORD = "state-pw-5be1c0"


@pytest.fixture
def backend() -> Iterator[tuple[str, dict[str, Any]]]:
    with remote_state.http_state("ci", PASSWORD) as served:
        yield served


def test_state_goes_to_the_http_backend_with_a_password_from_env(write_site, backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url, store = backend
    monkeypatch.setenv("KPROV_TEST_STATE_PW", PASSWORD)
    data = site_data()
    data["state"] = {"backend": "http", "address": url, "lock_address": f"{url}/lock",
                     "unlock_address": f"{url}/lock", "username": "ci", "password": {"env": "KPROV_TEST_STATE_PW"}}
    site = write_site(data)
    loaded = load_site(site)
    workdir = Workdir.for_site(site, loaded.name)
    render(loaded, workdir)
    assert 'backend "http" {}' in (workdir.terraform / "main.tf").read_text()
    tf = Session(loaded=loaded, workdir=workdir, events=Events(), command="test").terraform()
    tf.init()
    tf.apply()
    assert store["state"] and b'"terraform_data"' in store["state"]
    assert store["locks"] >= 1 and store["unlocks"] >= 1
    assert store["auth"] and all(store["auth"])
    assert not (workdir.terraform / "terraform.tfstate").exists()
    written = "".join(p.read_text(errors="replace") for p in site.parent.rglob("*") if p.is_file())
    assert PASSWORD not in written
    assert yaml.safe_load(site.read_text())["state"]["password"] == {"env": "KPROV_TEST_STATE_PW"}
