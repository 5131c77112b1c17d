"""The event format is documented and checked: docs/event.schema.json and docs/impact.schema.json are what kprov
generates, docs/events.md and the README name exactly the kinds kprov has, and the check the suite runs over
every recorded event (tests/conftest.py) finds a bad one."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

from kprov import api
from kprov.events import Event
from kprov.eventschema import Kind
from tests.conftest import invalid_events

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_files_are_what_kprov_generates() -> None:
    assert json.loads((ROOT / "docs" / "event.schema.json").read_text()) == api.schema(events=True)
    assert json.loads((ROOT / "docs" / "impact.schema.json").read_text()) == api.schema(impact=True)


def test_the_schema_file_itself_accepts_an_event_and_refuses_a_wrong_one() -> None:
    import jsonschema  # noqa: PLC0415

    schema = json.loads((ROOT / "docs" / "event.schema.json").read_text())
    jsonschema.validate(json.loads(Event("ssh", "stage_interrupted", "x", None, {"signal": "SIGTERM"}).as_json()),
                        schema)
    for wrong in (Event("ssh", "stage_oops").as_json(), Event("SSH", "info").as_json(),
                  Event("ssh", "info").as_json().replace('"data": {}', '"data": []')):
        try:
            jsonschema.validate(json.loads(wrong), schema)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"the schema accepted {wrong}")


def test_the_docs_and_the_readme_name_exactly_the_kinds() -> None:
    kinds = set(typing.get_args(Kind))
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs" / "events.md").read_text(), re.M))
    assert documented - {"ts", "stage", "event", "host", "message", "data"} == kinds
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `event` | string |"))
    assert set(re.findall(r"`([a-z_]+)`", row)) - {"event", "report", "doctor"} == kinds


def test_the_suite_wide_check_finds_an_event_that_does_not_fit(tmp_path: Path) -> None:
    good = Event("infra", "stage_start", "terraform init, plan, apply")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "sample-events.jsonl").write_text("\n".join([
        good.as_json(),
        Event("verify", "check", "ok", "cp1", {"ok": True}).as_json(),  # no data.check
        Event("infra", "stage_oops").as_json(),  # no such kind
        good.as_json().replace('"host": null, ', ""),  # a field missing
    ]) + "\n")
    bad = invalid_events(tmp_path, "sample-events.jsonl")  # (not named as runs' are: the suite-wide check skips it)
    assert [b.split(": ", 1)[0].rsplit(":", 1)[1] for b in bad] == ["2", "3", "4"]
    assert "a check event without data.check" in bad[0]
