"""Every process exit code kprov uses, in one place (the README's table is generated from this)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes with meaning, so pipelines can branch on the kind of failure."""

    OK = 0
    """Everything asked for was done (or was already true)."""
    ERROR = 1
    """An unexpected internal error (a bug in kprov: please report it)."""
    USAGE = 2
    """Wrong command-line usage, or a refused confirmation."""
    INVALID_SITE = 3
    """The site file is invalid; nothing was written or touched."""
    INFRASTRUCTURE = 4
    """Terraform failed, or nodes could not be reached over SSH."""
    BOOTSTRAP = 5
    """Kubespray (Ansible) failed, or Kubespray could not be prepared."""
    VERIFY_FAILED = 6
    """A verification check failed on at least one node."""
    LOCKED = 7
    """Another kprov holds the site's lock."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C / SIGINT; state was saved where the tool allowed it."""
