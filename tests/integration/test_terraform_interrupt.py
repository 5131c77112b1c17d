"""Ctrl-C during apply: kprov forwards one SIGINT to Terraform, which stops cleanly, saves state and releases its
lock; kprov then reports an interruption (exit 130). Real terraform, real signal."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")

MAIN_TF = """
resource "terraform_data" "quick" {
  input = "done"
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.quick]
  provisioner "local-exec" {
    command = "sleep 60"
  }
}
"""

DRIVER = """
import sys
from pathlib import Path
from kprov.errors import Interrupted
from kprov.events import Events, JsonSink
from kprov.tools.terraform import Terraform

tf = Terraform(Path(sys.argv[1]), events=Events([JsonSink()]))
tf.init()
try:
    tf.apply()
except Interrupted as exc:
    print(str(exc), file=sys.stderr)
    sys.exit(int(exc.exit_code))
"""


def test_sigint_is_forwarded_once_and_state_is_saved(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(MAIN_TF)
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        event = json.loads(line)
        if event["data"].get("resource") == "terraform_data.slow" and event["data"]["tf_type"] == "apply_start":
            break
        assert time.monotonic() < deadline
    time.sleep(1)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 30, "Terraform did not stop on the forwarded SIGINT"
    assert "interrupted; state was saved" in err
    assert "Ctrl-C" not in rest  # one SIGINT only: Terraform stopped gracefully, it did not abort
    state = json.loads((tmp_path / "terraform.tfstate").read_text())
    status = {r["name"]: r["instances"][0].get("status") for r in state["resources"]}
    assert status == {"quick": None, "slow": "tainted"}  # the interrupted provisioner taints; the next apply redoes it
    assert not (tmp_path / ".terraform.tfstate.lock.info").exists()
