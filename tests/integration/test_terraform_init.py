"""A failed ``terraform init`` (a provider the configured mirror does not have) is reported whole: the error
names the provider and what Terraform's installer said, and the run's ``terraform-init.jsonl`` log is JSON lines
holding all of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kprov.tools.terraform import Terraform, TerraformError


def test_a_failed_init_names_the_provider_and_keeps_the_whole_error(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    config = tmp_path / "terraformrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text('terraform {\n  required_providers {\n    nope = {\n      source  = "example/nope"\n'
                                  '      version = "1.2.3"\n    }\n  }\n}\n')
    logs = tmp_path / "logs"
    logs.mkdir()
    tf = Terraform(root, log_dir=logs)
    with pytest.raises(TerraformError) as raised:
        tf.init()
    message = str(raised.value)
    assert message.startswith("terraform init failed: ")
    assert "example/nope" in message
    lines = (logs / "terraform-init.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON
    details = [r["diagnostic"]["detail"] for r in records if r.get("type") == "diagnostic"]
    assert details and "example/nope" in details[0]
    assert raised.value.diagnostics[0].detail == details[0]  # the whole detail, not its first line
