"""The project's files as the build reads them: walked in parallel, and mirrored to a fast disk.

On a slow share (WSL2's 9P, Docker Desktop's file sharing) every `stat` is a round trip to the
host, so a walk that stats one file after another pays the trip once per file. Here the stats of
a tree are issued from many threads at once, so their round trips overlap.

A mirror is a plain copy of the files the build reads, on a local disk. `sync` makes it equal
to a listing of the sources: it copies only what differs by type, size, mtime or mode, and
removes what the sources no longer have (deleted and renamed files). Each file is written
under a temporary name and renamed, so an interrupted sync leaves every file either old or new;
the next sync compares again and repairs the rest. It only ever reads the sources.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import queue
import shutil
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from buildorch.fsutil import atomic_write

# many requests in flight hide a share's latency; local disks do not mind
WALK_THREADS = 32
COPY_THREADS = 16
_STAT_CHUNK = 32
_MAX_HELD = 64
TEMP_MARK = ".buildorch-partial-"

Kind = Literal["file", "dir", "link"]
Keep = Callable[[str, bool], bool]
"""(relative path, is a folder) -> whether the build reads it (a folder: anything in it)."""


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    size: int
    mtime_ns: int
    mode: int
    target: str | None = None
    """What a symbolic link points to."""

    def same_as(self, other: Entry) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "dir":
            return True
        if self.kind == "link":
            return self.target == other.target
        return (self.size, self.mtime_ns, self.mode) == (other.size, other.mtime_ns, other.mode)


Listing = Mapping[str, Entry]
"""Relative POSIX path -> entry, for every file, folder and link under a root."""


class SpecialFile(NamedTuple):
    """A socket, fifo or device: `docker build` does not send one, nor does a mirror hold it."""

    path: str
    kind: str


class Walked(NamedTuple):
    entries: dict[str, Entry]
    special: tuple[SpecialFile, ...]
    """What was left out because it is no file, folder or link, by path."""
    unreadable: tuple[str, ...] = ()
    """Files and folders this process may not read (a build reading them would fail)."""


class _Reader(NamedTuple):
    """Who reads: the process's effective ids, taken once per walk."""

    uid: int
    gids: frozenset[int]

    @classmethod
    def this_process(cls) -> _Reader:
        return cls(os.geteuid(), frozenset((os.getegid(), *os.getgroups())))

    def may_read(self, st: os.stat_result) -> bool:
        """By the mode bits, as the kernel judges them (root reads everything)."""
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IRUSR)
        if st.st_gid in self.gids:
            return bool(st.st_mode & stat.S_IRGRP)
        return bool(st.st_mode & stat.S_IROTH)


def walk(root: Path, keep: Keep | None = None, threads: int = WALK_THREADS) -> dict[str, Entry]:
    """Every file, folder and link under `root` that `keep` accepts (see `walk_tree`)."""
    return walk_tree(root, keep, threads).entries


def walk_tree(root: Path, keep: Keep | None = None, threads: int = WALK_THREADS) -> Walked:
    """Every entry under `root` that `keep` accepts, stat'ed from `threads` threads at once.

    Entries are stat'ed relative to their open folder (`fstatat`), so each costs one lookup
    on a share instead of one per component of its path. A folder's first `_STAT_CHUNK`
    entries are stat'ed by the task that lists it; a larger folder stays open while other
    tasks stat the rest in chunks. Open folders are bounded (macOS allows a process 256
    descriptors), so a wide tree waits for descriptors rather than running out of them."""
    if sys.platform == "win32":
        return Walked(_walk_by_path(root, keep), ())
    reader = _Reader.this_process()
    found: dict[str, Entry] = {}
    special: list[SpecialFile] = []
    unreadable: list[str] = []
    finished: queue.SimpleQueue[cf.Future[_Scanned | _Stated]] = queue.SimpleQueue()
    waiting: deque[str] = deque([""])
    scanning = 0
    held: dict[int, int] = {}
    """Descriptor of each folder kept open for its chunks -> chunks still to come back."""
    pool = cf.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="walk")

    def submit(task: Callable[..., _Scanned | _Stated], *args: object) -> None:
        pool.submit(task, *args).add_done_callback(finished.put)

    try:
        while True:
            while waiting and scanning < threads and len(held) < _MAX_HELD:
                submit(_scan, root, waiting.popleft(), keep, reader)
                scanning += 1
            if not scanning and not held:
                return Walked(found, tuple(sorted(special)), tuple(sorted(unreadable)))
            result = finished.get().result()
            special.extend(result.special)
            unreadable.extend(result.unreadable)
            if isinstance(result, _Stated):
                found.update(result.entries)
                held[result.fd] -= 1
                if not held[result.fd]:
                    del held[result.fd]
                    os.close(result.fd)
                continue
            scanning -= 1
            found.update(result.stated)
            for relative in result.folders:
                found[relative] = Entry("dir", 0, 0, 0)
                waiting.append(relative)
            if result.fd is not None:
                chunks = range(0, len(result.others), _STAT_CHUNK)
                held[result.fd] = len(chunks)
                for start in chunks:
                    names = result.others[start : start + _STAT_CHUNK]
                    submit(_stat_all, result.fd, result.relative, names, reader)
    finally:
        # on an error or Ctrl-C: drop what has not started, let the rest finish, then close
        pool.shutdown(wait=True, cancel_futures=True)
        for fd in held:
            os.close(fd)


def _walk_by_path(root: Path, keep: Keep | None) -> dict[str, Entry]:
    """Windows has no folder descriptors to stat relative to, and needs none: a listing
    there (FindFirstFile) already carries each entry's size, mtime and attributes."""
    found: dict[str, Entry] = {}
    waiting = [""]
    while waiting:
        relative = waiting.pop()
        try:
            with os.scandir(root / relative) as entries:
                listed = list(entries)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue  # gone or unreadable meanwhile: the build would not see it either
        for entry in listed:
            child = f"{relative}/{entry.name}" if relative else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if keep is not None and not keep(child, is_dir):
                continue
            if entry.is_symlink():
                found[child] = Entry("link", 0, 0, 0, str(Path(entry.path).readlink()))
            elif is_dir:
                found[child] = Entry("dir", 0, 0, 0)
                waiting.append(child)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                found[child] = Entry("file", st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return found


@dataclass(frozen=True, slots=True)
class _Scanned:
    relative: str
    folders: list[str]
    stated: dict[str, Entry]
    """The folder's first entries, stat'ed by the task that listed it."""
    fd: int | None
    """The folder, left open for the rest of its entries (None when there are none)."""
    others: list[str]
    """Names (not paths) of the rest."""
    special: list[SpecialFile]
    unreadable: list[str]


@dataclass(frozen=True, slots=True)
class _Stated:
    fd: int
    entries: dict[str, Entry]
    special: list[SpecialFile]
    unreadable: list[str]


def _scan(root: Path, relative: str, keep: Keep | None, reader: _Reader) -> _Scanned:
    try:
        fd = os.open(root / relative, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return _Scanned(relative, [], {}, None, [], [], [])  # gone meanwhile
    except PermissionError:
        # the build could not read it either
        return _Scanned(relative, [], {}, None, [], [], [relative or "."])
    folders: list[str] = []
    others: list[str] = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                child = f"{relative}/{entry.name}" if relative else entry.name
                # d_type from readdir: no round trip per entry to tell folders from files
                is_dir = entry.is_dir(follow_symlinks=False)
                if keep is not None and not keep(child, is_dir):
                    continue
                if is_dir:
                    folders.append(child)
                else:
                    others.append(entry.name)
        stated, special, unreadable = _stat_names(fd, relative, others[:_STAT_CHUNK], reader)
    except BaseException:
        os.close(fd)
        raise
    rest = others[_STAT_CHUNK:]
    if not rest:
        os.close(fd)
    return _Scanned(relative, folders, stated, fd if rest else None, rest, special, unreadable)


def _stat_all(fd: int, relative: str, names: list[str], reader: _Reader) -> _Stated:
    return _Stated(fd, *_stat_names(fd, relative, names, reader))


def _stat_names(
    fd: int, relative: str, names: list[str], reader: _Reader
) -> tuple[dict[str, Entry], list[SpecialFile], list[str]]:
    found = {}
    special = []
    unreadable = []
    for name in names:
        child = f"{relative}/{name}" if relative else name
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=fd)
            found[child] = Entry("link", 0, 0, 0, target)
        elif stat.S_ISREG(st.st_mode):
            found[child] = Entry("file", st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
            # the mode bits cost nothing more; an ACL may still grant what they refuse
            if not reader.may_read(st) and not os.access(name, os.R_OK, dir_fd=fd):
                unreadable.append(child)
        else:  # sockets, fifos and devices are not sent by `docker build` either
            special.append(SpecialFile(child, _special_kind(st.st_mode)))
    return found, special, unreadable


def _special_kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "character device"
    return "block device" if stat.S_ISBLK(mode) else "special file"


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncReport:
    copied: int
    copied_bytes: int
    removed: int
    unchanged: int
    seconds: float


def sync(source: Path, listing: Listing, mirror: Path, record: Path | None = None) -> SyncReport:
    """Make `mirror` hold exactly `listing` (entries of `source`), copying only what differs.

    `record` keeps what the mirror held after the last complete sync, which spares walking
    the mirror. It is removed before anything changes and written back only at the end, so
    an interrupted sync leaves none and the next one walks the mirror to repair it."""
    began = time.monotonic()
    existed = mirror.is_dir()
    mirror.mkdir(parents=True, exist_ok=True)
    have = load_listing(record) if record is not None and existed else None
    if record is not None:
        record.unlink(missing_ok=True)
    if have is None:
        have = walk(mirror, threads=1)  # a local disk answers at once: threads would contend
    # gone from the sources, or replaced by another kind (a file that became a folder);
    # leftovers of an interrupted copy have temporary names no listing holds
    gone = {
        relative
        for relative, entry in have.items()
        if relative not in listing or listing[relative].kind != entry.kind
    }
    # deepest first: a folder's content goes before the folder
    for relative in sorted(gone, key=lambda r: r.count("/"), reverse=True):
        _remove(mirror / relative)
    for relative in sorted(r for r, e in listing.items() if e.kind == "dir"):
        if relative not in have or relative in gone:
            (mirror / relative).mkdir(parents=True, exist_ok=True)
    wanted = [
        relative
        for relative, entry in listing.items()
        if entry.kind != "dir"
        and (relative not in have or relative in gone or not entry.same_as(have[relative]))
    ]
    copied_bytes = copy_files(source, listing, wanted, mirror)
    if record is not None:
        # a file that vanished from the sources during the copy is not in the mirror; the
        # others were there already (asking the disk about every one cost 0.2 s a build)
        vanished = {relative for relative in wanted if not os.path.lexists(mirror / relative)}
        save_listing(record, {r: e for r, e in listing.items() if r not in vanished})
    return SyncReport(
        copied=len(wanted),
        copied_bytes=copied_bytes,
        removed=sum(1 for relative in gone if relative not in listing),
        unchanged=sum(1 for e in listing.values() if e.kind != "dir") - len(wanted),
        seconds=time.monotonic() - began,
    )


_LISTING_FORMAT = 2
"""Bumped when the layout below changes; a record of another format is not trusted."""


def load_listing(path: Path) -> dict[str, Entry] | None:
    """A listing `save_listing` wrote, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _LISTING_FORMAT:
            return None
        return {relative: Entry(*fields) for relative, fields in data["entries"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save_listing(path: Path, listing: Listing) -> None:
    """Write `listing` to `path` atomically."""
    # positional fields: a tree's worth of dataclasses.asdict calls costs more than the walk
    entries = {
        relative: (e.kind, e.size, e.mtime_ns, e.mode, e.target) for relative, e in listing.items()
    }
    atomic_write(path, json.dumps({"format": _LISTING_FORMAT, "entries": entries}))


def copy_files(source: Path, listing: Listing, relatives: list[str], dest: Path) -> int:
    """Copy these files and links of `source` to the same places under `dest` (whose folders
    exist), many at once; returns the bytes copied. Files are opened relative to their open
    folder, so each costs one lookup on a share instead of one per component of its path."""
    by_folder: dict[str, list[str]] = {}
    for relative in relatives:
        folder, _, name = relative.rpartition("/")
        by_folder.setdefault(folder, []).append(name)
    batches = [
        (folder, names[start : start + _STAT_CHUNK])
        for folder, names in by_folder.items()
        for start in range(0, len(names), _STAT_CHUNK)
    ]

    def copy_batch(batch: tuple[str, list[str]]) -> int:
        folder, names = batch
        src_fd = os.open(source / folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            dst = dest / folder
            dst.mkdir(parents=True, exist_ok=True)
            dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
            try:
                return sum(
                    _copy(src_fd, dst_fd, name, listing[f"{folder}/{name}" if folder else name])
                    for name in names
                )
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)

    with cf.ThreadPoolExecutor(max_workers=COPY_THREADS, thread_name_prefix="copy") as pool:
        return sum(pool.map(copy_batch, batches))


def _copy(src_fd: int, dst_fd: int, name: str, entry: Entry) -> int:
    """One file or link, written under a temporary name and then renamed over the old one."""
    partial = f"{TEMP_MARK}{name}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(partial, dir_fd=dst_fd)
    if entry.kind == "link":
        assert entry.target is not None
        os.symlink(entry.target, partial, dir_fd=dst_fd)
        os.replace(partial, name, src_dir_fd=dst_fd, dst_dir_fd=dst_fd)
        return 0
    try:
        reader = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src_fd)
    except FileNotFoundError:
        return 0  # removed since the walk: the next sync removes it from the mirror too
    try:
        writer = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dst_fd)
        try:
            while os.sendfile(writer, reader, None, 1 << 24):
                pass
            os.fchmod(writer, entry.mode)
            # the mtime the walk saw: if the file changed since, the next sync sees it differ
            os.utime(writer, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(writer)
    finally:
        os.close(reader)
    os.replace(partial, name, src_dir_fd=dst_fd, dst_dir_fd=dst_fd)
    return entry.size


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
