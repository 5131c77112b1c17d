"""Typed errors. Each carries the exit code it maps to, so the CLI needs no table of its own."""

from __future__ import annotations

from dataclasses import dataclass

from kprov.exitcodes import ExitCode


class KprovError(Exception):
    """Base of every error kprov reports to a user (one line, no traceback)."""

    exit_code: ExitCode = ExitCode.ERROR

    def lines(self) -> list[str]:
        """The message as the lines a user sees."""
        return [str(self)]


class UsageError(KprovError):
    exit_code = ExitCode.USAGE


class NotBuilt(UsageError):
    """The command acts on a running site, and this one was never brought up (or bootstrapped)."""

    exit_code = ExitCode.NOT_BUILT


@dataclass(frozen=True)
class Problem:
    """One finding in a site file: where it is and what is wrong."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class SiteError(KprovError):
    """The site file is invalid. Holds every problem found in one pass."""

    exit_code = ExitCode.INVALID_SITE

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class InfrastructureError(KprovError):
    exit_code = ExitCode.INFRASTRUCTURE


class BootstrapError(KprovError):
    exit_code = ExitCode.BOOTSTRAP


class VerifyFailed(KprovError):
    exit_code = ExitCode.VERIFY_FAILED


class LockHeld(KprovError):
    exit_code = ExitCode.LOCKED


class Interrupted(KprovError):
    """A tool was stopped by Ctrl-C or SIGTERM (``terminated``), after it saved what it could."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, *, terminated: bool = False) -> None:
        super().__init__(message)
        self.exit_code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
