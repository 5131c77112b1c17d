"""examples/ci/Jenkinsfile, checked by the strongest means here: no Jenkins can be installed (it is on none of
this machine's registries), so Debian's Groovy parses the file and runs it against a recording stand-in of the
declarative pipeline DSL (tests/jenkins/pipeline_dsl.groovy). The stages it declares must be the GitLab
example's jobs with the same kprov commands, with an approval `input` between plan and apply, one build at a time
per site, and the JUnit report published whatever happens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"


def _groovy_env() -> dict[str, str]:
    """Debian's groovy looks for /usr/lib/jvm/default-java; point it at the java on PATH when that is missing."""
    env = dict(os.environ)
    java = shutil.which("java")
    if java and not Path("/usr/lib/jvm/default-java/bin/java").exists():
        env["JAVA_HOME"] = str(Path(java).resolve().parents[1])
    return env


def declared(jenkinsfile: Path) -> list[dict[str, Any]]:
    if shutil.which("groovy") is None:
        pytest.fail("Debian's groovy is needed (apt-get install groovy; .ci/run installs it)")
    proc = subprocess.run(["groovy", str(ROOT / "tests" / "jenkins" / "pipeline_dsl.groovy"), str(jenkinsfile)],
                          capture_output=True, text=True, env=_groovy_env(), check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    calls: list[dict[str, Any]] = json.loads(proc.stdout)
    return calls


def _step(calls: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in calls if c["step"] == name)


def _all(calls: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    out = []
    for c in calls:
        if c["step"] == name:
            out.append(c)
        out += _all(c.get("body", []), name)
    return out


def test_the_jenkinsfile_runs_the_gitlab_examples_commands_with_an_approval_gate() -> None:
    pipeline = _step(declared(CI / "Jenkinsfile"), "pipeline")["body"]
    options = [c["step"] for c in _step(pipeline, "options")["body"]]
    assert "disableConcurrentBuilds" in options and "lock" in options
    stages = [(s["args"][0], s) for s in _step(pipeline, "stages")["body"]]
    assert [name for name, _ in stages] == ["validate", "plan", "approve", "apply", "bootstrap", "verify"]
    assert _all([dict(stages)["approve"]], "input"), "no approval between plan and apply"

    gitlab = yaml.safe_load((CI / ".gitlab-ci.yml").read_text().replace("!reference", ""))
    for name, stage in stages:
        if name == "approve":
            continue
        commands = [c["args"][0] for c in _all([stage], "sh") if c["args"][0].startswith("$KPROV ")]
        assert commands, name
        assert commands == [line for line in gitlab[name]["script"] if line.startswith("$KPROV ")], name
    assert gitlab["apply"]["when"] == "manual"  # the same gate in GitLab

    junit = _all(_step(pipeline, "post")["body"], "junit")
    assert junit and junit[0]["args"][0]["testResults"] == "report.xml"


def test_a_broken_jenkinsfile_fails_the_check(tmp_path: Path) -> None:
    broken = tmp_path / "Jenkinsfile"
    broken.write_text((CI / "Jenkinsfile").read_text().replace("stage('plan') {", "stage('plan') {{", 1))
    proc = subprocess.run(["groovy", str(ROOT / "tests" / "jenkins" / "pipeline_dsl.groovy"), str(broken)],
                          capture_output=True, text=True, env=_groovy_env(), check=False, timeout=120)
    assert proc.returncode != 0
