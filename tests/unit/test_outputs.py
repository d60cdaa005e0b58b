"""Publishing build outputs: atomic, and nothing of the user's is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.fsutil import publish, staged_dir


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
