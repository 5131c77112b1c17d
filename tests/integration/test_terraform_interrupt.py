"""Ctrl-C (SIGINT) or a cancelled CI job (SIGTERM) during apply: kprov forwards one SIGINT to Terraform, which
stops cleanly, saves state and releases its lock; kprov ends what Terraform left in its process group (the
provisioner's command) and reports an interruption (exit 130, or 143 for SIGTERM). Real terraform, real signal."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.processes import marked

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")

MAIN_TF = """
resource "terraform_data" "quick" {
  input = "done"
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.quick]
  provisioner "local-exec" {
    command = "sleep 60 && echo $KPROV_TEST_MARK"
  }
}
"""

DRIVER = """
import sys
from pathlib import Path
from kprov.engine import signals
from kprov.errors import Interrupted
from kprov.events import Events, JsonSink
from kprov.tools.terraform import Terraform

signals.install()
tf = Terraform(Path(sys.argv[1]), events=Events([JsonSink()]))
tf.init()
try:
    tf.apply()
except Interrupted as exc:
    print(str(exc), file=sys.stderr)
    sys.exit(int(exc.exit_code))
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_sigint_is_forwarded_state_is_saved_and_nothing_is_left(tmp_path: Path, signum: int, code: int) -> None:
    (tmp_path / "main.tf").write_text(MAIN_TF)
    mark = f"KPROV_TEST_MARK={uuid.uuid4().hex}"
    env = {**os.environ, "KPROV_TEST_MARK": mark.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        event = json.loads(line)
        if event["data"].get("resource") == "terraform_data.slow" and event["data"]["tf_type"] == "apply_start":
            break
        assert time.monotonic() < deadline
    time.sleep(1)
    started = time.monotonic()
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert time.monotonic() - started < 30, "Terraform did not stop on the forwarded SIGINT"
    assert "interrupted; state was saved" in err
    assert "Ctrl-C" not in rest  # one SIGINT only: Terraform stopped gracefully, it did not abort
    state = json.loads((tmp_path / "terraform.tfstate").read_text())
    status = {r["name"]: r["instances"][0].get("status") for r in state["resources"]}
    assert status == {"quick": None, "slow": "tainted"}  # the interrupted provisioner taints; the next apply redoes it
    assert not (tmp_path / ".terraform.tfstate.lock.info").exists()
    assert marked(mark) == []  # terraform, its provider and the provisioner's sleep are gone
