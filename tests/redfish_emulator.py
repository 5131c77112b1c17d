"""sushy-tools' Redfish emulator on loopback with HTTP basic auth, for the BMC tests (fake driver) and the lab's
PXE test (libvirt driver, see ``tests/lab/vm.py``)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import bcrypt
import requests


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on right now (TCP, or UDP with ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedfishEmulator:
    """``sushy-emulator`` with ``config`` lines (driver settings) added to its auth file and state folder."""

    def __init__(self, root: Path, *, user: str, password: str, config: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, start_timeout: float = 60) -> None:
        self.root, self.user, self.password = root, user, password
        self.config, self.env, self.start_timeout = list(config), env, start_timeout
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedfishEmulator:
        self.root.mkdir(parents=True, exist_ok=True)
        # few bcrypt rounds: the emulator checks the password on every request
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4))
        (self.root / "htpasswd").write_bytes(self.user.encode() + b":" + hashed + b"\n")
        config = [f"SUSHY_EMULATOR_AUTH_FILE = {str(self.root / 'htpasswd')!r}",
                  f"SUSHY_EMULATOR_STATE_DIR = {str(self.root / 'state')!r}", *self.config]
        (self.root / "config.py").write_text("\n".join(config) + "\n")
        self._log = (self.root / "emulator.log").open("w")
        self._proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "sushy-emulator"), "--config", str(self.root / "config.py"),
             "-i", "127.0.0.1", "-p", str(self.port)], stdout=self._log, stderr=self._log,
            env=dict(self.env) if self.env is not None else None, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.base_url}/redfish/v1/", timeout=2).status_code < 500:
                    return self
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"sushy-emulator did not start: {(self.root / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.3)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
