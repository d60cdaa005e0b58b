"""What detection may read of a host: the live machine, or a snapshot of one.

Detection is pure over a HostView, so a host recorded anywhere replays here. The live view
remembers everything it read (files, directory listings, environment variables, sysctl values,
command output), which is exactly what a snapshot must hold.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from buildorch.detect.emulator_probe import probe
from buildorch.engine import EngineProbe, probe_engine
from buildorch.workspace import cache_root

# the stat probe must stay well under a second even on a share that answers slowly
_PROBE_BUDGET_S = 0.3
_PROBE_PATHS = 200
# detection reads small kernel and settings files; never drag a large file into a snapshot
_MAX_READ = 1 << 20
_MAX_LISTED = 256


class HostView(Protocol):
    """Everything detection may read of a host."""

    @property
    def system(self) -> str:
        """`platform.system()`: Linux, Darwin or Windows."""

    @property
    def machine(self) -> str:
        """`uname -m` (`platform.machine()`)."""

    @property
    def env(self) -> Mapping[str, str]: ...

    @property
    def project_dir(self) -> str:
        """Absolute path of the project on that host."""

    def read_text(self, path: str) -> str | None:
        """A host file's text, or None when it does not exist or cannot be read."""

    def list_dir(self, path: str) -> tuple[str, ...]:
        """Sorted entry names of a host directory; () when absent."""

    def sysctl(self, name: str) -> str | None:
        """`sysctl -n NAME` on macOS; None elsewhere or when unknown."""

    def command_output(self, name: str) -> str | None:
        """Output of a fixed command (only `mount`, on macOS)."""

    def engine(self) -> EngineProbe: ...

    def stat_us(self) -> float | None:
        """Median microseconds per stat under the project dir; None when not measured."""


def snapshot_relpath(path: str) -> str:
    """Where a host path lives under a snapshot's `files/`: `/proc/mounts` -> `proc/mounts`.

    Windows paths keep their drive as a plain folder (`C:\\Users` -> `C/Users`), since a colon
    is not allowed in file names there.
    """
    text = path.replace("\\", "/")
    text = re.sub(r"^([A-Za-z]):", r"\1", text)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"refusing a host path that climbs out of files/: {path}")
    return "/".join(parts)


class RecordingEnv(Mapping[str, str]):
    """The environment, remembering which variables were looked up.

    A snapshot keeps only those: anything else (tokens, credentials) never leaves the host.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._env[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._env

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)

    def recorded(self) -> dict[str, str]:
        """The variables that were read and are set."""
        return {key: self._env[key] for key in sorted(self.read) if key in self._env}


class LiveHost:
    """This machine, probed on demand; every answer is kept for `save_snapshot`."""

    def __init__(self, project_dir: Path, env: Mapping[str, str]) -> None:
        self.system = platform.system()
        self.machine = platform.machine()
        # resolved: a symlink from ~/app into /mnt/c must be judged by where the files are
        self.project_dir = str(Path(project_dir).resolve())
        self._full_env = env
        self._env = RecordingEnv(env)
        self.files: dict[str, str] = {}
        """Host path -> text of every file read (directly or through a listing)."""
        self.listings: dict[str, tuple[tuple[str, bool], ...]] = {}
        """Directory -> (name, is_dir) of each entry listed."""
        self.sysctls: dict[str, str] = {}
        self.commands: dict[str, str] = {}
        self._engine: Future[EngineProbe] | None = None
        self._stat_us: float | None = None
        self._stat_measured = False

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def env_read(self) -> dict[str, str]:
        """The environment variables detection looked up (and that are set)."""
        return self._env.recorded()

    def read_text(self, path: str) -> str | None:
        if path in self.files:
            return self.files[path]
        text = _read(Path(path))
        if text is not None:
            self.files[path] = text
        return text

    def list_dir(self, path: str) -> tuple[str, ...]:
        try:
            with os.scandir(path) as entries:
                found = sorted(
                    ((e.name, e.is_dir(follow_symlinks=False)) for e in entries),
                    key=lambda item: item[0],
                )[:_MAX_LISTED]
        except OSError:
            return ()
        self.listings[path] = tuple(found)
        for name, is_dir in found:
            child = f"{path.rstrip('/')}/{name}"
            if not is_dir and child not in self.files:
                text = _read(Path(child))
                if text is not None:
                    self.files[child] = text
        return tuple(name for name, _ in found)

    def sysctl(self, name: str) -> str | None:
        if self.system != "Darwin" or shutil.which("sysctl") is None:
            return None
        value = _run(["sysctl", "-n", name])
        if value is None:
            return None
        self.sysctls[name] = value.strip()
        return self.sysctls[name]

    def command_output(self, name: str) -> str | None:
        if name.startswith("emulator-") and self.system == "Linux":
            return self._emulator(name.removeprefix("emulator-"))
        # only `mount` on macOS, which has no /proc/mounts
        if name != "mount" or self.system != "Darwin":
            return None
        if name not in self.commands:
            output = _run(["mount"])
            if output is None:
                return None
            self.commands[name] = output
        return self.commands[name]

    def _emulator(self, entry: str) -> str | None:
        """Whether the emulator binfmt_misc registers for `entry` runs a program: its record
        (version, works) as a snapshot keeps it."""
        name = f"emulator-{entry}"
        if name not in self.commands:
            text = self.read_text(f"/proc/sys/fs/binfmt_misc/{entry}") or ""
            interpreter = next(
                (
                    ln.split(" ", 1)[1].strip()
                    for ln in text.splitlines()
                    if ln.startswith("interpreter ")
                ),
                "",
            )
            root = cache_root(self._full_env)
            cache = root / "emulators.json" if root is not None else None
            self.commands[name] = probe(entry, interpreter, cache)
        return self.commands[name]

    def ask_engine(self) -> None:
        """Start asking the docker CLI, in the background: its answers then arrive while the
        caller reads the project."""
        if self._engine is not None:
            return
        asked: Future[EngineProbe] = Future()

        def ask() -> None:
            try:
                # the full environment: PATH, DOCKER_HOST and DOCKER_CONTEXT pick the engine
                asked.set_result(probe_engine(self._full_env))
            except BaseException as exc:  # handed to whoever waits for the answer
                asked.set_exception(exc)

        # a daemon thread: Ctrl-C must not wait for a docker CLI that hangs
        threading.Thread(target=ask, name="engine-probe", daemon=True).start()
        self._engine = asked

    def engine(self) -> EngineProbe:
        self.ask_engine()
        assert self._engine is not None
        return self._engine.result()

    def stat_us(self) -> float | None:
        if not self._stat_measured:
            self._stat_us = measure_stat_us(Path(self.project_dir))
            self._stat_measured = True
        return self._stat_us


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_READ)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


def _run(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def measure_stat_us(folder: Path) -> float | None:
    """Median microseconds per `stat` on up to 200 paths under `folder`; None when empty.

    Paths are found first and timed after, each once: on a share every stat is then a round
    trip to the host unless the kernel caches attributes, which is what compilers meet too.
    The whole probe is bounded (~0.3 s) so a very slow share cannot hang `doctor`.
    """
    paths: list[str] = []
    pending = [str(folder)]
    deadline = time.perf_counter() + _PROBE_BUDGET_S / 2
    while pending and len(paths) < _PROBE_PATHS and time.perf_counter() < deadline:
        try:
            with os.scandir(pending.pop(0)) as entries:
                for entry in entries:
                    paths.append(entry.path)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError:
            continue
    samples: list[float] = []
    deadline = time.perf_counter() + _PROBE_BUDGET_S / 2
    for path in paths[:_PROBE_PATHS]:
        began = time.perf_counter_ns()
        try:
            os.stat(path)  # noqa: PTH116 - Path() would add its own cost to the timing
        except OSError:
            continue
        samples.append((time.perf_counter_ns() - began) / 1000)
        if time.perf_counter() > deadline:
            break
    return round(statistics.median(samples), 1) if samples else None
