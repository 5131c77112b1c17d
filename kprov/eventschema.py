"""The event format, version 1, as a model: what ``--output json`` prints one per line and each run's
``events.jsonl`` holds. ``kprov schema --events`` prints its JSON Schema, which ``docs/event.schema.json`` is
(a test keeps them equal), and ``docs/events.md`` explains it.

Version 1 promises: the six fields are always there with these types; an event's kind is one of ``KINDS``
(a new kind is a new version); the ``data`` keys listed per kind are always there for that kind (more keys may be
added within a version, never removed or retyped)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kprov.impact import ImpactDocument

VERSION = 1

Kind = Literal["stage_start", "stage_skip", "stage_done", "stage_failed", "stage_interrupted", "progress", "info",
               "warning", "fixed", "drained", "impact", "error", "check", "table", "result"]

REQUIRED_DATA: dict[str, tuple[str, ...]] = {
    "stage_interrupted": ("signal",),
    "check": ("check", "ok"),
    "table": ("title", "columns", "rows"),
    "impact": ("impact",),
    "drained": ("evicted", "left_alone"),
}
"""The ``data`` keys an event of a kind always carries."""


class EventDocument(BaseModel):
    """One event."""

    model_config = ConfigDict(extra="forbid", title=f"kprov event, format {VERSION}")

    ts: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$",
                    description="UTC time, ISO 8601 with milliseconds.")
    stage: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", description="The stage or command the event comes from.")
    event: Kind = Field(description="The kind of event (see docs/events.md).")
    host: str | None = Field(description="The node the event is about, or null.")
    message: str = Field(description="One line for people.")
    data: dict[str, Any] = Field(description="Details; per kind, the keys of REQUIRED_DATA are always there. The "
                                 "final `result` of `--output json` also has `exit_code` and `ok`.")

    @model_validator(mode="after")
    def _data_of_kind(self) -> EventDocument:
        missing = [k for k in REQUIRED_DATA.get(self.event, ()) if k not in self.data]
        if missing:
            raise ValueError(f"a {self.event} event without data.{', data.'.join(missing)}")
        if self.event == "impact":
            ImpactDocument.model_validate(self.data["impact"])
        if self.event == "result" and "exit_code" in self.data and not isinstance(self.data["exit_code"], int):
            raise ValueError("data.exit_code of a result event is an integer")
        return self


def json_schema() -> dict[str, Any]:
    schema = EventDocument.model_json_schema()
    schema["$id"] = f"https://kprov.dev/schemas/event-{VERSION}.json"
    schema["$comment"] = ("Per kind, data always has: " + "; ".join(f"{k}: {', '.join(v)}"
                                                                    for k, v in REQUIRED_DATA.items()))
    return schema
