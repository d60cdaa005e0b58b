"""The one module that talks to Docker.

Everything goes through python-on-whales, so each call is one logged `docker ...` command
whose failure keeps the command, exit code and stderr. Transient failures (a registry that
is still starting, a daemon that is restarting) are retried with tenacity; build failures
are never retried. A docker command that fails leaves this module as a BuildorchError that
says what buildorch was doing, docker's own words, and what to do: never as python-on-whales'
exception.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from buildorch.errors import (
    BuildFailedError,
    BuildorchError,
    ConfigError,
    EngineError,
    EngineUnavailableError,
    ProjectError,
    RegistryError,
)
from buildorch.plan import BuildArg

# python-on-whales is imported where it is first used, not at start-up: it takes 0.3 s of
# CPU to import (its pydantic models), which `load_in_background` hides behind detection
if TYPE_CHECKING:
    from python_on_whales import DockerClient


_log = logging.getLogger(__name__)


def load_in_background() -> None:
    """Start importing python-on-whales on a thread of its own, for a build or run to come.
    (A later import waits for this one to finish rather than starting over.)"""
    threading.Thread(
        target=importlib.import_module, args=("python_on_whales",), daemon=True
    ).start()


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineProbe:
    """What the docker CLI printed, raw, so a snapshot can store it as it came."""

    binary: bool
    info_json: str | None = None
    info_stderr: str | None = None
    version_json: str | None = None
    buildx_ls: str | None = None
    """`docker buildx ls --format json`; None when buildx is missing."""
    buildx_stderr: str | None = None
    contexts: str | None = None
    """`docker context ls --format json`: one object per line (a JSON list before 25)."""


def _docker_cmd(env: Mapping[str, str]) -> list[str]:
    binary = env.get("BUILDORCH_DOCKER") or shutil.which("docker", path=env.get("PATH"))
    return [binary or "docker"]


def _capture(cmd: list[str], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(stdout, stderr) of a command; stdout is kept even when it fails (docker info does).

    A plain subprocess: these questions then need not wait for python-on-whales to load."""
    try:
        done = subprocess.run(cmd, capture_output=True, env=dict(env), check=False)
    except OSError as exc:
        return None, str(exc)
    out = done.stdout.decode(errors="replace").removesuffix("\n") or None
    err = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        return out, err.strip() or f"exit code {done.returncode}"
    return out, err.removesuffix("\n") or None


def bake_definition(
    files: tuple[str, ...], targets: tuple[str, ...], folder: Path, env: Mapping[str, str]
) -> str:
    """`docker buildx bake --print`: the targets of bake or compose files as buildx resolves
    them (variables, functions, inheritance, groups), run in `folder`, where their relative
    paths start."""
    cmd = [*_docker_cmd(env), "buildx", "bake", "--print"]
    for file in files:
        cmd += ["--file", file]
    try:
        done = subprocess.run(
            [*cmd, *targets], capture_output=True, env=dict(env), cwd=folder, check=False
        )
    except OSError as exc:
        raise _failure(exc, "could not start docker buildx bake", fix="") from exc
    if done.returncode != 0:
        said_ = done.stderr.decode(errors="replace").strip().splitlines()
        errors = [line for line in said_ if line.startswith("ERROR")] or said_[-6:]
        raise ProjectError(
            f"buildx could not read the bake definition in {folder}",
            why="\n".join(errors) or f"exit code {done.returncode}",
            fix="fix the file or the target names (`docker buildx bake --print` shows the same)",
        )
    return done.stdout.decode(errors="replace")


def probe_engine(env: Mapping[str, str]) -> EngineProbe:
    """Ask the docker CLI about the engine, buildx and builders; never raises."""
    docker = _docker_cmd(env)
    if shutil.which(docker[0], path=env.get("PATH")) is None:
        return EngineProbe(binary=False)
    questions = {
        "info": ["info", "--format", "{{json .}}"],
        "version": ["version", "--format", "{{json .}}"],
        "buildx": ["buildx", "ls", "--format", "json"],
        "contexts": ["context", "ls", "--format", "json"],
    }
    # asked at once: each is a CLI start and a round trip to the daemon (or to remote nodes)
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        asked = {
            key: pool.submit(_capture, [*docker, *args], env) for key, args in questions.items()
        }
        answers = {key: future.result() for key, future in asked.items()}
    info, info_err = answers["info"]
    version, _ = answers["version"]
    buildx, buildx_err = answers["buildx"]
    contexts, _ = answers["contexts"]
    if buildx is None and buildx_err and "--format" in buildx_err:
        # buildx older than 0.13 has no --format; its absence is told by `docker buildx version`
        _, buildx_err = _capture([*docker, "buildx", "version"], env)
    return EngineProbe(
        binary=True,
        info_json=info,
        info_stderr=info_err,
        version_json=version,
        buildx_ls=buildx,
        buildx_stderr=buildx_err,
        contexts=contexts,
    )


def client(env: Mapping[str, str]) -> DockerClient:
    from python_on_whales import DockerClient

    return DockerClient(
        client_call=_docker_cmd(env),
        host=env.get("DOCKER_HOST") or None,
        context=env.get("DOCKER_CONTEXT") or None,
    )


# --- docker's failures, as errors a user can act on ---

# what docker says when it reached no daemon at all
_DAEMON_DOWN = ("cannot connect to the docker daemon", "is the docker daemon running")
# a registry or daemon that was not ready: worth another try, unlike a refusal
_TRANSIENT = re.compile(
    r"connection refused|connection reset|i/o timeout|\bEOF\b"
    r"|\b50[0234] (?:internal server error|bad gateway|service unavailable|gateway timeout)",
    re.IGNORECASE,
)
# a registry that could not be reached (rather than one that answered no)
_UNREACHABLE = re.compile(
    r"connection refused|connection reset|no such host|i/o timeout|tls handshake"
    r"|server gave http response to https client|network is unreachable",
    re.IGNORECASE,
)
# what starting a docker CLI that is missing (or not executable) raises
_NO_CLI = (FileNotFoundError, PermissionError)
_SAID_LINES = 6
_SAID_CHARS = 800


def said(exc: BaseException) -> str:
    """What the failed command said: the last lines of docker's stderr, trimmed to show."""
    from python_on_whales.exceptions import DockerException

    if not isinstance(exc, DockerException):
        return str(exc)
    lines = [line for line in (exc.stderr or exc.stdout or "").splitlines() if line.strip()]
    text = "\n".join(lines[-_SAID_LINES:])[-_SAID_CHARS:]
    return text or f"`{' '.join(exc.docker_command)}` exited with {exc.return_code}"


def _transient(exc: BaseException) -> bool:
    """Worth another try: the registry or daemon was not ready, not a real refusal."""
    from python_on_whales.exceptions import DockerException

    return isinstance(exc, DockerException) and bool(_TRANSIENT.search(said(exc)))


def _trying_again(state: RetryCallState) -> None:
    failed = state.outcome.exception() if state.outcome is not None else None
    text = failed.why if isinstance(failed, BuildorchError) else said(failed) if failed else "?"
    words = (text.splitlines() or ["?"])[-1]
    pause = state.next_action.sleep if state.next_action is not None else 0.0
    _log.debug(
        "try %d of %s failed (%s): trying again in %.1f s",
        state.attempt_number,
        getattr(state.fn, "__name__", "a docker command"),
        words,
        pause,
    )


_retried = retry(
    retry=retry_if_exception(_transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.5, max=5),
    before_sleep=_trying_again,
    reraise=True,
)


def _push_not_done(exc: BaseException) -> bool:
    """A push the registry failed for a moment (not a refusal): the build, cached, is run
    again to push it."""
    return isinstance(exc, RegistryError) and bool(_TRANSIENT.search(exc.why))


_push_retried = retry(
    retry=retry_if_exception(_push_not_done),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=5),
    before_sleep=_trying_again,
    reraise=True,
)


def _failure(
    exc: BaseException, what: str, *, fix: str, kind: type[BuildorchError] = EngineError
) -> BuildorchError:
    """The error for a docker command that failed doing `what`: `kind` with docker's words,
    unless no daemon answered or the docker CLI could not even start."""
    if isinstance(exc, _NO_CLI):
        return EngineUnavailableError(
            what,
            why=f"the docker CLI could not be started: {exc}",
            fix="install docker (or point BUILDORCH_DOCKER at it), then run `buildorch doctor`",
        )
    why = said(exc)
    if any(sign in why.lower() for sign in _DAEMON_DOWN):
        return EngineUnavailableError(
            what, why=why, fix="start the engine, then run `buildorch doctor`"
        )
    return kind(what, why=why, fix=fix)


@contextlib.contextmanager
def _failing(what: str, *, fix: str, kind: type[BuildorchError] = EngineError) -> Iterator[None]:
    """Docker commands run in this block that fail raise `_failure(...)` instead."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except (DockerException, *_NO_CLI) as exc:
        raise _failure(exc, what, fix=fix, kind=kind) from exc


def join_manifest(
    tags: tuple[str, ...],
    sources: tuple[str, ...],
    env: Mapping[str, str],
    *,
    pushed: tuple[str, ...] = (),
) -> None:
    """Join per-platform images already in a registry into one manifest list per tag.

    `pushed` names those images as pushed (by digest): when the join fails they are in the
    registry all the same, and the error says so and how to join them by hand."""
    images = pushed or sources
    listed = "".join(f"\n  {image}" for image in images)
    by_hand = " ".join(["docker buildx imagetools create", *(f"-t {tag}" for tag in tags), *images])
    with _failing(
        f"could not join the pushed images into {', '.join(tags)}",
        fix=f"each platform's image was pushed already:{listed}\n"
        f"once the registry takes the push, join them by hand: {by_hand}",
        kind=RegistryError,
    ):
        _imagetools_create(tags, sources, env)


@_retried
def _imagetools_create(
    tags: tuple[str, ...], sources: tuple[str, ...], env: Mapping[str, str]
) -> None:
    client(env).buildx.imagetools.create(sources=list(sources), tags=list(tags))


class OutputOption(NamedTuple):
    """One key=value of `--output`: type=local, dest=DIR."""

    key: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildRequest:
    """One `docker buildx build`, in the engine's terms."""

    context: str
    dockerfile: str
    platforms: tuple[str, ...]
    build_target: str | None = None
    build_args: tuple[BuildArg, ...] = ()
    builder: str | None = None
    docker_context: str | None = None
    """Build in this docker context (a remote engine's own builder) instead of the current
    one: DOCKER_HOST would override it, so it is dropped for this call."""
    tags: tuple[str, ...] = ()
    load: bool = False
    push: bool = False
    output: tuple[OutputOption, ...] = ()
    """`--output`, option by option (type=local,dest=... or type=image,push-by-digest=...)."""
    metadata_file: str | None = None
    buildx: tuple[str, ...] = ()
    """The user's own buildx options, as typed (`--network`, `host`)."""


def build_arguments(request: BuildRequest) -> list[str]:
    """`docker buildx build`'s arguments for one request, the context last."""
    args = ["--progress", "plain", "--file", request.dockerfile]
    args += ["--platform", ",".join(request.platforms)]
    if request.build_target is not None:
        args += ["--target", request.build_target]
    for name, value in request.build_args:
        args += ["--build-arg", f"{name}={value}"]
    if request.builder is not None:
        args += ["--builder", request.builder]
    for tag in request.tags:
        args += ["--tag", tag]
    args += ["--load"] if request.load else []
    args += ["--push"] if request.push else []
    if request.output:
        args += ["--output", ",".join(f"{key}={value}" for key, value in request.output)]
    if request.metadata_file is not None:
        args += ["--metadata-file", request.metadata_file]
    return [*args, *request.buildx, request.context]


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheRate:
    """How often the compiler cache (ccache or sccache) answered in one Dockerfile step."""

    step: str
    hits: int
    misses: int

    @property
    def rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildOutcome:
    ok: bool
    log_tail: tuple[str, ...]
    """The last lines buildx printed: the build's own error when it failed."""
    steps: int
    cached: int
    slowest: tuple[tuple[str, float], ...] = ()
    """The Dockerfile steps that took longest: where the time went."""
    compiler_cache: tuple[CacheRate, ...] = ()
    digest: str | None = None


_TAIL = 40


@_push_retried
def build(
    request: BuildRequest, env: Mapping[str, str], on_line: Callable[[str], None]
) -> BuildOutcome:
    """Run one build, streaming buildx's plain progress lines to `on_line`.

    A failed build is an outcome, not an exception: the caller decides what it means; a build
    that failed because the engine went away or the registry failed the push raises the
    engine's or the registry's error instead (a push that failed for a moment is tried again
    first). On Ctrl-C the buildx process is stopped (BuildKit then cancels the build) before
    the KeyboardInterrupt goes on up.
    """
    from python_on_whales.components.buildx.cli_wrapper import stream_buildx_logs
    from python_on_whales.exceptions import DockerException

    if request.docker_context is not None:
        env = {k: v for k, v in env.items() if k != "DOCKER_HOST"}
        env["DOCKER_CONTEXT"] = request.docker_context
    docker = client(env)
    tail: deque[str] = deque(maxlen=_TAIL)
    steps = _StepLog()
    # the command line is written here rather than by python-on-whales' buildx.build, which
    # has no --annotation, --shm-size, --ulimit or several --ssh: the user's buildx options
    # go through as they were typed
    stream = stream_buildx_logs(
        [*docker.buildx.docker_cmd, "buildx", "build", *build_arguments(request)],
        env=dict(env),
    )
    children_before = set(_children())
    ok = True
    try:
        for line in stream:
            text = line.rstrip("\n")
            tail.append(text)
            steps.feed(text)
            on_line(text)
    except DockerException as exc:
        ok = False
        if exc.stderr and not tail:
            tail.extend(exc.stderr.splitlines()[-_TAIL:])
    except _NO_CLI as exc:
        # the CLI itself is missing: the fix is _failure's own
        raise _failure(exc, "could not start docker buildx build", fix="") from exc
    except KeyboardInterrupt:
        _stop(set(_children()) - children_before)
        raise
    if not ok:
        _raise_unless_the_builds(request, tuple(tail))
    digest = _digest(request.metadata_file) if ok else None
    return BuildOutcome(
        ok=ok,
        log_tail=tuple(tail),
        steps=len(steps.names),
        cached=len(steps.cached & steps.names.keys()),
        slowest=steps.slowest(),
        compiler_cache=steps.cache_rates(),
        digest=digest,
    )


# buildx lost the daemon under the build (stopped, restarted, crashed): its gRPC stream ended
_ENGINE_LOST = re.compile(
    r"code = Unavailable|error reading from server|cannot connect to the docker daemon"
    r"|is the docker daemon running",
    re.IGNORECASE,
)
# the step that failed was the push: `> pushing app:1 with docker:` (the docker driver),
# `failed to push app:1: ...` (an image exporter)
_PUSH_FAILED = re.compile(r"^ > pushing |failed to push ", re.IGNORECASE)


def _raise_unless_the_builds(request: BuildRequest, tail: tuple[str, ...]) -> None:
    """A failed build is the project's to fix unless buildx lost the engine or the registry
    failed the push: those are raised here as the engine's and the registry's errors."""
    errors = [line for line in tail if line.startswith("ERROR:")]
    last = errors[-1] if errors else (tail[-1] if tail else "")
    platforms = ", ".join(request.platforms)
    if _ENGINE_LOST.search(last):
        raise EngineUnavailableError(
            f"lost the engine during the build for {platforms}",
            why=f"buildx said: {last}\n(the docker engine stopped or restarted under the build)",
            fix="check that the engine answers (`buildorch doctor`), then run again; nothing "
            "was written",
        )
    if request.push and any(_PUSH_FAILED.search(line) for line in tail):
        raise RegistryError(
            f"could not push {', '.join(request.tags)}",
            why=f"buildx said: {last}",
            fix="check that the registry is up and takes the push, then run again (the build "
            "itself is cached)",
        )


# `#7 [build 3/5] RUN make` names a Dockerfile step (not `#2 [internal] load ...`);
# `#7 CACHED` says BuildKit reused it; `#7 DONE 41.2s` how long it took
_STEP = re.compile(r"^#(\d+) (\[(?!internal\]|auth\]).*)$")
_CACHED = re.compile(r"^#(\d+) CACHED")
_MOUNT_FLAG = re.compile(r"--mount=\S+\s+")
_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s")
# what the templates print after the compile: `#9 4.1 ccache: Cache hits 12` (or sccache)
_COMPILER_CACHE = re.compile(r"^#(\d+) [\d.]+ s?ccache: Cache (hits|misses) (\d+)$")


class _StepLog:
    """What buildx's plain progress says about each Dockerfile step."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.cached: set[str] = set()
        self.seconds: dict[str, float] = {}
        self.compiler_cache: dict[str, dict[str, int]] = {}

    def feed(self, text: str) -> None:
        if step := _STEP.match(text):
            # a step is named by its command, not its --mount flags (a cross build's compiler
            # cache, the user's own caches and secrets)
            self.names.setdefault(step.group(1), _MOUNT_FLAG.sub("", step.group(2)))
        elif cached := _CACHED.match(text):
            self.cached.add(cached.group(1))
        elif done := _DONE.match(text):
            self.seconds[done.group(1)] = float(done.group(2))
        elif stats := _COMPILER_CACHE.match(text):
            counts = self.compiler_cache.setdefault(stats.group(1), {})
            # a step that runs the compiler cache twice (two cargo commands) prints twice
            counts[stats.group(2)] = counts.get(stats.group(2), 0) + int(stats.group(3))

    def cache_rates(self) -> tuple[CacheRate, ...]:
        return tuple(
            CacheRate(
                step=" ".join(self.names.get(v, f"#{v}").split())[:90],
                hits=counts.get("hits", 0),
                misses=counts.get("misses", 0),
            )
            for v, counts in self.compiler_cache.items()
        )

    def slowest(self, count: int = 3) -> tuple[tuple[str, float], ...]:
        timed = [
            (" ".join(self.names[v].split())[:90], seconds)
            for v, seconds in self.seconds.items()
            if v in self.names and v not in self.cached and seconds >= 0.1
        ]
        return tuple(sorted(timed, key=lambda item: -item[1])[:count])


def _digest(metadata_file: str | None) -> str | None:
    if metadata_file is None:
        return None
    try:
        data = json.loads(Path(metadata_file).read_text())
    except (OSError, ValueError):
        return None
    digest = data.get("containerimage.digest")
    return digest if isinstance(digest, str) else None


def _children() -> list[int]:
    """PIDs of this process's children (the buildx CLI python-on-whales started)."""
    me = os.getpid()
    proc = Path("/proc")
    if proc.is_dir():
        found = []
        for entry in proc.iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # the command name is in parentheses and may contain spaces
                fields = stat.rsplit(")", 1)[-1].split()
                if len(fields) > 1 and fields[1] == str(me):
                    found.append(int(entry.name))
        return found
    try:
        out = subprocess.run(["pgrep", "-P", str(me)], capture_output=True, text=True, check=False)
    except OSError:
        return []
    return [int(pid) for pid in out.stdout.split()]


def _stop(pids: set[int], grace: float = 20.0) -> None:
    """Interrupt the children like a terminal would, wait, then kill what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                pending.discard(pid)
        time.sleep(0.1)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- `buildorch run`: named volumes and a container working in them ---


def ensure_volume(name: str, labels: Mapping[str, str], env: Mapping[str, str]) -> bool:
    """Create the volume unless it exists; returns whether it was created."""
    with _failing(
        f"could not create volume {name}",
        fix=f"docker's words above say why (the engine's disk, the name); "
        f"`docker volume create {name}` tries the same by hand",
    ):
        docker = client(env)
        if docker.volume.exists(name):
            return False
        docker.volume.create(name, labels=dict(labels))
    return True


def project_volumes(label: str, value: str, env: Mapping[str, str]) -> list[str]:
    """Names of the volumes carrying `label=value`."""
    with _failing(
        "could not list the project's volumes",
        fix=f"`docker volume ls --filter label={label}={value}` asks the same by hand",
    ):
        return [v.name for v in client(env).volume.list(filters={"label": f"{label}={value}"})]


def remove_volumes(names: list[str], env: Mapping[str, str]) -> None:
    if not names:
        return
    with _failing(
        f"could not remove volumes {', '.join(names)}",
        fix=f"a container may still use them: `docker ps -a --filter volume={names[0]}` "
        "lists it; remove it, then run again",
    ):
        client(env).volume.remove(list[Any](names))


# a container that went meanwhile (its engine was removing it already): what was wanted
_GONE = re.compile(r"no such container|removal of container .* is already in progress", re.I)


def remove_containers(label: str, value: str, env: Mapping[str, str]) -> list[str]:
    """Remove the containers carrying `label=value`, running or not; returns their names."""
    from python_on_whales.exceptions import DockerException
    from python_on_whales.utils import run

    with _failing(
        "could not remove the project's leftover containers",
        fix=f"`docker ps -a --filter label={label}={value}` lists them; remove them by hand, "
        "then run again",
    ):
        docker = client(env)
        # by name, not python-on-whales' list: that inspects each, and fails on one the
        # engine removed meanwhile
        listing = [*map(str, docker.client_config.docker_cmd), "ps", "--all", "--filter",
                   f"label={label}={value}", "--format", "{{.Names}}"]  # fmt: skip
        names = str(run(listing)).split()
        if names:
            try:
                docker.container.remove(names, force=True, volumes=False)
            except DockerException as exc:
                if not all(_GONE.search(line) for line in said(exc).splitlines()):
                    raise
        return names


class ContainerMount(NamedTuple):
    source: str
    """A volume's name, or a host folder."""
    target: str
    """Where it is mounted in the container."""


class Label(NamedTuple):
    name: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ContainerSpec:
    image: str
    platform: str
    mounts: tuple[ContainerMount, ...]
    workdir: str
    command: tuple[str, ...]
    name: str
    labels: tuple[Label, ...] = ()
    entrypoint: str | None = None


def _create(
    spec: ContainerSpec, env: Mapping[str, str], notes: Callable[[str], None] | None = None
) -> str:
    """Create (not start) the container. An image the engine lacks for the platform is
    pulled first, for that platform, telling `notes` how the pull goes."""
    from python_on_whales.exceptions import DockerException

    try:
        try:
            return _create_local(spec, env)
        except DockerException as exc:
            if not _NOT_HERE.search(said(exc)):
                raise
        _pull(spec, env, notes or (lambda text: None))
        return _create_local(spec, env)
    except (DockerException, *_NO_CLI) as exc:
        raise _refused_container(exc, spec, env) from exc


# the engine lacks the image, or has it for another platform only
_NOT_HERE = re.compile(r"no such image|does not match the specified platform", re.IGNORECASE)


def _create_local(spec: ContainerSpec, env: Mapping[str, str]) -> str:
    # python-on-whales' own pull="missing" pulls for the host's platform, prints its progress
    # to stdout and keeps no stderr: `_create` pulls instead
    container = client(env).container.create(
        spec.image,
        list(spec.command),
        name=spec.name,
        platform=spec.platform,
        volumes=[(mount.source, mount.target) for mount in spec.mounts],
        workdir=spec.workdir,
        labels=dict(spec.labels),
        entrypoint=spec.entrypoint,
        pull="never",
    )
    return container.id


@_retried
def _pull(spec: ContainerSpec, env: Mapping[str, str], notes: Callable[[str], None]) -> None:
    from python_on_whales import Image

    notes(f"pulling {spec.image} for {spec.platform}")
    lines = client(env).image.pull(spec.image, platform=spec.platform, stream_logs=True)
    assert not isinstance(lines, Image | list)
    for _, line in lines:
        notes(line.decode(errors="replace").rstrip())


# the engine has no such image and its registry none either (or will not say which)
_NO_IMAGE = re.compile(
    r"manifest unknown|not found|pull access denied|repository does not exist|no such image",
    re.IGNORECASE,
)
_IMAGE_FLAG = "--image (or `run_image:` in buildorch.yaml)"


def _refused_container(
    exc: BaseException, spec: ContainerSpec, env: Mapping[str, str]
) -> BuildorchError:
    """Why a container of `spec.image` could not be created, in the user's terms."""
    text = said(exc)
    pull = f"`docker pull --platform {spec.platform} {spec.image}`"
    if "no matching manifest" in text:
        return _failure(
            exc,
            f"image {spec.image} has no {spec.platform} variant",
            fix=f"pass an {_IMAGE_FLAG} built for {spec.platform}, or another --target",
            kind=ConfigError,
        )
    if _UNREACHABLE.search(text):
        return _failure(
            exc,
            f"could not pull image {spec.image}",
            fix=f"check that its registry is up and reachable from the engine; {pull} "
            "tries the same by hand",
            kind=RegistryError,
        )
    if _NO_IMAGE.search(text):
        near = _images_like(spec.image, env)
        guess = f"did you mean {' or '.join(near)}? " if near else ""
        return _failure(
            exc,
            f"image {spec.image} was not found",
            fix=f"{guess}check the name given to {_IMAGE_FLAG}; {pull} pulls it, or says "
            "why it cannot",
            kind=ConfigError,
        )
    return _failure(
        exc,
        f"could not create a container of {spec.image}",
        fix="docker's words above say why; `buildorch clean` starts the project's volumes over",
    )


def _images_like(image: str, env: Mapping[str, str]) -> list[str]:
    """The engine's own images whose names are close to `image` (a typo's likely fix)."""
    listed, _ = _capture(
        [*_docker_cmd(env), "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], env
    )
    names = [name for name in (listed or "").splitlines() if "<none>" not in name]
    return difflib.get_close_matches(image, names, n=2, cutoff=0.75)


def copy_into(
    spec: ContainerSpec,
    folder: Path,
    dest: str,
    env: Mapping[str, str],
    notes: Callable[[str], None] | None = None,
) -> None:
    """Copy `folder`'s content to `dest` in a container that is created, never started (no
    shell or tar needed in the image), so it lands in the volumes mounted there. `notes`
    hears how a pull of the image goes.

    The archive is written here rather than by `docker cp <folder>`, which rounds mtimes
    down to the second: a source edited within a second of the last build would look older
    than the objects made from it, and make would skip it. PAX headers keep nanoseconds."""
    from python_on_whales.exceptions import DockerException

    docker = client(env)
    container = _create(spec, env, notes)
    what = f"could not copy the sources into {spec.mounts[0].source}"
    fix = "docker's words above say why; `buildorch clean` starts the project's volumes over"
    try:
        command = [*map(str, docker.client_config.docker_cmd), "cp", "-", f"{container}:{dest}"]
        try:
            copier = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except _NO_CLI as exc:
            raise _failure(exc, what, fix=fix) from exc
        with copier:
            assert copier.stdin is not None and copier.stderr is not None
            try:
                _write_archive(folder, copier.stdin)
            except BrokenPipeError:
                pass  # docker stopped reading: its own error below says why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    copier.stdin.close()
            refusal = copier.stderr.read()
        if copier.returncode != 0:
            refused = DockerException(command, copier.returncode, stderr=refusal)
            raise _failure(refused, what, fix=fix)
    finally:
        with contextlib.suppress(DockerException, *_NO_CLI):
            docker.container.remove(container, force=True, volumes=False)


def _write_archive(folder: Path, out: IO[bytes]) -> None:
    """`folder`'s content as a tar stream whose mtimes are exact to the nanosecond."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for parent, dirs, files in os.walk(folder):
            for name in sorted(dirs) + sorted(files):
                path = Path(parent, name)
                info = archive.gettarinfo(str(path), path.relative_to(folder).as_posix())
                seconds, nanos = divmod(path.lstat().st_mtime_ns, 10**9)
                info.pax_headers = {"mtime": f"{seconds}.{nanos:09d}"}
                if info.isreg():
                    with path.open("rb") as content:
                        archive.addfile(info, content)
                else:
                    archive.addfile(info)


def run_container(
    spec: ContainerSpec,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    collect: Callable[[str], None] | None = None,
    notes: Callable[[str], None] | None = None,
) -> int:
    """Run a container to its end, streaming its output; returns its exit code. `collect`
    is called with the container's id after it stopped and before it is removed. On Ctrl-C
    the container is stopped and removed before the KeyboardInterrupt goes on up. `notes`
    hears how a pull of the image goes."""
    from python_on_whales.exceptions import DockerException

    docker = client(env)
    container = _create(spec, env, notes)
    try:
        try:
            docker.container.start(container)
        except DockerException as exc:
            raise _refused_start(exc, spec) from exc
        with _failing(
            f"lost the container of {spec.image} while it ran",
            fix="docker's words above say why; run again",
        ):
            logs = docker.container.logs(container, follow=True, stream=True)
            assert not isinstance(logs, str)
            for _, chunk in logs:
                for text in chunk.decode(errors="replace").splitlines():
                    on_line(text)
            code = docker.container.wait(container)
        if code == 0 and collect is not None:
            collect(container)
        return code
    finally:
        with contextlib.suppress(DockerException, *_NO_CLI):
            docker.container.remove(container, force=True, volumes=False)


def _refused_start(exc: BaseException, spec: ContainerSpec) -> BuildorchError:
    """A container that would not start: most often, a command the image does not have."""
    command = " ".join((spec.entrypoint or "", *spec.command)).strip()
    if re.search(r"executable file not found|no such file or directory", said(exc), re.I):
        return _failure(
            exc,
            f"`{command}` could not start in {spec.image}",
            fix=f"check that {spec.image} has the command (and the shell it needs), or pass "
            f"another {_IMAGE_FLAG}",
            kind=BuildFailedError,
        )
    return _failure(
        exc,
        f"the container of {spec.image} would not start",
        fix="docker's words above say why; `buildorch run --dry-run` shows what was asked",
    )


def copy_out(container: str, path: str, dest: Path, env: Mapping[str, str]) -> None:
    from python_on_whales.exceptions import DockerException

    try:
        client(env).copy((container, path), dest)
    except (DockerException, *_NO_CLI) as exc:
        if "Could not find the file" not in said(exc):
            raise _failure(
                exc,
                f"could not copy {path} out of the container",
                fix=f"docker's words above say why; check that {dest} can be written",
            ) from exc
        raise BuildFailedError(
            f"the command left nothing at {path} to collect",
            why=said(exc).splitlines()[0],
            fix="check the --collect paths (relative to the project) against what the command "
            "writes",
        ) from None
