"""Argument groups several commands share, and the typed inputs every command starts from."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from buildorch.pipeline import Where
from buildorch.planner import LOCAL_STRATEGIES

SHARED_TARGETS_HELP = "target platform (default: buildorch.yaml's targets, else amd64 and arm64)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Common:
    """What every command is given: where the project is, and how to answer."""

    project_dir: Path
    as_json: bool = False
    snapshot: Path | None = None
    # only what the user typed, for the option cascade (config.load_options) to layer last
    flags: dict[str, object] = field(default_factory=dict)

    @property
    def where(self) -> Where:
        return Where(project_dir=self.project_dir, snapshot=self.snapshot)


def common_from(ns: argparse.Namespace) -> Common:
    return Common(
        project_dir=(ns.project or Path.cwd()).absolute(),
        as_json=bool(getattr(ns, "json", False)),
        snapshot=getattr(ns, "snapshot", None),
        flags=flags_from(ns),
    )


def flags_from(ns: argparse.Namespace) -> dict[str, object]:
    """Only what the user typed: the cascade fills in the rest."""
    flags: dict[str, object] = {}
    for key in ("dockerfile", "context", "build_target", "builder", "profile", "sources"):
        if getattr(ns, key, None) is not None:
            flags[key] = getattr(ns, key)
    if getattr(ns, "run_image", None) is not None:
        flags["run_image"] = ns.run_image
    for key in ("targets", "tags", "strategy", "build_args", "keep", "collect"):
        if getattr(ns, key, None):
            flags[key] = getattr(ns, key)
    if getattr(ns, "use_template", None):
        flags["use_template"] = True
    if getattr(ns, "load", None):
        flags["output"] = "load"
    elif getattr(ns, "push", None):
        flags["output"] = "push"
    elif getattr(ns, "output_dir", None):
        flags["output"] = "dir"
        flags["output_dir"] = str(Path(ns.output_dir).absolute())
    return flags


def project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-C",
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help="the project directory (default: the current one)",
    )


def output_options(parser: argparse.ArgumentParser, debug_help: str = "show tracebacks") -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--debug", action="store_true", help=debug_help)


def host_options(parser: argparse.ArgumentParser) -> None:
    """For the commands that look at the host: doctor, plan, build, run."""
    project_option(parser)
    parser.add_argument(
        "--snapshot",
        type=Path,
        metavar="SNAP",
        help="replay a recorded host snapshot instead of probing this machine",
    )
    parser.add_argument("--profile", help="force a host profile (see profiles/)")
    output_options(parser, "show docker commands, tracebacks")


def targets_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "-t", "--target", action="append", dest="targets", metavar="PLATFORM", help=help_text
    )


def workflow_inputs(
    parser: argparse.ArgumentParser, targets_help: str = SHARED_TARGETS_HELP
) -> None:
    """What to build: the inputs `plan`, `build`, `ci` and `offload` share."""
    targets_option(parser, targets_help)
    parser.add_argument("-f", "--file", dest="dockerfile", help="Dockerfile (default: Dockerfile)")
    parser.add_argument("--context", help="build context, relative to the project (default: .)")
    parser.add_argument("--build-target", help="the Dockerfile stage to build")
    parser.add_argument(
        "--build-arg", action="append", dest="build_args", metavar="KEY=VALUE", default=None
    )
    parser.add_argument(
        "--tag", action="append", dest="tags", metavar="NAME:TAG", help="image tag (repeatable)"
    )


def build_inputs(parser: argparse.ArgumentParser) -> None:
    """`plan` and `build`: what to build, how, and where the result goes."""
    workflow_inputs(
        parser, "target platform: arm64, amd64, linux/arm/v7, or a comma list (repeatable)"
    )
    parser.add_argument(
        "--strategy",
        choices=[s.value for s in LOCAL_STRATEGIES],
        help="force a strategy instead of the cheapest one that works",
    )
    parser.add_argument("--builder", help="the buildx builder to use (default: the current one)")
    parser.add_argument(
        "--sources",
        choices=["auto", "direct", "mirror"],
        help="read the context where it is, or from a mirror on a local disk "
        "(default: auto, from the measured cost of the share)",
    )
    parser.add_argument(
        "--use-template",
        action="store_true",
        default=None,
        help="build with buildorch's cross-compiling template when the Dockerfile cannot cross",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--load", action="store_true", default=None, help="load into the engine")
    out.add_argument("--push", action="store_true", default=None, help="push --tag to its registry")
    out.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="write the final stage's files"
    )
