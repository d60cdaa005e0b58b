"""`buildorch bake [TARGET...]`: the targets of a bake or compose file, each planned and built
the fastest way, in one summary."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from buildorch import console, engine
from buildorch.bake import BakeTarget, ignored_keys, targets_from_print
from buildorch.buildx_flags import PASS_THROUGH, BuildxFlag, per_build_file
from buildorch.buildx_flags import merged as merge_flags
from buildorch.commands import Command, plan_and_report
from buildorch.commands.args import (
    Common,
    buildx_options,
    common_from,
    host_options,
    targets_option,
)
from buildorch.commands.build import failure_of, run_build
from buildorch.config.schema import parse_build_args
from buildorch.errors import BuildorchError, ConfigError
from buildorch.executor import BuildReport
from buildorch.pipeline import (
    Prepared,
    choose_profile,
    open_view,
    plan_on,
    require_engine,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BakeInputs:
    common: Common
    names: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Baked:
    target: BakeTarget
    prepared: Prepared
    report: BuildReport | None = None
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BakeResult:
    baked: tuple[Baked, ...]
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return {
            "targets": [
                {
                    "name": item.target.name,
                    "ignored": list(item.ignored),
                    **plan_and_report(item.prepared.plan, item.report),
                }
                for item in self.baked
            ]
        }


def declare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="TARGET", help="bake targets or groups (default: default)"
    )
    host_options(parser)
    targets_option(parser, "target platform: arm64, amd64, or a comma list (repeatable)")
    parser.add_argument(
        "-f",
        "--file",
        action="append",
        dest="bake_files",
        metavar="FILE",
        help="docker-bake.hcl, docker-bake.json or compose.yaml (default: what buildx finds)",
    )
    buildx_options(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--load", action="store_true", default=None, help="load into the engine")
    out.add_argument("--push", action="store_true", default=None, help="push each target's tags")
    out.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="files of target T in DIR/T/"
    )
    parser.add_argument("--dry-run", action="store_true", help="plan and stop")


def inputs(ns: argparse.Namespace) -> BakeInputs:
    return BakeInputs(
        common=common_from(ns),
        names=tuple(ns.names),
        files=tuple(ns.bake_files or ()),
        dry_run=ns.dry_run,
    )


def run(args: BakeInputs, env: Mapping[str, str]) -> BakeResult:
    common = args.common
    if not args.dry_run:
        engine.load_in_background()
    printed = engine.bake_definition(args.files, args.names, common.project_dir, env)
    targets = targets_from_print(printed, ", ".join(args.files) or "the bake definition")
    ignored = ignored_keys(printed)
    view = open_view(common.where, env)
    profile = choose_profile(view, common.flags, env, common.project_dir)
    planned = [
        Baked(
            target=target,
            prepared=plan_on(
                view,
                profile,
                common.project_dir,
                _flags_for(target, common.flags),
                env,
                mirror_key=common.project_dir / target.context,
            ),
            ignored=ignored.get(target.name, ()),
        )
        for target in targets
    ]
    if args.dry_run:
        return BakeResult(baked=tuple(planned))
    if common.snapshot is not None:
        raise ConfigError(
            "a snapshot describes another host: buildorch cannot build on it",
            fix="add --dry-run to see the plans, or drop --snapshot to build here",
        )
    require_engine(planned[0].prepared.seen.host, env)
    baked: list[Baked] = []
    for item in planned:
        if not common.as_json:
            console.out.print(f"[bold]bake target {item.target.name}[/]")
            console.plan(item.prepared.plan, item.prepared.project)
        report = run_build(item.prepared, env, quiet=common.as_json)
        baked.append(
            Baked(target=item.target, prepared=item.prepared, report=report, ignored=item.ignored)
        )
        failure = failure_of(
            report,
            f" of bake target {item.target.name}",
            emulation=item.prepared.seen.host.emulation,
        )
        if failure is not None:
            return BakeResult(baked=tuple(baked), failure=failure)
    return BakeResult(baked=tuple(baked))


def _flags_for(target: BakeTarget, flags: Mapping[str, object]) -> dict[str, object]:
    """The command's flags with what the target says: its Dockerfile (relative to its context,
    as buildx reads it), context, stage, args, tags, platforms and buildx options. The
    command line wins where both speak."""
    merged = dict(flags)
    merged["context"] = target.context
    merged["dockerfile"] = str(PurePosixPath(target.context) / target.dockerfile)
    if target.build_target is not None:
        merged["build_target"] = target.build_target
    args = dict(target.args)
    if "build_args" in flags:
        args.update(parse_build_args(flags["build_args"], "flag"))
    if args:
        merged["build_args"] = args
    if target.tags and "tags" not in flags:
        merged["tags"] = list(target.tags)
    if target.platforms and "targets" not in flags:
        merged["targets"] = list(target.platforms)
    given_buildx = flags.get("buildx")
    # the command line's options over the target's own; a file buildx writes is the target's
    buildx = tuple(
        BuildxFlag(flag=f.flag, value=per_build_file(f.value, target.name))
        if f.value is not None and PASS_THROUGH[f.flag].writes_file
        else f
        for f in merge_flags(target.flags, given_buildx if isinstance(given_buildx, tuple) else ())
    )
    if buildx:
        merged["buildx"] = buildx
    output_dir = flags.get("output_dir")
    if output_dir is not None:
        merged["output_dir"] = str(Path(str(output_dir)) / target.name)
    return merged


def render(result: BakeResult) -> None:
    for item in result.baked:
        if item.ignored:
            console.err.print(
                f"[yellow]note:[/] bake target {item.target.name}: buildorch does not carry "
                f"over {', '.join(item.ignored)}"
            )
        console.out.print(f"[bold]bake target {item.target.name}[/]")
        if item.report is None:
            console.plan(item.prepared.plan, item.prepared.project)
        else:
            console.summary(item.report)


COMMAND = Command(
    name="bake",
    help="build the targets of a bake or compose file, each the fastest way",
    description="Read docker-bake.hcl, docker-bake.json or compose.yaml through "
    "`docker buildx bake --print` (buildx resolves variables, groups and inheritance), plan "
    "every target with its own Dockerfile, context, args and tags, and build them in turn.",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)
