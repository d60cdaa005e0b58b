"""`buildorch offload`: run the generated workflow on GitHub's runners with the `gh` CLI, wait
for it, and bring the files of the asked-for platforms back, atomically.

Without `gh` (or logged out) nothing is dispatched: the same steps are returned as commands a
person can type, which the CLI prints.
"""

from __future__ import annotations

import calendar
import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from buildorch.errors import BuildFailedError, OffloadUnavailable, ProjectError
from buildorch.fsutil import publish, staged_dir
from buildorch.generate.workflow import WORKFLOW_PATH

# a dispatched run shows up in `gh run list` within seconds; give GitHub a minute
_FIND_RUN_SECONDS = 60.0
_POLL_SECONDS = 3.0


class Artifact(NamedTuple):
    """The files one platform's job of the workflow uploads, under a name, and the folder
    they are brought back to."""

    platform: str
    name: str
    folder: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class OffloadRequest:
    repo_root: Path
    ref: str
    """The branch the workflow runs on: what is pushed there is what gets built."""
    artifacts: tuple[Artifact, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class OffloadReport:
    run_id: int
    url: str
    downloaded: tuple[Artifact, ...]
    seconds: float


def workflow_file() -> str:
    return Path(WORKFLOW_PATH).name


def manual_steps(request: OffloadRequest) -> list[str]:
    """What `offload` does, as commands to type where `gh` is installed and logged in."""
    name = workflow_file()
    steps = [
        f"gh workflow run {name} --ref {shlex.quote(request.ref)}",
        f"gh run list --workflow {name} --branch {shlex.quote(request.ref)} "
        "--event workflow_dispatch --limit 1   # note the run's ID",
        "gh run watch RUN_ID --exit-status",
    ]
    steps.extend(
        f"gh run download RUN_ID --name {artifact.name} --dir {shlex.quote(str(artifact.folder))}"
        for artifact in request.artifacts
    )
    return steps


def gh_ready(env: Mapping[str, str]) -> str | None:
    """Why `gh` cannot be used here, or None when it can."""
    gh = shutil.which("gh", path=env.get("PATH"))
    if gh is None:
        return "the GitHub CLI `gh` is not installed"
    status = subprocess.run(
        [gh, "auth", "status"], capture_output=True, text=True, env=dict(env), check=False
    )
    if status.returncode != 0:
        return "`gh auth status` says it is not logged in"
    return None


def current_branch(repo_root: Path, env: Mapping[str, str]) -> str:
    done = _git(repo_root, ["symbolic-ref", "--short", "HEAD"], env)
    if done.returncode != 0 or not done.stdout.strip():
        raise ProjectError(
            f"cannot tell which branch {repo_root} is on",
            why=done.stderr.strip() or "not a git repository, or a detached HEAD",
            fix="pass --ref BRANCH (a branch pushed to GitHub)",
        )
    return done.stdout.strip()


def unpushed(repo_root: Path, ref: str, env: Mapping[str, str]) -> str | None:
    """A warning when the local branch has commits the runner will not see."""
    probe = _git(repo_root, ["rev-list", "--count", f"origin/{ref}..HEAD"], env)
    if probe.returncode != 0:
        return f"origin/{ref} is not known here: the runner builds what is pushed to {ref}"
    if probe.stdout.strip() not in ("", "0"):
        return (
            f"{probe.stdout.strip()} local commit(s) are not pushed to origin/{ref}: "
            "the runner builds what is pushed"
        )
    return None


def offload(
    request: OffloadRequest, env: Mapping[str, str], on_line: Callable[[str], None]
) -> OffloadReport:
    """Dispatch the workflow, wait for its run, download the artifacts. Raises
    BuildFailedError when the run fails."""
    if not (request.repo_root / WORKFLOW_PATH).is_file():
        raise ProjectError(
            f"no {WORKFLOW_PATH} in {request.repo_root}",
            why="offload runs the workflow `buildorch ci github` writes",
            fix="run `buildorch ci github`, commit and push the workflow, then offload again",
        )
    began = time.monotonic()
    dispatched_at = time.time()
    name = workflow_file()
    _gh(["workflow", "run", name, "--ref", request.ref], request, env)
    run_id, url = _find_run(request, env, since=dispatched_at)
    on_line(f"run {run_id}: {url}")
    try:
        watch = subprocess.Popen(
            ["gh", "run", "watch", str(run_id), "--exit-status", "--interval", "10"],
            cwd=request.repo_root,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except OSError as exc:
        raise _no_gh(exc) from exc
    try:
        assert watch.stdout is not None
        for line in watch.stdout:
            on_line(line.rstrip("\n"))
        code = watch.wait()
    finally:
        if watch.poll() is None:  # Ctrl-C: stop watching; the run goes on at GitHub
            watch.kill()
            watch.wait()
    if code != 0:
        raise BuildFailedError(
            f"the workflow run failed: {url}",
            why=f"`gh run watch` exited with {code}",
            fix=f"see the run's log: gh run view {run_id} --log-failed",
        )
    for artifact in request.artifacts:
        with staged_dir(artifact.folder) as staging:
            _gh(
                ["run", "download", str(run_id), "--name", artifact.name, "--dir", str(staging)],
                request,
                env,
            )
            publish(staging, artifact.folder)
    return OffloadReport(
        run_id=run_id, url=url, downloaded=request.artifacts, seconds=time.monotonic() - began
    )


def _no_gh(exc: OSError) -> OffloadUnavailable:
    return OffloadUnavailable(
        "the GitHub CLI `gh` could not be started",
        why=str(exc),
        fix="install gh from https://cli.github.com and run `gh auth login`, then offload again",
    )


def _find_run(request: OffloadRequest, env: Mapping[str, str], *, since: float) -> tuple[int, str]:
    deadline = time.monotonic() + _FIND_RUN_SECONDS
    while True:
        listed = _gh(
            ["run", "list", "--workflow", workflow_file(), "--branch", request.ref,
             "--event", "workflow_dispatch", "--limit", "5",
             "--json", "databaseId,createdAt,url"],
            request, env,
        )  # fmt: skip
        for run in json.loads(listed or "[]"):
            created = calendar.timegm(time.strptime(run["createdAt"], "%Y-%m-%dT%H:%M:%SZ"))
            if created >= since - 5:  # GitHub's clock and ours may differ a little
                return int(run["databaseId"]), str(run["url"])
        if time.monotonic() > deadline:
            raise BuildFailedError(
                "the dispatched run did not show up",
                why=f"no run of {workflow_file()} on {request.ref} appeared within "
                f"{_FIND_RUN_SECONDS:.0f} s",
                fix=f"look for it: gh run list --workflow {workflow_file()}",
            )
        time.sleep(_POLL_SECONDS)


def _git(
    repo_root: Path, args: list[str], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    command = ["git", "-C", str(repo_root), *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, env=dict(env), check=False)
    except OSError as exc:  # no git here: answered like a failed git, which callers explain
        return subprocess.CompletedProcess(command, 127, "", f"git could not be started: {exc}")


def _gh(args: list[str], request: OffloadRequest, env: Mapping[str, str]) -> str:
    try:
        done = subprocess.run(
            ["gh", *args],
            cwd=request.repo_root,
            capture_output=True,
            text=True,
            env=dict(env),
            check=False,
        )
    except OSError as exc:
        raise _no_gh(exc) from exc
    if done.returncode != 0:
        raise BuildFailedError(
            f"`gh {' '.join(args[:2])}` failed",
            why=(done.stderr or done.stdout).strip()[-800:],
            fix="check `gh auth status` and that the workflow is pushed to GitHub",
        )
    return done.stdout
