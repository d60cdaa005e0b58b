"""Files and folders that change all at once: atomic writes, a lock file, staged output folders.

A reader (another run, a tool watching the output) sees a file or folder either as it was or
as it became, never half written; an interrupted write leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

if sys.platform == "win32":
    import msvcrt

    # Windows locks are mandatory: a locked byte cannot be read by anyone else. The lock is
    # taken on one byte far past the holder's text, which a waiting run reads to say who it is.
    _LOCK_AT = 1 << 30

    def _lock(handle: IO[str], *, wait: bool) -> bool:
        """Take the lock; False when another process holds it and `wait` is False."""
        handle.flush()
        while True:
            os.lseek(handle.fileno(), _LOCK_AT, os.SEEK_SET)
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                if not wait:
                    return False
                time.sleep(0.1)  # LK_LOCK gives up after 10 s: a build can hold it longer
            else:
                return True

    def _unlock(handle: IO[str]) -> None:
        handle.flush()
        os.lseek(handle.fileno(), _LOCK_AT, os.SEEK_SET)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

    def _set_mode(stream: IO[bytes], path: str, mode: int) -> None:
        # Windows has only a read-only bit, which chmod sets from the owner's write bit
        del stream
        os.chmod(path, mode)  # noqa: PTH101 - the temporary file is a path string here

else:
    import fcntl

    def _lock(handle: IO[str], *, wait: bool) -> bool:
        """Take the lock; False when another process holds it and `wait` is False."""
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)

    def _set_mode(stream: IO[bytes], path: str, mode: int) -> None:
        del path
        os.fchmod(stream.fileno(), mode)


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o644) -> None:
    """Write `data` (text as UTF-8, line endings as given) to a temporary file beside `path`,
    flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            stream.flush()
            _set_mode(stream, temporary, mode)
            # on disk before the rename: a crash then leaves the old file or the new, whole
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(path: Path, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created if missing) for the block.

    When another process holds it, `waiting` is told once who does (what that process wrote
    into the file) before this one blocks until it is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        if not _lock(handle, wait=False):
            handle.seek(0)
            if waiting is not None:
                waiting(handle.read().strip() or "another run")
            _lock(handle, wait=True)
        handle.seek(0)
        handle.truncate()
        handle.write(f"buildorch (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            _unlock(handle)


@contextlib.contextmanager
def staged_dir(dest: Path) -> Iterator[Path]:
    """A private folder beside `dest` (same file system, so the final move is a rename),
    removed when the block ends: `publish` moves what should stay out of it first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}.buildorch-"
    _remove_orphans(dest.parent, prefix)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
    # whose it is: a run killed outright (SIGKILL, power loss) cannot remove its own
    (staging.parent / f"{staging.name}.pid").write_text(str(os.getpid()))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        (staging.parent / f"{staging.name}.pid").unlink(missing_ok=True)


_REPLACED = ".replaced-"


def _remove_orphans(folder: Path, prefix: str) -> None:
    """Staging folders of runs that are gone: the next run clears what a killed one left."""
    for mark in folder.glob(f"{prefix}*.pid"):
        try:
            pid = int(mark.read_text().strip())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        staging = mark.with_suffix("")
        for left in (staging, *folder.glob(f"{glob.escape(staging.name)}{_REPLACED}*")):
            shutil.rmtree(left, ignore_errors=True)
        mark.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # never remove what might be another run's on a system without kill(0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(staging: Path, dest: Path) -> None:
    """Move the staged files into `dest`, each entry by an atomic rename.

    Entries of `dest` that the staging folder does not have are left alone; one it replaces is
    first moved aside, so a reader sees the old or the new version, never half of one.
    """
    if not dest.exists():
        try:
            staging.rename(dest)
        except OSError:
            pass  # another run created it meanwhile: merge into it below
        else:
            staging.mkdir()  # the context manager removes it again
            return
    dest.mkdir(parents=True, exist_ok=True)
    # beside the staging folder and named after it: what a run killed here left is removed
    # with its staging folder by the next run
    aside = Path(tempfile.mkdtemp(prefix=f"{staging.name}{_REPLACED}", dir=staging.parent))
    try:
        for entry in staging.iterdir():
            target = dest / entry.name
            if target.exists() or target.is_symlink():
                target.rename(aside / entry.name)
            entry.rename(target)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
