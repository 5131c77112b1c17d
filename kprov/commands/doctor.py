"""``kprov doctor [site.yaml]``: every check of :mod:`kprov.doctor` for this machine and the site's targets, as a
table with the fix for each problem; exit 4 when something the site needs is missing. Changes nothing."""

from __future__ import annotations

from kprov import doctor
from kprov.doctor import Finding
from kprov.errors import InfrastructureError
from kprov.events import Events
from kprov.site.load import LoadedSite
from kprov.targets import target_for


def run(loaded: LoadedSite | None, events: Events) -> list[Finding]:
    needs_git = loaded is None or loaded.site.kubernetes.kubespray.version is not None
    findings = doctor.tools(needs_git=needs_git)
    if loaded is not None:
        findings += doctor.site(loaded)
        for name, provider in loaded.site.providers.items():
            findings += target_for(provider.type).doctor(loaded, name, provider)
    rows = [[f.check, "ok" if f.ok else f.severity.upper(), f.message, "" if f.ok else f.fix] for f in findings]
    events.emit("doctor", "table", "", title="kprov doctor", columns=["check", "result", "found", "fix"], rows=rows)
    problems = doctor.blocking(findings)
    events.emit("doctor", "result", f"{len(problems)} problem(s)" if problems else "everything needed is there",
                findings=[f.__dict__ | {"blocking": f.blocking} for f in findings])
    if problems:
        raise InfrastructureError("doctor: " + "; ".join(f"{f.check}: {f.fix}" for f in problems))
    return findings
