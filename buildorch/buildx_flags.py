"""The `docker buildx build` options buildorch passes through, owns, or refuses. Pure.

Users come with a buildx command line. Every option buildorch does not decide itself keeps
buildx's spelling and meaning and goes to each build the plan runs; the few that would
contradict the plan are refused with the reason and buildorch's own spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from buildorch.platforms import Platform

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
    writes_file: bool = False
    """buildx writes this file after the build: one per build where the plan splits."""


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
        PassThrough(
            flag="--iidfile",
            kind="value",
            repeatable=False,
            writes_file=True,
            help="write the image ID to FILE (one per build where the plan splits)",
        ),
        PassThrough(flag="--label", kind="value", help="metadata for the image (key=value)"),
        PassThrough(
            flag="--metadata-file",
            kind="value",
            repeatable=False,
            writes_file=True,
            help="write the build result's metadata to FILE (one per build where the plan splits)",
        ),
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


def per_build(
    flags: tuple[BuildxFlag, ...],
    platforms: tuple[Platform, ...],
    *,
    of: tuple[Platform, ...],
) -> tuple[BuildxFlag, ...]:
    """The flags of one build of `platforms` out of all the targets `of`. buildx writes an
    --iidfile or --metadata-file at the end of each build: when the plan splits the targets
    into several builds, each gets a file of its own (`meta.json` -> `meta.linux-arm64.json`)
    instead of the last build overwriting the others'."""
    if set(platforms) == set(of):
        return flags
    suffix = "-".join(p.slug for p in platforms)
    return tuple(
        BuildxFlag(flag=flag.flag, value=per_build_file(flag.value, suffix))
        if flag.value is not None and PASS_THROUGH[flag.flag].writes_file
        else flag
        for flag in flags
    )


def per_build_file(path: str, suffix: str) -> str:
    """`out/meta.json` -> `out/meta.linux-arm64.json`; `iid` -> `iid.linux-arm64`."""
    file = Path(path)
    if not file.name:
        return f"{path}.{suffix}"
    return str(file.with_name(f"{file.stem}.{suffix}{file.suffix}"))


# entitlements that run a build's steps with more than a container's usual rights
_PRIVILEGED_ENTITLEMENTS = {
    "security.insecure": "RUN --security=insecure steps run privileged (every capability of "
    "the builder, its devices)",
    "network.host": "RUN --network=host steps share the host's network",
}


def privilege_notes(flags: tuple[BuildxFlag, ...]) -> list[str]:
    """What the plan says when the user's own options let steps run with extra rights: buildorch
    never asks for them itself (no privileged container, no extra capability, no host pid)."""
    return [
        f"{flag.flag} {flag.value} (yours): {_PRIVILEGED_ENTITLEMENTS[entitlement]}"
        for flag in flags
        if flag.flag == "--allow" and flag.value is not None
        for entitlement in flag.value.split(",")
        if entitlement in _PRIVILEGED_ENTITLEMENTS
    ]


def per_build_note(flags: tuple[BuildxFlag, ...], platforms: tuple[Platform, ...]) -> list[str]:
    """What the plan says when it splits builds that write a file each."""
    return [
        f"{flag.flag} {flag.value}: one file per build, as "
        + ", ".join(per_build_file(flag.value, p.slug) for p in platforms)
        for flag in flags
        if flag.value is not None and PASS_THROUGH[flag.flag].writes_file
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretSource:
    """Where a `--secret` is read from, as buildx reads it: a variable or a file."""

    id: str
    env: str | None = None
    file: str | None = None


def secret_source(value: str) -> SecretSource:
    """`id=npm,env=NPM_TOKEN`, `id=npmrc,src=~/.npmrc`, `type=env,id=X,src=VAR`, or `id=X`
    alone (buildx then reads the variable X when it is set: the form CI uses)."""
    fields = {key: text for key, _, text in (part.partition("=") for part in value.split(","))}
    ident = fields.get("id", "")
    source = fields.get("src") or fields.get("source")
    if fields.get("env"):
        return SecretSource(id=ident or fields["env"], env=fields["env"])
    if fields.get("type") == "env":
        return SecretSource(id=ident, env=source or ident)
    if source:
        return SecretSource(id=ident or Path(source).name, file=source)
    return SecretSource(id=ident, env=ident)


def secret_variables(flags: tuple[BuildxFlag, ...]) -> tuple[str, ...]:
    """The environment variables the `--secret`s among `flags` are read from."""
    found = (secret_source(f.value).env for f in flags if f.flag == "--secret" and f.value)
    return tuple(dict.fromkeys(name for name in found if name))


def ssh_ids(value: str) -> tuple[str, tuple[str, ...]]:
    """`default`, `id`, `id=/path/agent.sock` or `id=key1,key2`: the id and what it names."""
    ident, _, paths = value.partition("=")
    return ident, tuple(p for p in paths.split(",") if p)


def env_name(text: str) -> str:
    """`npm-token` -> `NPM_TOKEN`: a name GitHub takes for a secret and a shell for a
    variable (GitHub reserves `GITHUB_` names for its own, except its GITHUB_TOKEN)."""
    name = re.sub(r"[^A-Z0-9_]", "_", text.upper()) or "SECRET"
    if name[0].isdigit():
        name = f"_{name}"
    if name.startswith("GITHUB_") and name != "GITHUB_TOKEN":
        name = f"BUILD_{name}"
    return name


def merged(base: tuple[BuildxFlag, ...], over: tuple[BuildxFlag, ...]) -> tuple[BuildxFlag, ...]:
    """A later layer's options (the command line) added to an earlier one's (buildorch.yaml):
    a repeatable option adds to the list, a single one (`--network`) replaces the earlier
    value. `buildorch build --no-cache` keeps buildorch.yaml's secrets."""
    replaced = {f.flag for f in over if not PASS_THROUGH[f.flag].repeatable}
    return (*(f for f in base if f.flag not in replaced), *over)


# values that name a file or folder of the user's: relative ones are the project's when they
# come from buildorch.yaml (a secret's src=, an ssh key, a build context, a file buildx writes)
_PATH_FIELDS = {"--secret": ("src", "source"), "--ssh": (), "--build-context": ()}


def anchored(flags: tuple[BuildxFlag, ...], project_dir: Path) -> tuple[BuildxFlag, ...]:
    """buildorch.yaml's options with their relative paths made the project's, so that a build
    started from another folder reads the same files."""

    def at(path: str) -> str:
        return path if Path(path).is_absolute() else str(project_dir / path)

    return tuple(_map_paths(flag, at) for flag in flags)


def relative_to(
    flags: tuple[BuildxFlag, ...], relative: Callable[[str], str | None]
) -> tuple[BuildxFlag, ...]:
    """The options with their absolute paths as `relative` gives them (a workflow, which runs
    at the repository's top, names paths from there, never this machine's folders); a path
    it gives None for stays as it is."""
    return tuple(_map_paths(flag, lambda path: relative(path) or path) for flag in flags)


def _map_paths(flag: BuildxFlag, to: Callable[[str], str]) -> BuildxFlag:
    value = flag.value
    if value is None:
        return flag
    if PASS_THROUGH[flag.flag].writes_file:
        return BuildxFlag(flag=flag.flag, value=to(value))
    if flag.flag == "--secret":
        parts = [
            f"{k}={to(v)}" if k in _PATH_FIELDS["--secret"] else f"{k}={v}"
            for k, _, v in (p.partition("=") for p in value.split(","))
        ]
        return BuildxFlag(flag=flag.flag, value=",".join(parts))
    if flag.flag in ("--ssh", "--build-context") and "=" in value:
        name, _, target = value.partition("=")
        # a build context may be a URL or an image (docker-image://, oci-layout://, https://)
        if "://" in target or (flag.flag == "--ssh" and "," in target):
            return flag
        return BuildxFlag(flag=flag.flag, value=f"{name}={to(target)}")
    return flag
