"""This machine's LXD through its unix socket: the few REST calls kprov makes (doctor's checks and repairs,
snapshot revert), with LXD's asynchronous operations waited for. Errors are :class:`InfrastructureError`
carrying LXD's own message."""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from kprov.errors import InfrastructureError


def socket_path() -> Path:
    """The local LXD's socket: ``$LXD_DIR``, Debian's ``/var/lib/lxd`` or the snap's."""
    bases = [os.environ["LXD_DIR"]] if os.environ.get("LXD_DIR") else ["/var/lib/lxd", "/var/snap/lxd/common/lxd"]
    sockets = [Path(b) / "unix.socket" for b in bases]
    return next((s for s in sockets if s.exists()), sockets[0])


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("lxd", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.unix_path))
        self.sock = sock


class LocalLxd:
    """The LXD REST API on ``path`` (default: :func:`socket_path`)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or socket_path()

    def request(self, method: str, url: str, body: Any = None, *, timeout: float = 10) -> tuple[int, dict[str, Any]]:
        """One call: (HTTP status, the whole JSON answer). OSError when the socket does not answer."""
        conn = _UnixConnection(self.path, timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {} if payload is None else {"Content-Type": "application/json"}
            conn.request(method, url, body=payload, headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read() or b"{}")
            return response.status, answer if isinstance(answer, dict) else {}
        finally:
            conn.close()

    def get(self, url: str) -> tuple[int, Any]:
        """GET: (HTTP status, the answer's metadata)."""
        status, answer = self.request("GET", url)
        return status, answer.get("metadata")

    def call(self, method: str, url: str, body: Any = None, *, what: str, timeout: float = 300) -> Any:
        """A call that changes something, waited for when LXD runs it as an operation; its metadata."""
        try:
            status, answer = self.request(method, url, body)
            if answer.get("type") == "async":
                op = str(answer.get("operation", ""))
                status, answer = self.request("GET", f"{op}/wait?timeout={int(timeout)}", timeout=timeout + 10)
                meta = answer.get("metadata") or {}
                if status == 200 and meta.get("status") != "Success":
                    raise InfrastructureError(f"{what}: LXD: {meta.get('err') or meta.get('status')}")
        except OSError as exc:
            raise InfrastructureError(f"{what}: LXD does not answer on {self.path} ({exc})") from exc
        if status >= 400 or answer.get("type") == "error":
            raise InfrastructureError(f"{what}: LXD: {answer.get('error') or f'HTTP {status}'}")
        return answer.get("metadata")
