"""Recording a host to a folder, and replaying one.

The layout is fixed so snapshots from other machines replay (see the README):
host.json, files/<absolute path>, docker/{info,version}.json, docker/buildx-ls.json,
probe.json; optional docker/info.stderr, docker/buildx.stderr and commands/<name>.txt.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from buildorch.detect.view import LiveHost
from buildorch.engine import EngineProbe
from buildorch.errors import SnapshotError

_FIX = "record it again with `buildorch doctor --save-snapshot SNAP` on the host"


class SnapshotHost:
    """A recorded host, answering from its files only."""

    def __init__(self, root: Path, host: Mapping[str, Any]) -> None:
        self.root = root
        self.system = str(host["system"])
        self.machine = str(host["machine"])
        self.project_dir = str(host["project_dir"])
        self._env = {str(k): str(v) for k, v in host.get("env", {}).items()}
        self._sysctl = {str(k): str(v) for k, v in host.get("sysctl", {}).items()}
        self._engine = _read_engine(root)
        self._stat_us = _read_probe(root)

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def _file(self, path: str) -> Path:
        return self.root / "files" / PurePosixPath(path.replace("\\", "/")).as_posix().lstrip("/")

    def read_text(self, path: str) -> str | None:
        try:
            return self._file(path).read_text(encoding="utf-8")
        except OSError:
            return None

    def list_dir(self, path: str) -> tuple[str, ...]:
        folder = self._file(path)
        return tuple(sorted(p.name for p in folder.iterdir())) if folder.is_dir() else ()

    def sysctl(self, name: str) -> str | None:
        return self._sysctl.get(name)

    def command_output(self, name: str) -> str | None:
        path = self.root / "commands" / f"{name}.txt"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def engine(self) -> EngineProbe:
        return self._engine

    def stat_us(self) -> float | None:
        return self._stat_us


def load_snapshot(root: Path) -> SnapshotHost:
    """Open a recorded host; a clear SnapshotError when it is missing or malformed."""
    host_file = root / "host.json"
    if not root.is_dir():
        raise SnapshotError(f"no snapshot at {root}", why="the folder does not exist", fix=_FIX)
    host = _json(host_file, required=True)
    if not isinstance(host, dict):
        raise SnapshotError(f"{host_file} is not a JSON object", fix=_FIX)
    for key, kind in (("system", str), ("machine", str), ("project_dir", str)):
        if not isinstance(host.get(key), kind):
            raise SnapshotError(
                f"{host_file} lacks `{key}`",
                why=f"`{key}` must be a string; the file has {host.get(key)!r}",
                fix=_FIX,
            )
    for key in ("env", "sysctl"):
        if not isinstance(host.get(key, {}), dict):
            raise SnapshotError(f"{host_file}: `{key}` must be an object", fix=_FIX)
    return SnapshotHost(root, host)


def save_snapshot(view: LiveHost, dest: Path) -> None:
    """Write what `view` read, atomically: a temporary sibling renamed into place."""
    if dest.exists() and not (dest.is_dir() and _replaceable(dest)):
        raise SnapshotError(
            f"{dest} exists and is not an earlier snapshot",
            why="buildorch does not write over files it did not make",
            fix="name a new folder for --save-snapshot",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        host: dict[str, Any] = {
            "system": view.system,
            "machine": view.machine,
            "env": dict(view.env),
            "project_dir": view.project_dir,
        }
        if view.sysctls:
            host["sysctl"] = dict(view.sysctls)
        _write(staging / "host.json", json.dumps(host, indent=2) + "\n")
        for path, text in view.files.items():
            _write(staging / "files" / path.lstrip("/"), text)
        for name, text in view.commands.items():
            _write(staging / "commands" / f"{name}.txt", text)
        probe = view.engine()
        if probe.binary:
            docker = staging / "docker"
            docker.mkdir()
            outputs: tuple[tuple[str, str | None], ...] = (
                ("info.json", probe.info_json),
                ("info.stderr", probe.info_stderr),
                ("version.json", probe.version_json),
                ("buildx-ls.json", probe.buildx_ls),
                ("buildx.stderr", probe.buildx_stderr),
            )
            for name, output in outputs:
                if output is not None:
                    _write(docker / name, output)
        _write(staging / "probe.json", json.dumps({"stat_us": view.stat_us()}) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)


def _replaceable(folder: Path) -> bool:
    return not any(folder.iterdir()) or (folder / "host.json").is_file()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _json(path: Path, *, required: bool = False) -> Any:
    if not path.is_file():
        if required:
            raise SnapshotError(f"{path} is missing", why="every snapshot has one", fix=_FIX)
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path} is not valid JSON", why=str(exc), fix=_FIX) from exc


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _read_engine(root: Path) -> EngineProbe:
    docker = root / "docker"
    if not docker.is_dir():
        return EngineProbe(binary=False)
    # parse now, so a malformed file fails at load with its name
    for name in ("info.json", "version.json"):
        _json(docker / name)
    buildx = _text(docker / "buildx-ls.json")
    if buildx is not None:
        for number, line in enumerate(buildx.splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as exc:
                    raise SnapshotError(
                        f"{docker / 'buildx-ls.json'} line {number} is not JSON",
                        why=str(exc),
                        fix=_FIX,
                    ) from exc
    return EngineProbe(
        binary=True,
        info_json=_text(docker / "info.json"),
        info_stderr=_text(docker / "info.stderr"),
        version_json=_text(docker / "version.json"),
        buildx_ls=buildx,
        buildx_stderr=_text(docker / "buildx.stderr"),
    )


def _read_probe(root: Path) -> float | None:
    probe = _json(root / "probe.json")
    if probe is None:
        return None
    value = probe.get("stat_us") if isinstance(probe, dict) else None
    if value is not None and not isinstance(value, int | float):
        raise SnapshotError(f"{root / 'probe.json'}: stat_us must be a number", fix=_FIX)
    return float(value) if value is not None else None
