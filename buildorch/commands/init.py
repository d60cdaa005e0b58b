"""`buildorch init`: a cross-capable Dockerfile.buildorch and a buildorch.yaml to start from;
with --cross, the project's own Dockerfile derived to cross-compile, written beside it."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import flags_from, output_options, project_option, targets_option
from buildorch.config import load_options
from buildorch.cross_derive import kit_has_toolchain, kit_platforms_named
from buildorch.dockerfile_analysis import analyse_dockerfile
from buildorch.errors import BuildorchError, ConfigError, PlanError, ProjectError
from buildorch.fsutil import atomic_write
from buildorch.platforms import Platform
from buildorch.project import meson_cross_branches, project_languages
from buildorch.templates import write_init


@dataclass(frozen=True, slots=True, kw_only=True)
class InitInputs:
    project_dir: Path
    force: bool = False
    cross: bool = False
    flags: dict[str, object] = field(default_factory=dict)
    """What the user typed, for --cross: the option cascade (buildorch.yaml, environment)
    gives the rest, as it does to `plan` and `build`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    written: tuple[tuple[Path, str], ...]  # each file, and why it was written
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return [{"path": str(path), "why": why} for path, why in self.written]


def declare(parser: argparse.ArgumentParser) -> None:
    project_option(parser)
    parser.add_argument("--force", action="store_true", help="replace files init wrote before")
    parser.add_argument(
        "--cross",
        action="store_true",
        help="write the project's Dockerfile derived to cross-compile (Dockerfile.cross), "
        "to read, keep and build with plain `docker buildx build`",
    )
    parser.add_argument("-f", "--file", dest="dockerfile", help="Dockerfile (default: Dockerfile)")
    parser.add_argument("--build-target", help="the Dockerfile stage that is the image")
    parser.add_argument(
        "--build-arg",
        action="append",
        dest="build_args",
        metavar="KEY=VALUE",
        default=None,
        help="with --cross: a build argument the derivation reads (the stage "
        "`FROM build-${VARIANT}` names)",
    )
    targets_option(
        parser,
        "with --cross: a platform the derived Dockerfile is for, checked against the cross "
        "kit's toolchains and named in the build command init prints (repeatable; default: "
        "buildorch.yaml's targets, else linux/arm64). The file is the same for every target",
    )
    output_options(parser)


def inputs(ns: argparse.Namespace) -> InitInputs:
    return InitInputs(
        project_dir=(ns.project or Path.cwd()).absolute(),
        force=ns.force,
        cross=ns.cross,
        flags=flags_from(ns),
    )


def run(args: InitInputs, env: Mapping[str, str]) -> InitResult:
    if args.cross:
        return InitResult(written=(write_cross(args, env),))
    for flag, name, what in (
        ("build_args", "--build-arg", "build args"),
        ("targets", "--target", "targets"),
    ):
        if flag in args.flags:
            raise ConfigError(
                f"{name} is read by `init --cross` only",
                why=f"the template init writes takes its {what} from the buildorch.yaml it "
                "writes beside it",
                fix=f"add --cross to derive the project's own Dockerfile, or drop {name}",
            )
    languages = project_languages(args.project_dir)
    return InitResult(written=tuple(write_init(args.project_dir, languages, force=args.force)))


def write_cross(args: InitInputs, env: Mapping[str, str]) -> tuple[Path, str]:
    """The derived Dockerfile beside the original, which is never touched."""
    options = load_options(project_dir=args.project_dir, flags=args.flags, env=env)
    # the derived file reads $TARGETARCH: one file for every target, each one checked here
    # so that its printed command does not fail in the kit's setup
    platforms = options.targets or (Platform("linux", "arm64"),)
    if unknown := [p for p in platforms if not kit_has_toolchain(p.arch, p.variant)]:
        raise PlanError(
            f"buildorch has no cross toolchain for {', '.join(map(str, unknown))}",
            why=f"the derived Dockerfile cross-compiles with the kit's toolchains, for "
            f"{kit_platforms_named()}",
            fix="build that platform from the project's own Dockerfile, emulated "
            "(`buildorch build --strategy qemu`), or name another --target",
        )
    build_args = tuple((a.name, a.value) for a in options.build_args)
    source = (args.project_dir / (options.dockerfile or "Dockerfile")).resolve()
    if not source.is_file():
        raise ProjectError(
            f"no Dockerfile at {source}",
            fix="pass -f with the project's Dockerfile, or run `buildorch init` for a template",
        )
    text = source.read_text(encoding="utf-8-sig")
    branches = meson_cross_branches((args.project_dir / options.context).resolve(), text)
    facts = analyse_dockerfile(text, str(source), options.build_target, build_args, branches)
    derivation = facts.derivation
    if derivation is None:
        raise ProjectError(
            f"{source.name} cross-compiles already",
            why="a stage runs on $BUILDPLATFORM and builds for $TARGETARCH",
            fix="build it as it is: `buildorch build --target arm64`",
        )
    if not derivation.usable or derivation.text is None or derivation.file is None:
        stuck = derivation.blocked or tuple(s for s in derivation.stages if not s.moves)
        raise PlanError(
            f"buildorch cannot derive a cross-compiling {source.name}",
            why="; ".join(f"{s.label} stays on the target because {s.why}" for s in stuck),
            fix="move the step named above to the image's own stage, or build this project "
            "emulated (`buildorch build --strategy qemu`)",
        )
    dest = Path(derivation.file)
    ignore = Path(f"{source}.dockerignore")
    written = [dest, Path(f"{dest}.dockerignore")] if ignore.is_file() else [dest]
    existing = [p.name for p in written if p.exists()]
    if existing and not args.force:
        raise ProjectError(
            f"buildorch init --cross would overwrite {', '.join(existing)}",
            why="init never replaces files without being asked",
            fix="move it aside, or pass --force to replace it",
        )
    atomic_write(dest, derivation.text)
    if ignore.is_file():
        atomic_write(Path(f"{dest}.dockerignore"), ignore.read_bytes())
    moved = ", ".join(s.label for s in derivation.moved)
    stage = f" --target {options.build_target}" if options.build_target else ""
    given = "".join(f" --build-arg {shlex.quote(f'{k}={v}')}" for k, v in build_args)
    # a builder that cannot move is built as written, emulated, beside the moved ones
    emulated = "".join(
        f"; {s.label} stays on the target, emulated, because {s.why}" for s in derivation.blocked
    )
    return dest, (
        f"{source.name} with {moved} moved to the build machine, cross-compiling{emulated}; "
        "build it with "
        f"`docker buildx build --platform {','.join(map(str, platforms))}{stage}{given} "
        f"-f {shlex.quote(_relative(dest, args.project_dir))} "
        f"{shlex.quote(options.context)}` in {args.project_dir}"
    )


def _relative(path: Path, start: Path) -> str:
    try:
        return str(path.relative_to(start.resolve()))
    except ValueError:
        return str(path)


def render(result: InitResult) -> None:
    for path, why in result.written:
        console.out.print(f"wrote {path}: {why}")
    console.out.print("next: `buildorch plan --target arm64` shows how each target will be built")


COMMAND = Command(
    name="init",
    help="write a cross-capable Dockerfile.buildorch and buildorch.yaml, or with --cross "
    "the project's Dockerfile derived to cross-compile",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)
