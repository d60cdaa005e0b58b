"""Command line: parse, dispatch to the command's module, render its result, map errors.

`main(argv, env)` is testable without a subprocess; `main_entry` is the console script. Every
BuildorchError becomes a message (what, why, fix) and its own exit code; anything else is a bug
in buildorch (exit 70), with a traceback only under --debug.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any, NoReturn

from buildorch import __version__, console
from buildorch.commands import (
    Command,
    bake,
    build,
    ci,
    clean,
    doctor,
    init,
    offload,
    plan,
    run,
)
from buildorch.commands import shortcuts as shortcuts_command
from buildorch.errors import BuildorchError, Interrupted

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in buildorch, not in the user's input

COMMANDS: tuple[Command[Any, Any], ...] = (
    doctor.COMMAND,
    plan.COMMAND,
    init.COMMAND,
    shortcuts_command.COMMAND,
    build.COMMAND,
    bake.COMMAND,
    run.COMMAND,
    ci.COMMAND,
    offload.COMMAND,
    clean.COMMAND,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildorch",
        description="Build Docker images for any architecture the fastest correct way this "
        "host allows.",
    )
    parser.add_argument("--version", action="version", version=f"buildorch {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.declare(sub)
        sub.set_defaults(chosen=command)
    return parser


def _dispatch(command: Command[Any, Any], ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    result = command.run(command.inputs(ns), env)
    data = result.to_json() if ns.json else None
    if data is not None:
        console.print_json(data)
    else:
        command.render(result)
    if result.failure is not None:
        raise result.failure
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit code."""
    env = dict(os.environ if env is None else env)
    ns = build_parser().parse_args(argv)
    debug = ns.debug or env.get("BUILDORCH_DEBUG", "") not in ("", "0")
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return _dispatch(ns.chosen, ns, env)
    except BuildorchError as exc:
        if debug:
            console.err.print_exception()
        console.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        console.error(
            Interrupted(
                "interrupted",
                why="the running build was stopped and what buildorch created was removed",
            )
        )
        return Interrupted.exit_code
    except Exception as exc:
        if debug:
            raise
        console.err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        console.err.print("[yellow]  fix:[/] rerun with --debug and report the traceback")
        return EXIT_INTERNAL


def main_entry() -> None:
    # `kill` should clean up like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
