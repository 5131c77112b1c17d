"""Every process exit code kprov uses, in one place (the README's table is checked against this)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes with meaning, so pipelines can branch on the kind of failure."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INVALID_SITE = 3
    INFRASTRUCTURE = 4
    BOOTSTRAP = 5
    VERIFY_FAILED = 6
    LOCKED = 7
    NOT_BUILT = 8
    INTERRUPTED = 130
    TERMINATED = 143


MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "everything asked for was done (or was already true)",
    ExitCode.ERROR: "an unexpected internal error (a bug in kprov: please report it)",
    ExitCode.USAGE: "wrong command-line usage, or a refused confirmation",
    ExitCode.INVALID_SITE: ("the site file is invalid, or a secret it names (env var or file) is missing; nothing "
                            "was written or touched"),
    ExitCode.INFRASTRUCTURE: ("Terraform failed, nodes could not be reached over SSH, or `kprov doctor` found a "
                              "missing piece"),
    ExitCode.BOOTSTRAP: "Kubespray (Ansible) failed, a drain ran out of time, or Kubespray could not be prepared",
    ExitCode.VERIFY_FAILED: "a verification check failed on at least one node",
    ExitCode.LOCKED: "another kprov holds the site's lock",
    ExitCode.NOT_BUILT: ("the site was never brought up (or never bootstrapped): there is nothing to act on yet; "
                         "`kprov up` first"),
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C / SIGINT; state was saved where the tool allowed it",
    ExitCode.TERMINATED: ("terminated by SIGTERM (a cancelled CI job), handled like Ctrl-C: tools stopped, state "
                          "saved, the stage recorded as interrupted, the lock released"),
}
