"""Recording a host to a folder, and replaying one.

The layout is fixed, so snapshots recorded on other machines replay here:

    host.json               system, machine, env (only what detection reads), project_dir,
                            sysctl (macOS)
    files/<absolute path>   the host files detection read; a listed directory as its entries
    docker/info.json        `docker info --format '{{json .}}'`
    docker/version.json     `docker version --format '{{json .}}'`
    docker/buildx-ls.json   `docker buildx ls --format json` (one object per line)
    probe.json              {"stat_us": median microseconds per stat on project_dir}

A missing file means the host did not have it. Optional: docker/info.stderr and
docker/buildx.stderr (the CLI's own words), commands/mount.txt (macOS has no /proc/mounts).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from buildorch.detect.docker import info_read
from buildorch.detect.host import detect_host
from buildorch.detect.view import LiveHost, snapshot_relpath
from buildorch.engine import EngineProbe
from buildorch.errors import SnapshotError

SYSTEMS = ("Linux", "Darwin", "Windows")
_RECORD = "record it again on that host with `buildorch doctor --save-snapshot DIR`"
# what a snapshot folder may hold: anything else means the folder is not ours to replace
_SNAPSHOT_ENTRIES = frozenset({"host.json", "files", "docker", "probe.json", "commands"})


class SnapshotHost:
    """A recorded host, answering from its files only."""

    def __init__(self, root: Path, host: Mapping[str, Any]) -> None:
        self.root = root
        self.system: str = host["system"]
        self.machine: str = host["machine"]
        self.project_dir: str = host["project_dir"]
        self._env: dict[str, str] = dict(host.get("env") or {})
        self._sysctl: dict[str, str] = dict(host.get("sysctl") or {})
        self._engine = _read_engine(root)
        self._stat_us = _read_probe(root)

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def _file(self, path: str) -> Path | None:
        try:
            return self.root / "files" / snapshot_relpath(path)
        except ValueError:
            return None

    def read_text(self, path: str) -> str | None:
        file = self._file(path)
        if file is None or not file.is_file():
            return None
        # bytes, decoded as the live host decoded them: no newline translation
        return file.read_bytes().decode("utf-8", errors="replace")

    def list_dir(self, path: str) -> tuple[str, ...]:
        folder = self._file(path)
        if folder is None or not folder.is_dir():
            return ()
        return tuple(sorted(p.name for p in folder.iterdir()))

    def sysctl(self, name: str) -> str | None:
        return self._sysctl.get(name)

    def command_output(self, name: str) -> str | None:
        path = self.root / "commands" / f"{name}.txt"
        return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else None

    def engine(self) -> EngineProbe:
        return self._engine

    def stat_us(self) -> float | None:
        return self._stat_us


def load_snapshot(path: Path) -> SnapshotHost:
    """Open a recorded host; SnapshotError (what, why, fix) when it is missing or malformed."""
    if not path.is_dir():
        raise SnapshotError(
            f"no snapshot at {path}",
            why="the folder does not exist" if not path.exists() else "it is a file, not a folder",
            fix="check the path; snapshots are folders written by "
            "`buildorch doctor --save-snapshot DIR`",
        )
    host_file = path / "host.json"
    host = _json(host_file, required=True)
    if not isinstance(host, dict):
        raise SnapshotError(
            f"{host_file} is not a JSON object",
            why=f"it holds a {type(host).__name__}",
            fix=_RECORD,
        )
    for key in ("system", "machine", "project_dir"):
        if not isinstance(host.get(key), str) or not host[key]:
            raise SnapshotError(
                f"{host_file} lacks `{key}`" if key not in host else f"{host_file}: bad `{key}`",
                why=f"`{key}` must be a non-empty string; the file has {host.get(key)!r}",
                fix=_RECORD,
            )
    if host["system"] not in SYSTEMS:
        raise SnapshotError(
            f"{host_file}: unknown system {host['system']!r}",
            why=f"`system` is what platform.system() says: one of {', '.join(SYSTEMS)}",
            fix=_RECORD,
        )
    for key in ("env", "sysctl"):
        value = host.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise SnapshotError(
                f"{host_file}: `{key}` must map names to strings",
                why=f"it holds {json.dumps(value)[:120]}",
                fix=_RECORD,
            )
    return SnapshotHost(path, host)


def save_snapshot(view: LiveHost, dest: Path) -> None:
    """Write what detection reads of `view` to `dest`, atomically.

    The snapshot is built in a temporary sibling folder and renamed into place, so a failure
    leaves no half-written snapshot. An existing `dest` is replaced only when it is empty or
    an earlier snapshot.
    """
    _check_dest(dest)
    # detection reads lazily: run it so every file, variable and answer it needs is recorded
    detect_host(view)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    try:
        _write_snapshot(view, staging)
        _swap_into_place(staging, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)


def _check_dest(dest: Path) -> None:
    if not dest.exists():
        return
    if dest.is_dir():
        entries = {p.name for p in dest.iterdir()}
        if not entries or ("host.json" in entries and entries <= _SNAPSHOT_ENTRIES):
            return
    raise SnapshotError(
        f"{dest} already exists and is not a buildorch snapshot",
        why="saving there would replace files buildorch did not write",
        fix=f"pass a new folder to --save-snapshot, or move {dest} away first",
    )


def _write_snapshot(view: LiveHost, root: Path) -> None:
    host: dict[str, Any] = {
        "system": view.system,
        "machine": view.machine,
        "env": view.env_read,
        "project_dir": view.project_dir,
    }
    if view.sysctls:
        host["sysctl"] = dict(sorted(view.sysctls.items()))
    _write(root / "host.json", json.dumps(host, indent=2) + "\n")
    files = root / "files"
    for folder, entries in view.listings.items():
        base = files / snapshot_relpath(folder)
        base.mkdir(parents=True, exist_ok=True)
        for name, is_dir in entries:
            if is_dir:
                (base / name).mkdir(exist_ok=True)
            else:
                # an entry that could not be read (binfmt_misc's write-only `register`) is
                # kept empty so the listing replays
                (base / name).touch()
    for path, text in view.files.items():
        _write(files / snapshot_relpath(path), text)
    for name, output in view.commands.items():
        _write(root / "commands" / f"{name}.txt", output)
    probe = view.engine()
    if probe.binary:
        docker = root / "docker"
        docker.mkdir()
        outputs: tuple[tuple[str, str | None], ...] = (
            ("info.json", _info_read(probe.info_json)),
            ("info.stderr", probe.info_stderr),
            ("version.json", probe.version_json),
            ("buildx-ls.json", probe.buildx_ls),
            ("buildx.stderr", probe.buildx_stderr),
            ("context-ls.json", probe.contexts),
        )
        for file_name, answer in outputs:
            # an empty JSON answer is no answer: the file stays absent
            if answer is not None and (answer.strip() or not file_name.endswith(".json")):
                _write(docker / file_name, answer)
    _write(root / "probe.json", json.dumps({"stat_us": view.stat_us()}) + "\n")


def _info_read(info_json: str | None) -> str | None:
    """`docker info`'s answer cut down to what detection reads (an answer that is no JSON
    object, such as an error's, is kept as it is: detection reads it as such)."""
    try:
        info = json.loads(info_json or "")
    except ValueError:
        return info_json
    return json.dumps(info_read(info)) if isinstance(info, dict) else info_json


def _swap_into_place(staging: Path, dest: Path) -> None:
    """Rename `staging` to `dest`; an earlier snapshot there is moved aside, then deleted."""
    old: Path | None = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        old.rmdir()
        dest.rename(old)
    try:
        staging.rename(dest)
    except OSError:
        if old is not None:
            old.rename(dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _json(path: Path, *, required: bool = False) -> Any:
    if not path.is_file() or (not required and not path.read_bytes().strip()):
        if required:
            raise SnapshotError(
                f"{path} is missing",
                why="every snapshot starts with host.json (system, machine, project_dir)",
                fix=_RECORD,
            )
        return None
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path} is not valid JSON", why=str(exc), fix=_RECORD) from exc


def _text(path: Path) -> str | None:
    return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else None


def _read_engine(root: Path) -> EngineProbe:
    docker = root / "docker"
    if not docker.is_dir():
        return EngineProbe(binary=False)
    # parsed now, so a malformed file fails at load with its name, not later as "no engine"
    for name in ("info.json", "version.json"):
        data = _json(docker / name)
        if data is not None and not isinstance(data, dict):
            raise SnapshotError(
                f"{docker / name} is not a JSON object",
                why=f"docker prints one object with --format '{{{{json .}}}}'; it holds a "
                f"{type(data).__name__}",
                fix=_RECORD,
            )
    buildx = _text(docker / "buildx-ls.json")
    for number, line in enumerate((buildx or "").splitlines(), 1):
        if not line.strip():
            continue
        try:
            builder = json.loads(line)
        except ValueError as exc:
            raise SnapshotError(
                f"{docker / 'buildx-ls.json'} line {number} is not JSON",
                why=f"{exc}; `docker buildx ls --format json` prints one object per line",
                fix=_RECORD,
            ) from exc
        if not isinstance(builder, dict):
            raise SnapshotError(
                f"{docker / 'buildx-ls.json'} line {number} is not a JSON object",
                why="`docker buildx ls --format json` prints one builder object per line",
                fix=_RECORD,
            )
    return EngineProbe(
        binary=True,
        info_json=_text(docker / "info.json"),
        info_stderr=_text(docker / "info.stderr"),
        version_json=_text(docker / "version.json"),
        buildx_ls=buildx,
        buildx_stderr=_text(docker / "buildx.stderr"),
        contexts=_text(docker / "context-ls.json"),
    )


def _read_probe(root: Path) -> float | None:
    path = root / "probe.json"
    probe = _json(path)
    if probe is None:
        return None
    value = probe.get("stat_us") if isinstance(probe, dict) else "?"
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise SnapshotError(
            f"{path}: `stat_us` must be a number or null",
            why=f"the file has {json.dumps(probe)[:120]}",
            fix=_RECORD,
        )
    return float(value) if value is not None else None
