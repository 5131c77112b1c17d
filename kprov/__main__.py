"""``python -m kprov``: a no-op ``kprov up`` is answered before click (and kprov.cli) is imported.

``[-o human|json] [--workdir DIR] [-v] up SITE`` (the global options in any order, each at most once, and nothing
else) is recognised here without click, and if :mod:`kprov.engine.fastpath` finds the site converged with every
input unchanged, the stages are reported skipped exactly as ``kprov.api.up`` reports them through the CLI's
sinks. Anything else (``--force``, ``--help``, another command, any other spelling) and any site the fast path
declines, having printed and written nothing, goes to :func:`kprov.cli.main`, which parses with click and runs
the full command: its errors, exit codes and help stay the CLI's own.
"""
# ruff: noqa: PLC0415 - imports are deferred on purpose, see above

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import NamedTuple, NoReturn

_VALUE_OPTIONS = {"-o": "output", "--output": "output", "--workdir": "workdir"}
_FLAGS = ("-v", "--verbose")


class FastUp(NamedTuple):
    site_file: Path
    workdir: Path | None
    output: str
    verbose: bool


def parse_fast_up(args: list[str]) -> FastUp | None:
    """The options of ``args`` if they are exactly ``[global options] up SITE``, as click would parse them;
    None for anything else (which click then parses)."""
    values: dict[str, str] = {}
    verbose = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "up":
            rest = args[i + 1:]
            if len(rest) != 1 or not rest[0] or rest[0].startswith("-"):
                return None  # --force, --help, a second argument, ...: click's to handle
            output = values.get("output", "human")
            workdir = values.get("workdir")
            if output not in ("human", "json") or workdir == "":
                return None
            return FastUp(Path(rest[0]), Path(workdir) if workdir is not None else None, output, verbose)
        if arg in _FLAGS:
            verbose = True
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if eq and name.startswith("--") and name in _VALUE_OPTIONS:
            key = _VALUE_OPTIONS[name]  # --output=json
        elif arg in _VALUE_OPTIONS and i + 1 < len(args):
            key, value = _VALUE_OPTIONS[arg], args[i + 1]  # -o json, --workdir DIR
            i += 1
        elif arg.startswith("-o") and not arg.startswith("-o="):
            key, value = "output", arg[2:]  # -ojson
        else:
            return None
        if key in values or value.startswith("-"):
            return None
        values[key] = value
        i += 1
    return None


def fast_up(args: list[str]) -> bool:
    """Answer ``args`` on the no-op fast path of ``kprov up`` if they ask for exactly that and the site is
    converged with unchanged inputs; False, with nothing printed or written, otherwise."""
    parsed = parse_fast_up(args)
    if parsed is None:
        return False
    from kprov import api
    from kprov.events import Events, HumanSink, JsonSink, Sink

    sinks: list[Sink] = [HumanSink(verbose=parsed.verbose)]  # as kprov.cli.Options builds them
    json_sink = JsonSink() if parsed.output == "json" else None
    if json_sink is not None:
        sinks.append(json_sink)
    done = api._fast_up(parsed.site_file, parsed.workdir, Events(sinks)) is not None
    if done and json_sink is not None:
        json_sink.finish(0)
    return done


def _fail(exc: BaseException, args: list[str]) -> NoReturn:
    """What :func:`kprov.cli.main` prints and exits with for an error outside click's parsing."""
    from kprov.cli import exit_for
    from kprov.events import JsonSink, json_requested

    code = exit_for(exc, JsonSink() if json_requested(args) else None)
    sys.exit(code)


def _terminated(signum: int, frame: object) -> None:
    from kprov.engine.signals import Terminated

    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point: the no-op ``up`` here, everything else through :func:`kprov.cli.main`."""
    signal.signal(signal.SIGTERM, _terminated)  # kprov.engine.signals.install, without importing it here
    args = sys.argv[1:] if argv is None else argv
    try:
        done = fast_up(args)
    except (Exception, KeyboardInterrupt) as exc:
        _fail(exc, args)
    if done:
        sys.exit(0)
    from kprov.cli import main as cli_main

    cli_main(argv)


if __name__ == "__main__":
    main()
