"""Publishing build outputs and writing state: atomic, and nothing of the user's is lost."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from buildorch.fsutil import atomic_write, locked, publish, staged_dir


def _stage(tmp_path: Path, dest: Path, files: dict[str, str]) -> None:
    with staged_dir(dest) as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)
        publish(staging, dest)


def test_new_folder_is_moved_into_place(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    _stage(tmp_path, dest, {"hello": "new", "lib/a.so": "x"})
    assert (dest / "hello").read_text() == "new"
    assert (dest / "lib" / "a.so").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left


def test_existing_folder_keeps_what_the_build_did_not_write(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "hello").write_text("old")
    (dest / "notes.txt").write_text("mine")
    (dest / "lib").mkdir()
    (dest / "lib" / "stale.so").write_text("old lib")
    _stage(tmp_path, dest, {"hello": "new", "lib/a.so": "x"})
    assert (dest / "hello").read_text() == "new"
    assert (dest / "notes.txt").read_text() == "mine"
    # a folder the build produced replaces the old one whole: no stale mix of versions
    assert sorted(p.name for p in (dest / "lib").iterdir()) == ["a.so"]
    assert sorted(p.name for p in dest.iterdir()) == ["hello", "lib", "notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_build_leaves_the_destination_untouched(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "hello").write_text("old")
    with pytest.raises(KeyboardInterrupt), staged_dir(dest) as staging:
        (staging / "hello").write_text("half")
        raise KeyboardInterrupt
    assert (dest / "hello").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_publish_killed_half_way_is_cleared_by_the_next(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "hello").write_text("old")
    (dest / "notes.txt").write_text("mine")
    # a publish whose process dies (SIGKILL) between moving an old entry aside and moving the
    # new one in: a child that leaves as the kernel would end it, running no `finally`
    child = os.fork()
    if child == 0:
        real = Path.rename

        def killed_half_way(self: Path, target: Path) -> Path:
            if self.parent.name.startswith(".out.buildorch-"):
                os._exit(9)
            return real(self, target)

        Path.rename = killed_half_way  # type: ignore[method-assign,assignment]
        with staged_dir(dest) as staging:
            (staging / "hello").write_text("half")
            publish(staging, dest)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(".replaced-" in name for name in left), left  # what it had moved aside
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]  # nothing inside dest
    _stage(tmp_path, dest, {"hello": "new"})
    assert (dest / "hello").read_text() == "new"
    assert (dest / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    atomic_write(path, "first\r\n")
    atomic_write(path, "second\r\n", mode=0o755)
    assert path.read_bytes() == b"second\r\n"  # line endings as given
    if sys.platform != "win32":  # Windows keeps only a read-only bit
        assert path.stat().st_mode & 0o777 == 0o755
    atomic_write(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_atomic_write_that_fails_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    atomic_write(path, "old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_locked_says_who_holds_the_lock_and_waits_for_it(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "lock"
    told: list[str] = []
    released = threading.Event()

    def other_run() -> None:
        with locked(lock):
            holding.set()
            released.wait(5)

    holding = threading.Event()
    holder = threading.Thread(target=other_run)
    holder.start()
    assert holding.wait(5)
    # flock locks belong to open files: this thread's open of the file waits like a process
    threading.Timer(0.2, released.set).start()
    with locked(lock, told.append):
        assert released.is_set()  # got in only after the holder let go
    holder.join(5)
    assert len(told) == 1 and told[0].startswith(f"buildorch (pid {os.getpid()}, since ")
    assert lock.read_text() == ""  # nobody holds it now
