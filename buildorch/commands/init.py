"""`buildorch init`: a cross-capable Dockerfile.buildorch and a buildorch.yaml to start from;
with --cross, the project's own Dockerfile derived to cross-compile, written beside it."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import output_options, project_option
from buildorch.dockerfile_analysis import analyse_dockerfile
from buildorch.errors import BuildorchError, PlanError, ProjectError
from buildorch.fsutil import atomic_write
from buildorch.project import project_languages
from buildorch.templates import write_init


@dataclass(frozen=True, slots=True, kw_only=True)
class InitInputs:
    project_dir: Path
    force: bool = False
    cross: bool = False
    dockerfile: str | None = None
    build_target: str | None = None


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
    output_options(parser)


def inputs(ns: argparse.Namespace) -> InitInputs:
    return InitInputs(
        project_dir=(ns.project or Path.cwd()).absolute(),
        force=ns.force,
        cross=ns.cross,
        dockerfile=ns.dockerfile,
        build_target=ns.build_target,
    )


def run(args: InitInputs, env: Mapping[str, str]) -> InitResult:
    if args.cross:
        return InitResult(written=(write_cross(args),))
    languages = project_languages(args.project_dir)
    return InitResult(written=tuple(write_init(args.project_dir, languages, force=args.force)))


def cross_name(dockerfile: Path) -> Path:
    """`Dockerfile` -> `Dockerfile.cross`, `app.Dockerfile` -> `app.cross.Dockerfile`."""
    name = dockerfile.name
    if name.lower().endswith(".dockerfile"):
        return dockerfile.with_name(
            f"{name[: -len('.dockerfile')]}.cross{name[-len('.dockerfile') :]}"
        )
    return dockerfile.with_name(f"{name}.cross")


def write_cross(args: InitInputs) -> tuple[Path, str]:
    """The derived Dockerfile beside the original, which is never touched."""
    source = (args.project_dir / (args.dockerfile or "Dockerfile")).resolve()
    if not source.is_file():
        raise ProjectError(
            f"no Dockerfile at {source}",
            fix="pass -f with the project's Dockerfile, or run `buildorch init` for a template",
        )
    facts = analyse_dockerfile(
        source.read_text(encoding="utf-8-sig"), str(source), args.build_target
    )
    derivation = facts.derivation
    if derivation is None:
        raise ProjectError(
            f"{source.name} cross-compiles already",
            why="a stage runs on $BUILDPLATFORM and builds for $TARGETARCH",
            fix="build it as it is: `buildorch build --target arm64`",
        )
    if not derivation.complete or derivation.text is None:
        stuck = derivation.blocked or tuple(s for s in derivation.stages if not s.moves)
        raise PlanError(
            f"buildorch cannot derive a cross-compiling {source.name}",
            why="; ".join(f"{s.label} stays on the target because {s.why}" for s in stuck),
            fix="move the step named above to the image's own stage, or build this project "
            "emulated (`buildorch build --strategy qemu`)",
        )
    dest = cross_name(source)
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
    stage = f" --target {args.build_target}" if args.build_target else ""
    return dest, (
        f"{source.name} with {moved} moved to the build machine, cross-compiling; build it with "
        f"`docker buildx build --platform linux/arm64{stage} -f {dest.name} .`"
    )


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
