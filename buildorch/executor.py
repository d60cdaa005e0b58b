"""Carry out a plan: one engine build per invocation, then the manifest join. Decides nothing.

Outputs are published atomically: files are built into a private temporary sibling of the
destination and moved into place only when the build succeeded. Whatever buildorch created
for a run is removed when the run ends, whether it succeeded, failed or was interrupted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, assert_never

from buildorch import elf, engine, tree, workspace
from buildorch.errors import ConfigError, RegistryError
from buildorch.fsutil import publish, staged_dir
from buildorch.plan import Invocation, Plan, Strategy
from buildorch.platforms import Platform

# the first words of the lines that report a file built for the wrong machine, a package the
# target has no build of, and a file the cross build did not make (the cross kit's and this
# module's)
WRONG_ARCHITECTURE = "buildorch-cross: WRONG ARCHITECTURE:"
NO_TARGET_BUILD = "buildorch-cross: NO TARGET BUILD:"
NOT_BUILT = "buildorch-cross: NOT BUILT:"
NO_SPACE = "buildorch: no space left for the result:"
# what a failed export leaves free when it stopped for want of space
_NEARLY_FULL = 1 << 20
_log = logging.getLogger(__name__)


class Progress(Protocol):
    """Where the executor reports what it is doing (the console, or nothing)."""

    def note(self, text: str) -> None: ...

    def started(self, invocation: Invocation, strategies: str) -> None: ...

    def line(self, invocation: Invocation, text: str) -> None: ...

    def finished(self, invocation: Invocation, result: InvocationResult) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class InvocationResult:
    label: str
    platforms: tuple[str, ...]
    strategies: str
    seconds: float
    ok: bool
    output: str
    """Where the result went, in words a user can follow (a folder, tags, a digest)."""
    steps: int = 0
    cached: int = 0
    slowest: tuple[tuple[str, float], ...] = ()
    compiler_cache: tuple[engine.CacheRate, ...] = ()
    log_tail: tuple[str, ...] = ()
    digest: str | None = None
    """The image's digest, when the build made one (pushed or loaded)."""
    pushed: tuple[str, ...] = ()
    """The tags it pushed, when it did."""
    derived: bool = False
    """Built from buildorch's cross-compiling derivation of the project's Dockerfile."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MergeResult:
    tags: tuple[str, ...]
    seconds: float
    sources: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildReport:
    results: tuple[InvocationResult, ...]
    merge: MergeResult | None
    seconds: float
    mirror: tree.SyncReport | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "builds": [
                {
                    "label": r.label,
                    "platforms": list(r.platforms),
                    "strategy": r.strategies,
                    "seconds": round(r.seconds, 2),
                    "ok": r.ok,
                    "output": r.output,
                    "steps": r.steps,
                    "cached": r.cached,
                    "slowest": [{"step": name, "seconds": sec} for name, sec in r.slowest],
                    "compiler_cache": [
                        {"step": c.step, "hits": c.hits, "misses": c.misses, "rate": c.rate}
                        for c in r.compiler_cache
                    ],
                }
                for r in self.results
            ],
            "merge": None
            if self.merge is None
            else {
                "tags": list(self.merge.tags),
                "sources": list(self.merge.sources),
                "seconds": round(self.merge.seconds, 2),
            },
            "mirror": None
            if self.mirror is None
            else {
                "copied": self.mirror.copied,
                "copied_bytes": self.mirror.copied_bytes,
                "removed": self.mirror.removed,
                "unchanged": self.mirror.unchanged,
                "seconds": round(self.mirror.seconds, 2),
            },
        }


def execute(
    plan: Plan,
    env: Mapping[str, str],
    progress: Progress,
    listing: tree.Listing | None = None,
    state: Path | None = None,
) -> BuildReport:
    """Run the plan. With a mirror, hold the project's lock (`state`), bring the mirror in
    step with `listing` (the context as read when planning) and build from it."""
    if plan.mirror is None:
        return _execute(plan, env, progress)
    assert listing is not None and state is not None, "a mirrored plan needs its listing"
    with workspace.locked(state, progress.note):
        _log.debug("phase: sync %s", plan.mirror.path)
        progress.note(f"bringing the mirror in step: {plan.mirror.path}")
        synced = tree.sync(
            Path(plan.mirror.source),
            listing,
            Path(plan.mirror.path),
            workspace.mirror_record(state),
        )
        progress.note(
            f"mirror: {synced.copied} copied, {synced.removed} removed, {synced.unchanged} "
            f"unchanged ({synced.seconds:.1f} s)"
        )
        report = _execute(plan, env, progress)
    return replace(report, mirror=synced, seconds=report.seconds + synced.seconds)


def _execute(plan: Plan, env: Mapping[str, str], progress: Progress) -> BuildReport:
    """Run every invocation; stop at the first failed one (later ones would not be used)."""
    started = time.monotonic()
    strategies = {str(step.platform): step.strategy.value for step in plan.steps}
    crossed = frozenset(step.platform for step in plan.steps if step.strategy is Strategy.CROSS)
    results: list[InvocationResult] = []
    with tempfile.TemporaryDirectory(prefix="buildorch-run-") as scratch:
        for invocation in plan.invocations:
            used = ",".join(sorted({strategies[str(p)] for p in invocation.platforms}))
            progress.started(invocation, used)
            try:
                result = _run(invocation, used, crossed, Path(scratch), env, progress)
            except RegistryError as exc:
                raise _listing_pushed(exc, results) from exc
            progress.finished(invocation, result)
            results.append(result)
            if not result.ok:
                break
        merge = None
        if plan.merge is not None and all(r.ok for r in results):
            began = time.monotonic()
            pushed = tuple(
                f"{source}@{r.digest}" if r.digest else source
                for source, r in zip(plan.merge.sources, results, strict=True)
            )
            _log.debug("phase: join %s", ", ".join(plan.merge.tags))
            engine.join_manifest(plan.merge.tags, plan.merge.sources, env, pushed=pushed)
            merge = MergeResult(
                tags=plan.merge.tags, seconds=time.monotonic() - began, sources=plan.merge.sources
            )
    return BuildReport(results=tuple(results), merge=merge, seconds=time.monotonic() - started)


def _listing_pushed(exc: RegistryError, done: list[InvocationResult]) -> RegistryError:
    """A push that failed after others succeeded: say which images are in the registry."""
    pushed = [f"{tag}@{r.digest}" if r.digest else tag for r in done for tag in r.pushed]
    if not pushed:
        return exc
    listed = "".join(f"\n  {image}" for image in pushed)
    return RegistryError(exc.what, why=exc.why, fix=f"{exc.fix}; pushed already:{listed}")


def _checked(
    outcome: engine.BuildOutcome,
    staging: Path,
    invocation: Invocation,
    crossed: frozenset[Platform],
) -> engine.BuildOutcome:
    """A cross build's files before they are published: every ELF file must be the target's
    (a step that compiled for the build machine fails the build, naming the file)."""
    wrong: list[str] = []
    for platform in invocation.platforms:
        if platform not in crossed:
            continue
        root = staging / platform.dir_name if len(invocation.platforms) > 1 else staging
        found, _ = elf.wrong_files(root, platform)
        wrong.extend(
            f"{WRONG_ARCHITECTURE} {f.path} is {f.found.name}, not {platform.arch}" for f in found
        )
    if not wrong:
        return outcome
    return replace(outcome, ok=False, log_tail=(*outcome.log_tail, *wrong))


def unwritable_output(dest: str | Path, why: str) -> ConfigError:
    """An output folder this user cannot write: the user's to fix (planning says it when the
    folder's modes tell; building, when writing beside it fails)."""
    return ConfigError(
        f"cannot write the result to {dest}",
        why=why,
        fix="give -o a folder you can write (a read-only file system or a folder of "
        "another user's will not do)",
    )


def _check_writable(dest: Path) -> None:
    """The result goes beside `dest` first: a folder that cannot be written there is the
    user's to fix, said before anything is built."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=dest.parent):
            pass
    except OSError as exc:
        raise unwritable_output(dest, f"{dest.parent}: {exc.strerror or exc}") from exc


def _disk_full(outcome: engine.BuildOutcome, staging: Path, dest: str) -> engine.BuildOutcome:
    """buildx says only `EOF` when the files it writes fill the disk: say it (measured while
    the partial result is still there, before it is removed)."""
    free = shutil.disk_usage(staging).free
    if free > _NEARLY_FULL:
        return outcome
    said = f"{NO_SPACE} {free // 1024} KB free on the disk of {dest}"
    return replace(outcome, log_tail=(*outcome.log_tail, said))


def _dockerfile_for(invocation: Invocation, scratch: Path) -> str:
    """The Dockerfile to build: the project's, or its cross-compiling derivation, written
    where the run's own files go (never into the project) with the ignore file that belongs
    to the original (`Dockerfile.dockerignore` is read beside the Dockerfile)."""
    if invocation.derived_dockerfile is None:
        return invocation.dockerfile
    derived = scratch / f"{invocation.label}.Dockerfile"
    derived.write_text(invocation.derived_dockerfile, encoding="utf-8")
    own_ignore = Path(invocation.dockerfile + ".dockerignore")
    if own_ignore.is_file():
        shutil.copyfile(own_ignore, scratch / f"{invocation.label}.Dockerfile.dockerignore")
    return str(derived)


def _run(
    invocation: Invocation,
    strategies: str,
    crossed: frozenset[Platform],
    scratch: Path,
    env: Mapping[str, str],
    progress: Progress,
) -> InvocationResult:
    out = invocation.output
    metadata = scratch / f"{invocation.label}.metadata.json"
    request = engine.BuildRequest(
        context=invocation.context,
        dockerfile=_dockerfile_for(invocation, scratch),
        platforms=tuple(str(p) for p in invocation.platforms),
        build_target=invocation.build_target,
        build_args=invocation.build_args,
        builder=invocation.builder,
        docker_context=invocation.docker_context,
        metadata_file=str(metadata),
        buildx=tuple(arg for flag in invocation.buildx for arg in flag.argv()),
    )
    began = time.monotonic()
    _log.debug("phase: build %s (%s)", invocation.label, out.kind)

    def build(req: engine.BuildRequest) -> engine.BuildOutcome:
        return engine.build(req, env, lambda text: progress.line(invocation, text))

    match out.kind:
        case "dir":
            assert out.dest is not None
            _check_writable(Path(out.dest))
            with staged_dir(Path(out.dest)) as staging:
                local = engine.OutputOption("type", "local")
                dest = engine.OutputOption("dest", str(staging))
                outcome = build(replace(request, output=(local, dest)))
                if outcome.ok:
                    outcome = _checked(outcome, staging, invocation, crossed)
                else:
                    outcome = _disk_full(outcome, staging, out.dest)
                if outcome.ok:
                    _log.debug("phase: publish %s", out.dest)
                    publish(staging, Path(out.dest))
            where = out.dest
        case "push":
            outcome = build(replace(request, tags=out.tags, push=True))
            where = "pushed " + ", ".join(out.tags)
        case "load":
            outcome = build(replace(request, tags=out.tags, load=True))
            where = "loaded " + (", ".join(out.tags) or f"(untagged, {outcome.digest})")
        case "none":
            outcome = build(request)
            where = "build cache only (pass --load, --push or --output)"
        case _:
            assert_never(out.kind)
    return InvocationResult(
        label=invocation.label,
        platforms=tuple(str(p) for p in invocation.platforms),
        strategies=strategies,
        seconds=time.monotonic() - began,
        ok=outcome.ok,
        output=where if outcome.ok else "nothing written",
        steps=outcome.steps,
        cached=outcome.cached,
        slowest=outcome.slowest,
        compiler_cache=outcome.compiler_cache,
        log_tail=outcome.log_tail,
        digest=outcome.digest,
        pushed=out.tags if out.kind == "push" and outcome.ok else (),
        derived=invocation.derived_dockerfile is not None,
    )
