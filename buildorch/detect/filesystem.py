"""The file system the project sits on, and whether it is slow (measured, not guessed)."""

from __future__ import annotations

import re

from buildorch.detect.view import HostView
from buildorch.facts import SourceFacts

PROC_MOUNTS = "/proc/mounts"
# shares whose every stat/open is a round trip between a VM and its host; used only when the
# stat probe did not run, since a measurement beats a name
SLOW_CLASSES = frozenset(
    {"9p", "virtiofs", "fakeowner", "grpcfuse", "osxfs", "drvfs", "nfs", "smb"}
)

_CLASSES = {
    "9p": "9p",
    "virtiofs": "virtiofs",
    "fakeowner": "fakeowner",
    "fuse.grpcfuse": "grpcfuse",
    "grpcfuse": "grpcfuse",
    "fuse.osxfs": "osxfs",
    "osxfs": "osxfs",
    "drvfs": "drvfs",
    "nfs": "nfs",
    "nfs4": "nfs",
    "cifs": "smb",
    "smb3": "smb",
    "smbfs": "smb",
    "fuseblk": "fuse",
    "macfuse": "fuse",
    "osxfuse": "fuse",
}
# macOS `mount`: `/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled)`
_MAC_MOUNT = re.compile(r"^(?P<dev>.+?) on (?P<path>/.*?) \((?P<type>[^,)]+)")
# Windows paths: a UNC share `\\server\share\...` (a mapped drive resolves to one), with WSL's
# own files under `\\wsl$\DISTRO` or `\\wsl.localhost\DISTRO`; else a drive `C:\...`. Either
# may come in the extended form (`\\?\UNC\server\share`, `\\?\C:\`).
_EXTENDED = re.compile(r"^[\\/]{2}[?.][\\/](?:UNC[\\/])?", re.IGNORECASE)
_UNC = re.compile(r"^[\\/]{2}(?P<host>[^\\/]+)[\\/](?P<share>[^\\/]+)")
_DRIVE = re.compile(r"^(?P<drive>[A-Za-z]:)")
_WSL_HOSTS = ("wsl$", "wsl.localhost")


def unescape_mount_field(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal (`\\040`, `\\134`)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(view: HostView) -> tuple[list[tuple[str, str]], str]:
    """(mount point, type) pairs in table order, and where they came from."""
    if view.system == "Darwin":
        text = view.command_output("mount")
        found = []
        for line in (text or "").splitlines():
            match = _MAC_MOUNT.match(line)
            if match:
                found.append((match.group("path"), match.group("type").strip()))
        if found:
            return found, "`mount`"
        # no mount table recorded: the system volume of a Mac is APFS
        return [("/", "apfs")], "no `mount` output, APFS assumed"
    if view.system == "Windows":
        return [], "Windows has no mount table"
    found = []
    for line in (view.read_text(PROC_MOUNTS) or "").splitlines():
        fields = line.split()
        if len(fields) >= 3:
            found.append((unescape_mount_field(fields[1]), fields[2]))
    return found, PROC_MOUNTS


def classify(fs_type: str) -> str:
    """The class of a mount type: `fuse.grpcfuse` -> grpcfuse, `fuse.bindfs` -> fuse."""
    lowered = fs_type.lower()
    if lowered in _CLASSES:
        return _CLASSES[lowered]
    if lowered.startswith("fuse"):
        return "fuse"
    return lowered


def _containing(path: str, mounts: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The mount holding `path`: the longest mount point that prefixes it (the last if stacked)."""
    best: tuple[str, str] | None = None
    for point, kind in mounts:
        root = point.rstrip("/")
        if (path == point or path.startswith(root + "/") or point == "/") and (
            best is None or len(point) >= len(best[0])
        ):
            best = (point, kind)
    return best


def _windows_source(path: str) -> tuple[str | None, str | None, str, str]:
    """(share or drive, type, class, why) of a Windows path, which has no mount table: the
    path itself says whether it is a local drive, WSL's files or a network share."""
    plain = path
    if extended := _EXTENDED.match(path):
        unc = extended.group(0).upper().rstrip("\\/").endswith("UNC")
        plain = ("\\\\" if unc else "") + path[extended.end() :]
    if unc_share := _UNC.match(plain):
        host, share = unc_share.group("host"), unc_share.group("share")
        point = f"\\\\{host}\\{share}"
        if host.lower() in _WSL_HOSTS:
            return (
                point,
                "9p",
                "9p",
                (
                    f"{path} is in the WSL distribution {share}, which Windows reads through "
                    "WSL's 9P file server (build from inside WSL, where its files are local)"
                ),
            )
        return point, "smb", "smb", f"{path} is on the network share {point} (SMB)"
    drive = _DRIVE.match(plain)
    return (
        f"{drive.group('drive').upper()}\\" if drive else None,
        None,
        "ntfs",
        f"{path} is on a Windows drive, NTFS assumed (Windows has no mount table)",
    )


def detect_source(view: HostView, slow_stat_us: float) -> tuple[SourceFacts, str]:
    """Where the project's files live, whether reading them is slow, and why."""
    path = view.project_dir.rstrip("/") or "/"
    mounts, origin = parse_mounts(view)
    found = _containing(path, mounts)
    point: str | None
    fs_type: str | None
    if found is not None:
        point, fs_type = found
        fs = classify(fs_type)
        where = f"{path} is on {fs_type} mounted at {point} ({origin})"
    elif view.system == "Windows":
        point, fs_type, fs, where = _windows_source(path)
    else:
        point, fs_type, fs = None, None, "unknown"
        where = f"no mount holds {path} ({origin} unreadable)"
    stat_us = view.stat_us()
    if stat_us is not None:
        slow = stat_us >= slow_stat_us
        verdict = "slow" if slow else "fast"
        why = (
            f"{where}; a stat there takes {stat_us:g} us (median), "
            f"{verdict} against the {slow_stat_us:g} us threshold"
        )
    else:
        slow = fs in SLOW_CLASSES
        kind = "a VM/host share" if slow else "a local disk"
        why = f"{where}; not measured, so judged by its kind: {fs} is {kind}"
    facts = SourceFacts(
        path=path, mount_point=point, fs_type=fs_type, fs=fs, slow=slow, stat_us=stat_us
    )
    return facts, why
