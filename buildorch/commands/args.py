"""Argument groups several commands share, and the typed inputs every command starts from."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildorch.buildx_flags import PASS_THROUGH, REFUSED, BuildxFlag
from buildorch.errors import ConfigError
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
    if buildx := buildx_flags_from(ns):
        flags["buildx"] = buildx
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


def buildx_flags_from(ns: argparse.Namespace) -> tuple[BuildxFlag, ...]:
    """The buildx options the user passed, refusing those that contradict the plan."""
    for refused in REFUSED:
        if getattr(ns, _dest(refused.spellings[-1]), None):
            spelt = " / ".join(refused.spellings)
            raise ConfigError(
                f"buildorch does not take buildx's `{spelt}`", why=refused.why, fix=f"drop {spelt}"
            )
    flags: list[BuildxFlag] = []
    for flag, spec in PASS_THROUGH.items():
        given = getattr(ns, _dest(flag), None)
        if spec.kind == "switch":
            flags += [BuildxFlag(flag=flag)] if given else []
        else:
            flags += [BuildxFlag(flag=flag, value=value) for value in given or ()]
    return tuple(flags)


def _dest(flag: str) -> str:
    return "buildx_" + flag.lstrip("-").replace("-", "_")


def buildx_options(parser: argparse.ArgumentParser) -> None:
    """buildx's own options, spelt as buildx spells them, passed to every build."""
    group = parser.add_argument_group(
        "docker buildx build options", "passed to every build buildorch runs, as buildx takes them"
    )
    for flag, spec in PASS_THROUGH.items():
        if spec.kind == "switch":
            group.add_argument(flag, dest=_dest(flag), action="store_true", help=spec.help)
        else:
            group.add_argument(
                flag,
                dest=_dest(flag),
                action="append" if spec.repeatable else _Once,
                metavar="VALUE",
                help=spec.help,
            )
    for refused in REFUSED:
        # declared so that they are refused with the reason, not as unknown options
        group.add_argument(
            *refused.spellings,
            dest=_dest(refused.spellings[-1]),
            action="store_true" if refused.kind == "switch" else "append",
            help=argparse.SUPPRESS,
        )


class _Once(argparse.Action):
    """A buildx option that takes one value, kept as a one-item list like the repeatable ones."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None):
            parser.error(f"{option_string} takes one value")
        setattr(namespace, self.dest, [values])


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
    buildx_options(parser)
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
