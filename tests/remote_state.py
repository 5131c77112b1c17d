"""Real state servers for the remote-backend tests, on loopback: `moto_server` (S3 and DynamoDB, from PyPI's
moto in a venv of its own: its botocore pins an older python-dateutil than the kubernetes client kprov uses) and
Debian's PostgreSQL as a cluster of its own in a temporary folder, run as the `postgres` user."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MOTO_VENV = Path(os.environ.get("KPROV_TEST_MOTO_VENV", "/var/cache/kprov-moto"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port}")


def moto_binary() -> Path:
    """`moto_server` from its own venv, made (once per machine) if missing."""
    binary = MOTO_VENV / "bin" / "moto_server"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MOTO_VENV)], check=True)
        subprocess.run([str(MOTO_VENV / "bin" / "pip"), "install", "--quiet", "moto[server]>=5"], check=True)
    return binary


@contextmanager
def moto() -> Iterator[str]:
    """A moto server; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([str(moto_binary()), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port(port, proc, "moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


AUTH = ("AWS4-HMAC-SHA256 Credential=AKIAKPROVTEST/20261202/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0")
"""moto does not check signatures, but wants the credential's account: a request signed with nothing."""


def s3_request(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Authorization": AUTH.format(service="s3")})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@contextmanager
def postgres(password: str) -> Iterator[str]:
    """A PostgreSQL cluster of its own (password authentication on loopback) in a folder the `postgres` user
    owns (pytest's are root's alone); yields a connection URL without the password, for the database `kprov`
    of the user `kprov`."""
    if not (PG_BIN / "initdb").exists():
        raise FileNotFoundError("Debian's postgresql is needed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="kprov-pg-"))
    data, sockets = root / "pgdata", root / "pgsock"
    sockets.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sockets, "postgres")
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    shutil.chown(pwfile, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "kprov", "--pwfile", str(pwfile),
                    "--auth-host=scram-sha-256", "--auth-local=trust"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*as_postgres, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k",
                             str(sockets), "-h", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_port(port, proc, "postgres")
        subprocess.run([*as_postgres, str(PG_BIN / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "kprov",
                        "kprov"], check=True, capture_output=True)
        yield f"postgres://kprov@127.0.0.1:{port}/kprov?sslmode=disable"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # runuser and the postmaster under it
        proc.wait(timeout=20)
        shutil.rmtree(root, ignore_errors=True)


class _HttpState(BaseHTTPRequestHandler):
    """Terraform's http backend as GitLab's managed state answers it: GET/POST the state, POST/DELETE a lock."""

    store: dict[str, Any]
    user: str
    password: str

    def log_message(self, *args: object) -> None:
        pass

    def _auth(self) -> bool:
        want = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
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


@contextmanager
def http_state(user: str, password: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """An http state backend on loopback (basic auth); yields its state URL and what it holds and saw."""
    store: dict[str, Any] = {"state": None, "locks": 0, "unlocks": 0, "auth": []}
    handler = type("Handler", (_HttpState,), {"store": store, "user": user, "password": password})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/state/lab", store
    finally:
        server.shutdown()
