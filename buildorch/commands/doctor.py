"""`buildorch doctor`: what this host is, and what it means for builds."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import Common, common_from, host_options
from buildorch.detect import LiveHost, save_snapshot
from buildorch.errors import BuildorchError, ConfigError
from buildorch.facts import HostFacts
from buildorch.pipeline import see_host


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorInputs:
    common: Common
    save_snapshot: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorResult:
    host: HostFacts
    profile: str
    snapshot_written: Path | None = None
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return {**self.host.to_json(), "profile": self.profile}


def declare(parser: argparse.ArgumentParser) -> None:
    host_options(parser)
    parser.add_argument(
        "--save-snapshot", type=Path, metavar="SNAP", help="record this host for a bug report"
    )


def inputs(ns: argparse.Namespace) -> DoctorInputs:
    return DoctorInputs(common=common_from(ns), save_snapshot=ns.save_snapshot)


def run(args: DoctorInputs, env: Mapping[str, str]) -> DoctorResult:
    if args.save_snapshot is not None and args.common.snapshot is not None:
        raise ConfigError(
            "--save-snapshot records this host, and --snapshot replays another one",
            fix="drop one of the two",
        )
    seen = see_host(args.common.where, args.common.flags, env)
    if args.save_snapshot is not None:
        assert isinstance(seen.view, LiveHost), "a live host, as no --snapshot was given"
        save_snapshot(seen.view, args.save_snapshot)
        console.err.print(f"snapshot of this host written to {args.save_snapshot}")
    return DoctorResult(
        host=seen.host, profile=seen.profile.name, snapshot_written=args.save_snapshot
    )


def render(result: DoctorResult) -> None:
    console.doctor(result.host, result.profile)


COMMAND = Command(
    name="doctor",
    help="what this host is and what it means for builds",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)
