"""What detection may read of a host: the live machine, or a snapshot of one.

Detection itself is pure over a HostView, so a host recorded anywhere replays here. The live
view remembers everything it read, which is exactly what a snapshot must hold.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from buildorch.engine import EngineProbe, probe_engine

# environment variables detection reads (and a snapshot keeps)
ENV_READ = (
    "HOME",
    "USERPROFILE",
    "APPDATA",
    "WSL_DISTRO_NAME",
    "WSL_INTEROP",
    "GITHUB_ACTIONS",
    "RUNNER_OS",
    "RUNNER_ARCH",
    "GITLAB_CI",
    "CI",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
)

_PROBE_BUDGET_S = 0.3
_PROBE_PATHS = 200


class HostView(Protocol):
    """Everything detection may read of a host."""

    @property
    def system(self) -> str: ...
    @property
    def machine(self) -> str: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def project_dir(self) -> str: ...
    def read_text(self, path: str) -> str | None: ...
    def list_dir(self, path: str) -> tuple[str, ...]: ...
    def sysctl(self, name: str) -> str | None: ...
    def command_output(self, name: str) -> str | None: ...
    def engine(self) -> EngineProbe: ...
    def stat_us(self) -> float | None: ...


class LiveHost:
    """This machine, probed on demand; every answer is kept for `save_snapshot`."""

    def __init__(self, project_dir: Path, env: Mapping[str, str]) -> None:
        self.system = platform.system()
        self.machine = platform.machine()
        self.project_dir = str(project_dir)
        self._env = env
        self.files: dict[str, str] = {}
        self.sysctls: dict[str, str] = {}
        self.commands: dict[str, str] = {}
        self._engine: EngineProbe | None = None
        self._stat_us: float | None = None
        self._stat_measured = False

    @property
    def env(self) -> Mapping[str, str]:
        return {k: v for k, v in self._env.items() if k in ENV_READ}

    def read_text(self, path: str) -> str | None:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        self.files[path] = text
        return text

    def list_dir(self, path: str) -> tuple[str, ...]:
        try:
            return tuple(sorted(entry.name for entry in os.scandir(path)))
        except OSError:
            return ()

    def sysctl(self, name: str) -> str | None:
        if self.system != "Darwin" or shutil.which("sysctl") is None:
            return None
        result = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, check=False)
        value = result.stdout.strip() if result.returncode == 0 else None
        if value is not None:
            self.sysctls[name] = value
        return value

    def command_output(self, name: str) -> str | None:
        # only `mount` on macOS, which has no /proc/mounts
        if name != "mount" or self.system != "Darwin":
            return None
        result = subprocess.run(["mount"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return None
        self.commands[name] = result.stdout
        return result.stdout

    def engine(self) -> EngineProbe:
        if self._engine is None:
            self._engine = probe_engine(self._env)
        return self._engine

    def stat_us(self) -> float | None:
        if not self._stat_measured:
            self._stat_us = measure_stat_us(Path(self.project_dir))
            self._stat_measured = True
        return self._stat_us


def measure_stat_us(folder: Path) -> float | None:
    """Median microseconds per `stat` on up to 200 paths under `folder`, within 0.3 s.

    Each path is stat'ed once: on a share every call is a round trip to the host unless the
    kernel caches attributes, which is what users' tools meet too.
    """
    paths: list[str] = []
    pending = [str(folder)]
    deadline = time.perf_counter() + _PROBE_BUDGET_S / 2
    while pending and len(paths) < _PROBE_PATHS and time.perf_counter() < deadline:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    paths.append(entry.path)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError:
            continue
    samples = []
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
