"""The file system the project sits on, and whether it is a slow share (by measurement)."""

from __future__ import annotations

import re

from buildorch.detect.view import HostView
from buildorch.facts import SourceFacts

# shares whose every stat/open is a round trip between a VM and its host
SLOW_CLASSES = frozenset(
    {"9p", "virtiofs", "fakeowner", "grpcfuse", "osxfs", "drvfs", "nfs", "smb"}
)

_CLASSES = {
    "9p": "9p",
    "virtiofs": "virtiofs",
    "fakeowner": "fakeowner",
    "fuse.grpcfuse": "grpcfuse",
    "fuse.osxfs": "osxfs",
    "osxfs": "osxfs",
    "drvfs": "drvfs",
    "nfs": "nfs",
    "nfs4": "nfs",
    "cifs": "smb",
    "smb3": "smb",
    "smbfs": "smb",
    "fuseblk": "fuse",
}
_MAC_MOUNT = re.compile(r"^(?P<dev>.+?) on (?P<path>.+?) \((?P<type>[^,)]+)")


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(view: HostView) -> list[tuple[str, str]]:
    """(mount point, type) pairs."""
    if view.system == "Darwin":
        text = view.command_output("mount") or ""
        found = []
        for line in text.splitlines():
            match = _MAC_MOUNT.match(line)
            if match:
                found.append((match.group("path"), match.group("type")))
        return found or [("/", "apfs")]
    text = view.read_text("/proc/mounts") or ""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            found.append((_unescape(fields[1]), fields[2]))
    return found


def classify(fs_type: str) -> str:
    if fs_type in _CLASSES:
        return _CLASSES[fs_type]
    if fs_type.startswith("fuse"):
        return "fuse"
    return fs_type


def detect_source(view: HostView, slow_stat_us: float) -> tuple[SourceFacts, str]:
    path = view.project_dir.rstrip("/") or "/"
    best: tuple[str, str] | None = None
    for mount_point, mount_type in _mounts(view):
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if (inside or mount_point == "/") and (best is None or len(mount_point) >= len(best[0])):
            best = (mount_point, mount_type)
    if view.system == "Windows":
        best = best or ("", "ntfs")
    point: str | None = best[0] if best is not None else None
    fs_type: str | None = best[1] if best is not None else None
    fs = classify(fs_type) if fs_type else "unknown"
    stat_us = view.stat_us()
    if stat_us is not None:
        slow = stat_us >= slow_stat_us
        verdict = "slow" if slow else "fast"
        why = (
            f"{path} is on {fs_type or '?'} mounted at {point or '?'}; a stat takes "
            f"{stat_us:g} us (median), {verdict} against the {slow_stat_us:g} us threshold"
        )
    else:
        slow = fs in SLOW_CLASSES
        why = f"{path} is on {fs_type or '?'}; not measured, so judged by its kind ({fs})"
    facts = SourceFacts(
        path=path, mount_point=point, fs_type=fs_type, fs=fs, slow=slow, stat_us=stat_us
    )
    return facts, why
