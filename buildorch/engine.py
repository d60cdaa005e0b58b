"""The one module that talks to Docker.

Everything goes through python-on-whales, so each call is one logged `docker ...` command
whose failure keeps the command, exit code and stderr. Transient failures (a registry that
is still starting, a daemon that is restarting) are retried with tenacity; build failures
are never retried.
"""

from __future__ import annotations

import contextlib
import importlib
import json
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
from typing import IO, TYPE_CHECKING, Any

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from buildorch.errors import BuildFailedError

# python-on-whales is imported where it is first used, not at start-up: it takes 0.3 s of
# CPU to import (its pydantic models), which `load_in_background` hides behind detection
if TYPE_CHECKING:
    from python_on_whales import DockerClient


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


def _transient(exc: BaseException) -> bool:
    """Worth another try: the registry or daemon was not ready, not a real refusal."""
    from python_on_whales.exceptions import DockerException

    text = str(exc).lower()
    return isinstance(exc, DockerException) and any(
        sign in text for sign in ("connection refused", "connection reset", "i/o timeout", "eof")
    )


@retry(
    retry=retry_if_exception(_transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.5, max=5),
    reraise=True,
)
def join_manifest(tags: tuple[str, ...], sources: tuple[str, ...], env: Mapping[str, str]) -> None:
    """Join per-platform images already in a registry into one manifest list per tag."""
    client(env).buildx.imagetools.create(sources=list(sources), tags=list(tags))


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """`docker ... --format json` prints one object per line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildRequest:
    """One `docker buildx build`, in the engine's terms."""

    context: str
    dockerfile: str
    platforms: tuple[str, ...]
    build_target: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    builder: str | None = None
    docker_context: str | None = None
    """Build in this docker context (a remote engine's own builder) instead of the current
    one: DOCKER_HOST would override it, so it is dropped for this call."""
    tags: tuple[str, ...] = ()
    load: bool = False
    push: bool = False
    output: tuple[tuple[str, str], ...] = ()
    """`--output` as key=value pairs (type=local,dest=... or type=image,push-by-digest=...)."""
    metadata_file: str | None = None


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


def build(
    request: BuildRequest, env: Mapping[str, str], on_line: Callable[[str], None]
) -> BuildOutcome:
    """Run one build, streaming buildx's plain progress lines to `on_line`.

    A failed build is an outcome, not an exception: the caller decides what it means. On
    Ctrl-C the buildx process is stopped (BuildKit then cancels the build) before the
    KeyboardInterrupt goes on up.
    """
    from python_on_whales.exceptions import DockerException

    if request.docker_context is not None:
        env = {k: v for k, v in env.items() if k != "DOCKER_HOST"}
        env["DOCKER_CONTEXT"] = request.docker_context
    docker = client(env)
    tail: deque[str] = deque(maxlen=_TAIL)
    steps = _StepLog()
    stream = docker.buildx.build(
        request.context,
        file=request.dockerfile,
        platforms=list(request.platforms),
        target=request.build_target,
        build_args=dict(request.build_args),
        builder=request.builder,
        tags=list(request.tags),
        load=request.load,
        push=request.push,
        output=dict(request.output),
        metadata_file=request.metadata_file,
        progress="plain",
        stream_logs=True,
    )
    assert isinstance(stream, Iterator)
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
    except KeyboardInterrupt:
        _stop(set(_children()) - children_before)
        raise
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


# `#7 [build 3/5] RUN make` names a Dockerfile step (not `#2 [internal] load ...`);
# `#7 CACHED` says BuildKit reused it; `#7 DONE 41.2s` how long it took
_STEP = re.compile(r"^#(\d+) (\[(?!internal\]|auth\]).*)$")
_CACHED = re.compile(r"^#(\d+) CACHED")
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
            self.names.setdefault(step.group(1), step.group(2))
        elif cached := _CACHED.match(text):
            self.cached.add(cached.group(1))
        elif done := _DONE.match(text):
            self.seconds[done.group(1)] = float(done.group(2))
        elif stats := _COMPILER_CACHE.match(text):
            counts = self.compiler_cache.setdefault(stats.group(1), {})
            counts[stats.group(2)] = int(stats.group(3))

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
    docker = client(env)
    if docker.volume.exists(name):
        return False
    docker.volume.create(name, labels=dict(labels))
    return True


def project_volumes(label: str, value: str, env: Mapping[str, str]) -> list[str]:
    """Names of the volumes carrying `label=value`."""
    return [v.name for v in client(env).volume.list(filters={"label": f"{label}={value}"})]


def remove_volumes(names: list[str], env: Mapping[str, str]) -> None:
    if names:
        client(env).volume.remove(list[Any](names))


@dataclass(frozen=True, kw_only=True, slots=True)
class ContainerSpec:
    image: str
    platform: str
    mounts: tuple[tuple[str, str], ...]
    """(volume or host folder, path in the container)."""
    workdir: str
    command: tuple[str, ...]
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    entrypoint: str | None = None


def _create(spec: ContainerSpec, env: Mapping[str, str]) -> str:
    container = client(env).container.create(
        spec.image,
        list(spec.command),
        name=spec.name,
        platform=spec.platform,
        volumes=[(source, target) for source, target in spec.mounts],
        workdir=spec.workdir,
        labels=dict(spec.labels),
        entrypoint=spec.entrypoint,
        pull="missing",
    )
    return container.id


def copy_into(spec: ContainerSpec, folder: Path, dest: str, env: Mapping[str, str]) -> None:
    """Copy `folder`'s content to `dest` in a container that is created, never started (no
    shell or tar needed in the image), so it lands in the volumes mounted there.

    The archive is written here rather than by `docker cp <folder>`, which rounds mtimes
    down to the second: a source edited within a second of the last build would look older
    than the objects made from it, and make would skip it. PAX headers keep nanoseconds."""
    from python_on_whales.exceptions import DockerException

    docker = client(env)
    container = _create(spec, env)
    try:
        command = [*map(str, docker.client_config.docker_cmd), "cp", "-", f"{container}:{dest}"]
        with subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as copier:
            assert copier.stdin is not None and copier.stderr is not None
            try:
                _write_archive(folder, copier.stdin)
            except BrokenPipeError:
                pass  # docker stopped reading: its own error below says why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    copier.stdin.close()
            refusal = copier.stderr.read().decode(errors="replace").strip()
        if copier.returncode != 0:
            raise DockerException(command, copier.returncode, stderr=refusal.encode())
    finally:
        with contextlib.suppress(DockerException):
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
) -> int:
    """Run a container to its end, streaming its output; returns its exit code. `collect`
    is called with the container's id after it stopped and before it is removed. On Ctrl-C
    the container is stopped and removed before the KeyboardInterrupt goes on up."""
    from python_on_whales.exceptions import DockerException

    docker = client(env)
    container = _create(spec, env)
    try:
        docker.container.start(container)
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
        with contextlib.suppress(DockerException):
            docker.container.remove(container, force=True, volumes=False)


def copy_out(container: str, path: str, dest: Path, env: Mapping[str, str]) -> None:
    from python_on_whales.exceptions import DockerException

    try:
        client(env).copy((container, path), dest)
    except DockerException as exc:
        said = (exc.stderr or "").strip()
        if "Could not find the file" not in said:
            raise
        raise BuildFailedError(
            f"the command left nothing at {path} to collect",
            why=said.splitlines()[0] if said else "",
            fix="check the --collect paths (relative to the project) against what the command "
            "writes",
        ) from None
