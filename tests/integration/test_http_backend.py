"""`state: {backend: http}` (GitLab's managed Terraform state) with the real terraform against an http backend
on loopback: state and locks go to the server, authenticated with a password that comes from the environment
and is written nowhere."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from kprov.engine.stage import Session
from kprov.engine.workdir import Workdir
from kprov.events import Events
from kprov.render import render
from kprov.site.load import load_site
from tests.conftest import site_data

PASSWORD = "state-pw-5be1c0"


class _Backend(BaseHTTPRequestHandler):
    store: dict[str, Any]

    def log_message(self, *args: object) -> None:
        pass

    def _auth(self) -> bool:
        want = "Basic " + base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
        ok = self.headers.get("Authorization") == want
        self.store["auth"].append(ok)
        if not ok:
            self.send_response(401)
            self.end_headers()
        return ok

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if not self._auth():
            return
        state = self.store.get("state")
        self.send_response(200 if state else 404)
        self.end_headers()
        if state:
            self.wfile.write(state)

    def do_POST(self) -> None:
        if not self._auth():
            return
        body = self._body()
        if self.path.endswith("/lock"):
            self.store["locks"] += 1
        else:
            self.store["state"] = body
        self.send_response(200)
        self.end_headers()

    def do_DELETE(self) -> None:
        if not self._auth():
            return
        self._body()
        self.store["unlocks"] += 1
        self.send_response(200)
        self.end_headers()


@pytest.fixture
def backend() -> Iterator[tuple[str, dict[str, Any]]]:
    store: dict[str, Any] = {"state": None, "locks": 0, "unlocks": 0, "auth": []}
    handler = type("Handler", (_Backend,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/state/lab", store
    server.shutdown()


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
