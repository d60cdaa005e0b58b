"""The `docker buildx build` options buildorch passes through, owns, or refuses. Pure.

Users come with a buildx command line. Every option buildorch does not decide itself keeps
buildx's spelling and meaning and goes to each build the plan runs; the few that would
contradict the plan are refused with the reason and buildorch's own spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["value", "switch"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PassThrough:
    """A buildx option that goes to every build as the user wrote it."""

    flag: str
    kind: Kind
    help: str
    repeatable: bool = True
    secret_bearing: bool = False
    """Its value may name a secret's source (never its value, but still kept out of logs)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildxFlag:
    """One pass-through option as the user gave it: `--network host`, `--no-cache`."""

    flag: str
    value: str | None = None

    def argv(self) -> tuple[str, ...]:
        return (self.flag,) if self.value is None else (self.flag, self.value)

    def shown(self) -> str:
        """For logs, JSON and history: secrets and ssh keys by id only."""
        if self.value is None:
            return self.flag
        if PASS_THROUGH[self.flag].secret_bearing:
            ident = self.value.split(",", 1)[0]
            return f"{self.flag} {ident}{',...' if ',' in self.value else ''}"
        return f"{self.flag} {self.value}"


PASS_THROUGH: dict[str, PassThrough] = {
    spec.flag: spec
    for spec in (
        PassThrough(flag="--add-host", kind="value", help="a custom host-to-IP mapping (host:ip)"),
        PassThrough(flag="--allow", kind="value", help="an extra entitlement (network.host, ...)"),
        PassThrough(flag="--annotation", kind="value", help="an annotation on the image"),
        PassThrough(flag="--attest", kind="value", help="attestation (type=sbom,...)"),
        PassThrough(flag="--build-context", kind="value", help="an extra build context name=path"),
        PassThrough(flag="--cache-from", kind="value", help="an external cache source"),
        PassThrough(flag="--cache-to", kind="value", help="a cache export destination"),
        PassThrough(
            flag="--cgroup-parent", kind="value", repeatable=False, help="parent cgroup of RUN"
        ),
        PassThrough(flag="--label", kind="value", help="metadata for the image (key=value)"),
        PassThrough(
            flag="--network", kind="value", repeatable=False, help="networking mode of RUN steps"
        ),
        PassThrough(flag="--no-cache", kind="switch", repeatable=False, help="build from scratch"),
        PassThrough(flag="--no-cache-filter", kind="value", help="do not cache this stage"),
        PassThrough(
            flag="--provenance", kind="value", repeatable=False, help="provenance attestation"
        ),
        PassThrough(flag="--pull", kind="switch", repeatable=False, help="pull every base image"),
        PassThrough(flag="--sbom", kind="value", repeatable=False, help="SBOM attestation"),
        PassThrough(
            flag="--secret",
            kind="value",
            secret_bearing=True,
            help="a secret for RUN --mount=type=secret (id=NAME,src=FILE or env=VAR)",
        ),
        PassThrough(
            flag="--shm-size", kind="value", repeatable=False, help="shared memory of RUN steps"
        ),
        PassThrough(
            flag="--ssh",
            kind="value",
            secret_bearing=True,
            help="an SSH agent or keys for RUN --mount=type=ssh (default|ID[=SOCKET|KEY])",
        ),
        PassThrough(flag="--ulimit", kind="value", help="a ulimit of RUN steps (nofile=1024:1024)"),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A buildx option that would contradict the plan, with the reason and buildorch's way."""

    spellings: tuple[str, ...]
    kind: Kind
    why: str


REFUSED = (
    Refused(
        spellings=("--platform",),
        kind="value",
        why="buildorch chooses how each platform is built: name them with --target "
        "(arm64, linux/amd64, or a comma list)",
    ),
    Refused(
        spellings=("--progress",),
        kind="value",
        why="buildorch reads buildx's plain progress to show its own and time each step: "
        "--json gives a record for scripts, --debug the docker commands",
    ),
    Refused(
        spellings=("-q", "--quiet"),
        kind="switch",
        why="buildorch prints its own summary: --json gives a record for scripts",
    ),
)
"""(buildx's `--target STAGE` is buildorch's `--build-target STAGE`, as `--target` names
platforms here; buildx's `-t NAME` is `--tag NAME`.)"""


def refusal(flag: str) -> str | None:
    """Why buildorch refuses this buildx option, or None."""
    return next((r.why for r in REFUSED if flag in r.spellings), None)


def cache_export_refusal(flags: tuple[BuildxFlag, ...], exports_cache: bool) -> str | None:
    """Why a `--cache-to` cannot work on this builder, or None. The docker driver on the
    classic image store exports only the inline cache ("Cache export is not supported for the
    docker driver")."""
    if exports_cache:
        return None
    for flag in flags:
        if flag.flag == "--cache-to" and flag.value is not None:
            kind = _cache_type(flag.value)
            if kind != "inline":
                return (
                    f"`--cache-to {flag.value}` exports a {kind} cache, and this builder (the "
                    "docker driver on the classic image store) exports only `type=inline`"
                )
    return None


def _cache_type(spec: str) -> str:
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    # a bare name is a registry reference (buildx reads `user/app:cache` as type=registry)
    return fields.get("type", "registry")
