"""``kprov doctor [site.yaml] [--fix]``: every check of :mod:`kprov.doctor` for this machine and the site's
targets, as a table with the fix for each problem; exit 4 when something the site needs is still missing.
``--fix`` first runs the repairs the failing checks carry (each reported), then checks everything again."""

from __future__ import annotations

from kprov import doctor
from kprov.doctor import Finding, FixInputs
from kprov.errors import InfrastructureError, KprovError
from kprov.events import Events
from kprov.site.load import LoadedSite
from kprov.targets import target_for


def checks(loaded: LoadedSite | None) -> list[Finding]:
    needs_git = loaded is None or loaded.site.kubernetes.kubespray.version is not None
    findings = doctor.tools(needs_git=needs_git)
    if loaded is not None:
        findings += doctor.site(loaded)
        for name, provider in loaded.site.providers.items():
            findings += target_for(provider.type).doctor(loaded, name, provider)
    return findings


def repair(findings: list[Finding], inputs: FixInputs, events: Events) -> int:
    """Run the repair of every failing finding that has one, in order; the number that worked."""
    done = 0
    for f in findings:
        if f.ok or f.repair is None:
            continue
        try:
            what = f.repair(inputs)
        except KprovError as exc:
            events.emit("doctor", "warning", f"{f.check}: not fixed: {exc}", check=f.check)
            continue
        done += 1
        events.emit("doctor", "fixed", f"{f.check}: {what}", check=f.check)
    return done


def run(loaded: LoadedSite | None, events: Events, fix: FixInputs | None = None) -> list[Finding]:
    findings = checks(loaded)
    if fix is not None and repair(findings, fix, events):
        findings = checks(loaded)
    rows = [[f.check, "ok" if f.ok else f.severity.upper(), f.message, "" if f.ok else f.fix] for f in findings]
    events.emit("doctor", "table", "", report=True, title="kprov doctor", columns=["check", "result", "found", "fix"],
                rows=rows)
    problems = doctor.blocking(findings)
    events.emit("doctor", "result", f"{len(problems)} problem(s)" if problems else "everything needed is there",
                findings=[f.as_dict() for f in findings])
    if problems:
        raise InfrastructureError("doctor: " + "; ".join(f"{f.check}: {f.fix}" for f in problems))
    return findings
