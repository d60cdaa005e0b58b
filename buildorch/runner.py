"""Carry out a run plan: bring the project's volume in step, run the command, bring back the
results. Decides nothing.

The volume holds a copy of the sources plus whatever the command wrote next to them, so
in-tree builds stay incremental. What buildorch last copied in is recorded beside the
project's mirror (`volumes/NAME.json`); a run copies only what changed since, and removes
what the sources no longer have. The record is written after the copy, so an interrupted run
leaves a record that is old, never one that claims too much: the next run copies again.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from buildorch import engine, tree, workspace
from buildorch.errors import BuildFailedError
from buildorch.fsutil import publish, staged_dir
from buildorch.plan import RunPlan, Sources, skipped_json

# `rm` takes this many paths per call, well inside any argument limit
_REMOVE_BATCH = 500
_log = logging.getLogger(__name__)


class RunProgress(Protocol):
    def note(self, text: str) -> None: ...

    def output(self, text: str) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class RunReport:
    exit_code: int
    copied: int
    copied_bytes: int
    removed: int
    sync_seconds: float
    run_seconds: float
    collected: tuple[str, ...]
    skipped: tuple[tree.SpecialFile, ...] = ()
    """Sockets, fifos and devices of the sources the volume does not get."""

    def to_json(self) -> dict[str, object]:
        return {
            "exit_code": self.exit_code,
            "copied": self.copied,
            "copied_bytes": self.copied_bytes,
            "removed": self.removed,
            "sync_seconds": round(self.sync_seconds, 2),
            "run_seconds": round(self.run_seconds, 2),
            "collected": list(self.collected),
            "skipped": skipped_json(self.skipped),
        }


def execute_run(
    plan: RunPlan,
    listing: tree.Listing,
    state: Path,
    project_id: str,
    env: Mapping[str, str],
    progress: RunProgress,
) -> RunReport:
    labels = (engine.Label(workspace.LABEL, project_id),)
    mounts: list[engine.ContainerMount] = []
    copied = removed = copied_bytes = 0
    began = time.monotonic()
    with workspace.locked(state, progress.note):
        # the lock is this run's: a container of the project now is one a run killed
        # outright (SIGKILL, power loss) could not remove
        left = engine.remove_containers(workspace.LABEL, project_id, env)
        if left:
            progress.note(f"removed containers an earlier run left: {', '.join(left)}")
        if plan.sources is Sources.VOLUME:
            assert plan.volume is not None
            _log.debug("phase: fill %s", plan.volume)
            copied, copied_bytes, removed = _fill_volume(
                plan, listing, state, labels, env, progress
            )
            mounts.append(engine.ContainerMount(plan.volume, plan.workdir))
        else:
            mounts.append(engine.ContainerMount(plan.source_dir, plan.workdir))
        for path, volume in plan.keep:
            engine.ensure_volume(volume, dict(labels), env)
            mounts.append(engine.ContainerMount(volume, f"{plan.workdir}/{path}"))
        synced = time.monotonic()
        _log.debug("phase: run")
        progress.note(f"running {' '.join(plan.command)} on {plan.platform} in {plan.image}")
        collected: list[str] = []
        with contextlib.ExitStack() as stack:
            staging = (
                stack.enter_context(staged_dir(Path(plan.output_dir)))
                if plan.collect and plan.output_dir
                else None
            )

            def collect(container: str) -> None:
                assert staging is not None
                _log.debug("phase: collect %s", ", ".join(plan.collect))
                for path in plan.collect:
                    dest = staging / Path(path).parent
                    dest.mkdir(parents=True, exist_ok=True)
                    engine.copy_out(container, f"{plan.workdir}/{path}", dest, env)
                    collected.append(path)

            code = engine.run_container(
                engine.ContainerSpec(
                    image=plan.image,
                    platform=str(plan.platform),
                    mounts=tuple(mounts),
                    workdir=plan.workdir,
                    command=plan.command,
                    name=f"buildorch-run-{project_id}-{time.time_ns() % 10**9}",
                    labels=labels,
                ),
                env,
                progress.output,
                collect if staging is not None else None,
                notes=progress.note,
            )
            if code == 0 and staging is not None and plan.output_dir is not None:
                _log.debug("phase: publish %s", plan.output_dir)
                publish(staging, Path(plan.output_dir))
    return RunReport(
        exit_code=code,
        copied=copied,
        copied_bytes=copied_bytes,
        removed=removed,
        sync_seconds=synced - began,
        run_seconds=time.monotonic() - synced,
        collected=tuple(collected),
    )


def _fill_volume(
    plan: RunPlan,
    listing: tree.Listing,
    state: Path,
    labels: tuple[engine.Label, ...],
    env: Mapping[str, str],
    progress: RunProgress,
) -> tuple[int, int, int]:
    """Copy into the volume what changed since the last run; remove what the sources lost."""
    assert plan.volume is not None
    record = state / "volumes" / f"{plan.volume}.json"
    # a new volume (or one removed behind buildorch's back) holds nothing, whatever the record
    had = {} if engine.ensure_volume(plan.volume, dict(labels), env) else tree.load_listing(record)
    spec = engine.ContainerSpec(
        image=plan.image,
        platform=str(plan.platform),
        mounts=(engine.ContainerMount(plan.volume, plan.workdir),),
        workdir=plan.workdir,
        command=(),
        name=f"buildorch-fill-{plan.volume}-{time.time_ns() % 10**9}",
        labels=labels,
    )
    if had is None:
        # the record is lost or from another version: what the volume holds is unknown, and
        # files the sources no longer have must not linger there, so it starts over empty
        progress.note(f"volume {plan.volume} has no record of its files: emptying it")
        empty = ("-c", 'rm -rf -- "$0"/* "$0"/.[!.]* "$0"/..?*', plan.workdir)
        _tend_volume(replace(spec, entrypoint="sh", command=empty), env, progress)
        had = {}
    changed = [
        rel
        for rel, entry in listing.items()
        if entry.kind != "dir" and (rel not in had or not had[rel].same_as(entry))
    ]
    gone = sorted(rel for rel in had if rel not in listing)
    for start in range(0, len(gone), _REMOVE_BATCH):
        batch = tuple(f"{plan.workdir}/{rel}" for rel in gone[start : start + _REMOVE_BATCH])
        _tend_volume(replace(spec, entrypoint="rm", command=("-rf", "--", *batch)), env, progress)
    copied_bytes = 0
    if changed:
        progress.note(f"copying {len(changed)} changed files into volume {plan.volume}")
        with tempfile.TemporaryDirectory(prefix="fill-", dir=state) as scratch:
            copied_bytes = tree.copy_files(Path(plan.source_dir), listing, changed, Path(scratch))
            engine.copy_into(spec, Path(scratch), plan.workdir, env, notes=progress.note)
    tree.save_listing(record, listing)
    return len(changed), copied_bytes, len(gone)


def _tend_volume(spec: engine.ContainerSpec, env: Mapping[str, str], progress: RunProgress) -> None:
    """Remove files in the sources volume; a volume left unlike its record must stop the run."""
    code = engine.run_container(spec, env, progress.output, notes=progress.note)
    if code != 0:
        raise BuildFailedError(
            f"could not remove files from volume {spec.mounts[0].source}",
            why=f"`{' '.join((spec.entrypoint or '', *spec.command))}` in {spec.image} "
            f"exited with {code}",
            fix="use an --image with a shell and rm (most have both), or `buildorch clean` "
            "and run again",
        )
