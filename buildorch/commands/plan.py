"""`buildorch plan`: how each target would be built, and why."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import Common, build_inputs, common_from, host_options
from buildorch.commands.build import BuildResult
from buildorch.pipeline import prepare_build


def declare(parser: argparse.ArgumentParser) -> None:
    host_options(parser)
    build_inputs(parser)


def run(args: Common, env: Mapping[str, str]) -> BuildResult:
    """A build's plan, not carried out."""
    prepared = prepare_build(args.where, args.flags, env)
    return BuildResult(plan=prepared.plan, project=prepared.project)


def render(result: BuildResult) -> None:
    console.plan(result.plan, result.project)


COMMAND = Command(
    name="plan",
    help="how each target would be built, and why",
    declare=declare,
    inputs=common_from,
    run=run,
    render=render,
)
