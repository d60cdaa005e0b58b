"""Walking a project in parallel and keeping a mirror of it in step, on real files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from buildorch import tree
from buildorch.context import ReadScope, survey_context
from buildorch.dockerfile_analysis import analyse_dockerfile

if sys.platform == "win32":
    pytest.skip(
        "the mirror copies through folder descriptors (dir_fd, O_NOFOLLOW, sendfile), which "
        "Windows lacks; the walk Windows uses is tested in test_paths.py",
        allow_module_level=True,
    )


def make_project(root: Path) -> None:
    for relative, text in {
        "Makefile": "all:\n",
        "src/main.c": "int main(void) { return 0; }\n",
        "src/lib/util.c": "int util;\n",
        "docs/readme.txt": "hello\n",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    (root / "src" / "run.sh").write_text("#!/bin/sh\n")
    (root / "src" / "run.sh").chmod(0o755)
    (root / "current").symlink_to("src/main.c")


def fingerprint(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry's mode and content (or link target), and a file's mtime: what a sync keeps
    (folders and links get their own mtimes)."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            body = str(path.readlink())
        else:
            body = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        mtime = st.st_mtime_ns if path.is_file() and not path.is_symlink() else 0
        found[path.relative_to(root).as_posix()] = (st.st_mode, mtime, body)
    return found


def test_walk_lists_files_folders_and_links(tmp_path: Path) -> None:
    make_project(tmp_path)
    listing = tree.walk(tmp_path, threads=4)
    assert set(listing) == {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert listing["src/lib"].kind == "dir"
    assert listing["current"] == tree.Entry("link", 0, 0, 0, "src/main.c")
    assert listing["src/run.sh"].mode == 0o755
    assert listing["Makefile"].size == len("all:\n")


def test_walk_prunes_what_keep_refuses(tmp_path: Path) -> None:
    make_project(tmp_path)
    listing = tree.walk(tmp_path, lambda rel, is_dir: not rel.startswith("docs"))
    assert not any(rel.startswith("docs") for rel in listing)
    assert "src/lib/util.c" in listing


def test_walk_of_a_wide_tree_fits_in_macos_descriptor_limit(tmp_path: Path) -> None:
    # 300 folders, each larger than one stat chunk: a walk that kept every listed folder
    # open until its chunks ran would hold ~300 descriptors; macOS gives a process 256
    (tmp_path / "one").touch()
    for folder in range(300):
        (tmp_path / f"d{folder}").mkdir()
        for name in range(tree._STAT_CHUNK + 1):
            os.link(tmp_path / "one", tmp_path / f"d{folder}" / f"f{name}")  # quicker than files
    import resource  # POSIX: descriptor limits

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        walked = tree.walk(tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(walked) == 1 + 300 + 300 * (tree._STAT_CHUNK + 1)


def test_sync_copies_then_only_what_changed(tmp_path: Path) -> None:
    source, mirror = tmp_path / "src", tmp_path / "mirror"
    source.mkdir()
    make_project(source)
    before = fingerprint(source)
    first = tree.sync(source, tree.walk(source), mirror)
    assert (first.copied, first.removed) == (6, 0)
    assert fingerprint(mirror) == before
    again = tree.sync(source, tree.walk(source), mirror)
    assert (again.copied, again.removed, again.unchanged) == (0, 0, 6)

    (source / "src" / "main.c").write_text("int main(void) { return 1; }\n")
    (source / "docs" / "readme.txt").rename(source / "docs" / "README")
    (source / "src" / "lib" / "util.c").unlink()
    (source / "src" / "lib").rmdir()
    (source / "src" / "lib").write_text("now a file\n")  # a folder replaced by a file
    changed = tree.sync(source, tree.walk(source), mirror)
    assert changed.copied == 3  # main.c, README, lib
    assert changed.removed == 2  # readme.txt, util.c
    assert fingerprint(mirror) == fingerprint(source)


def test_sync_never_writes_to_the_sources(tmp_path: Path) -> None:
    source, mirror = tmp_path / "src", tmp_path / "mirror"
    source.mkdir()
    make_project(source)
    before = fingerprint(source)
    tree.sync(source, tree.walk(source), mirror)
    (mirror / "src" / "main.c").write_text("changed in the mirror\n")
    tree.sync(source, tree.walk(source), mirror)
    assert fingerprint(source) == before
    assert fingerprint(mirror) == before  # the mirror's own change was undone


def test_an_interrupted_sync_is_repaired_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, mirror, record = tmp_path / "src", tmp_path / "mirror", tmp_path / "mirror.json"
    source.mkdir()
    make_project(source)
    copy = tree._copy
    calls = []

    def stop_after_two(src_fd: int, dst_fd: int, name: str, entry: tree.Entry) -> int:
        calls.append(name)
        if len(calls) == 3:
            # as Ctrl-C would, with a half-written file left under its temporary name
            os.close(os.open(f"{tree.TEMP_MARK}{name}", os.O_CREAT | os.O_WRONLY, dir_fd=dst_fd))
            raise KeyboardInterrupt
        return copy(src_fd, dst_fd, name, entry)

    monkeypatch.setattr(tree, "_copy", stop_after_two)
    monkeypatch.setattr(tree, "COPY_THREADS", 1)
    with pytest.raises(KeyboardInterrupt):
        tree.sync(source, tree.walk(source), mirror, record)
    monkeypatch.setattr(tree, "_copy", copy)
    assert any(tree.TEMP_MARK in p.name for p in mirror.rglob("*"))
    assert not record.exists()  # never a record of a mirror half-way through a sync
    tree.sync(source, tree.walk(source), mirror, record)
    assert fingerprint(mirror) == fingerprint(source)
    assert tree.load_listing(record) == tree.walk(source)


def test_a_file_gone_between_walk_and_copy_is_not_recorded(tmp_path: Path) -> None:
    source, mirror, record = tmp_path / "src", tmp_path / "mirror", tmp_path / "mirror.json"
    source.mkdir()
    make_project(source)
    tree.sync(source, tree.walk(source), mirror, record)
    (source / "src" / "new.c").write_text("int fresh;\n")
    listing = tree.walk(source)
    (source / "src" / "new.c").unlink()  # deleted by the user while buildorch was walking
    tree.sync(source, listing, mirror, record)
    held = tree.load_listing(record)
    assert held is not None and "src/new.c" not in held and "src/main.c" in held
    # back again: the next sync copies it, as the record does not claim the mirror has it
    (source / "src" / "new.c").write_text("int fresh;\n")
    report = tree.sync(source, tree.walk(source), mirror, record)
    assert report.copied == 1 and fingerprint(mirror) == fingerprint(source)


def test_a_file_that_changed_size_between_walk_and_copy_is_copied_whole(tmp_path: Path) -> None:
    # a file edited between the walk and the copy is copied as it is then, never cut short
    source, mirror = tmp_path / "src", tmp_path / "mirror"
    source.mkdir()
    (source / "grew.c").write_text("int a;\n")
    (source / "shrank.c").write_text("int b; int c;\n")
    (source / "big.bin").write_bytes(os.urandom(3 << 20))
    listing = tree.walk(source)
    (source / "grew.c").write_text("int a;\n" + "int more;\n" * 20_000)  # 200 kB, edited meanwhile
    (source / "shrank.c").write_text("int b;\n")
    tree.sync(source, listing, mirror)
    for name in ("grew.c", "shrank.c", "big.bin"):
        assert (mirror / name).read_bytes() == (source / name).read_bytes(), name
    # the walk's size and mtime were kept, so the next sync compares again and copies them
    report = tree.sync(source, tree.walk(source), mirror)
    assert report.copied == 2


def test_the_record_spares_walking_the_mirror_and_is_not_trusted_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, mirror, record = tmp_path / "src", tmp_path / "mirror", tmp_path / "mirror.json"
    source.mkdir()
    make_project(source)
    tree.sync(source, tree.walk(source), mirror, record)
    walked: list[Path] = []
    real_walk = tree.walk

    def counting_walk(root: Path, *args: object, **kwargs: object) -> dict[str, tree.Entry]:
        walked.append(root)
        return real_walk(root, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tree, "walk", counting_walk)
    (source / "src" / "main.c").write_text("int main(void) { return 1; }\n")
    report = tree.sync(source, real_walk(source), mirror, record)
    assert (report.copied, walked) == (1, [])
    # the mirror removed behind buildorch's back: the record describes nothing any more
    shutil.rmtree(mirror)
    report = tree.sync(source, real_walk(source), mirror, record)
    assert report.unchanged == 0 and report.copied > 1  # all of it, again
    assert fingerprint(mirror) == fingerprint(source)


def test_a_record_round_trips_and_one_of_another_format_is_not_trusted(tmp_path: Path) -> None:
    source, record = tmp_path / "src", tmp_path / "mirror.json"
    source.mkdir()
    make_project(source)
    (source / "link").symlink_to("src/main.c")
    listing = tree.walk(source)
    tree.save_listing(record, listing)
    assert tree.load_listing(record) == listing
    # the layout of an older buildorch: field names per entry, no format mark
    record.write_text(json.dumps({"src/main.c": {"kind": "file", "size": 1, "mtime_ns": 1}}))
    assert tree.load_listing(record) is None
    record.write_text("{not json")
    assert tree.load_listing(record) is None


@pytest.mark.parametrize(
    ("dockerfile", "reads"),
    [
        ("FROM x\nCOPY . .\n", None),
        ("FROM x\nCOPY src/ /app/src/\nCOPY Makefile ./\n", ("src", "Makefile")),
        ('FROM x\nCOPY ["go.mod", "go.sum", "./"]\nCOPY --from=y /a /b\n', ("go.mod", "go.sum")),
        ("FROM x\nADD https://example.org/a.tgz /\nCOPY --chown=1:1 cmd /c\n", ("cmd",)),
        # flags, then the JSON form
        ('FROM x\nCOPY --chown=1:1 ["src", "/app/"]\n', ("src",)),
        ("FROM x\nCOPY --chmod=644 <<EOF /etc/motd\nhi\nEOF\nCOPY cmd /c\n", ("cmd",)),
        ("FROM x\nRUN --mount=type=bind,target=/src make\n", None),
        (
            "FROM x\nRUN --mount=type=bind,source=go.mod,target=go.mod go mod download\n",
            ("go.mod",),
        ),
        ("FROM x\nARG D=src\nCOPY $D /src\n", None),
    ],
)
def test_context_reads(dockerfile: str, reads: tuple[str, ...] | None) -> None:
    assert analyse_dockerfile(dockerfile, "Dockerfile", None).context_reads == reads


def test_read_scope_matches_named_paths_and_the_way_to_them() -> None:
    scope = ReadScope(("src/*.c", "Makefile"))
    assert scope.reads("src/main.c")
    assert not scope.reads("src/main.h")
    assert scope.reads("Makefile")
    assert scope.may_hold("src")
    assert not scope.may_hold("docs")


def test_survey_reports_heavy_folders_unless_ignored(tmp_path: Path) -> None:
    make_project(tmp_path)
    objects = tmp_path / ".git" / "objects"
    objects.mkdir(parents=True)
    for n in range(60):
        (objects / f"{n:02x}").write_bytes(b"x" * 100)
    survey = survey_context(tmp_path, tmp_path / "Dockerfile", None)
    assert [(h.path, h.files, h.ignore_line) for h in survey.heavy] == [(".git", 60, ".git")]
    assert survey.files == 66
    (tmp_path / ".dockerignore").write_text(".git\n")
    survey = survey_context(tmp_path, tmp_path / "Dockerfile", None)
    assert survey.heavy == ()
    assert ".git/objects/00" not in survey.listing
    only_src = survey_context(tmp_path, tmp_path / "Dockerfile", ("src",))
    assert {rel for rel, e in only_src.listing.items() if e.kind == "file"} == {
        ".dockerignore",
        "src/main.c",
        "src/run.sh",
        "src/lib/util.c",
    }


def test_a_link_out_of_the_project_is_copied_as_a_link_and_never_followed(
    tmp_path: Path,
) -> None:
    source, mirror = tmp_path / "src", tmp_path / "mirror"
    source.mkdir()
    make_project(source)
    (source / "etc-link").symlink_to("/etc")
    (source / "passwd-link").symlink_to("/etc/passwd")
    os.mkfifo(source / "a-fifo")  # a special file: not sent by docker build either
    listing = tree.walk(source)
    assert "a-fifo" not in listing
    report = tree.sync(source, listing, mirror)
    assert report.copied > 0
    for name in ("etc-link", "passwd-link"):
        copied = mirror / name
        assert copied.is_symlink() and copied.readlink() == (source / name).readlink()
    # nothing of /etc came along: the mirror holds the project's own entries only
    assert not any(p.name == "hostname" for p in mirror.rglob("*") if not p.is_symlink())
    assert not (mirror / "a-fifo").exists()


def test_the_walk_reports_the_special_files_it_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, mirror = tmp_path / "src", tmp_path / "mirror"
    source.mkdir()
    make_project(source)
    os.mkfifo(source / "a-fifo")
    monkeypatch.chdir(source)  # a socket's path must be short: bind it relative
    with socket.socket(socket.AF_UNIX) as agent:
        agent.bind("agent.sock")
        walked = tree.walk_tree(source)
        tree.sync(source, walked.entries, mirror)
    assert walked.special == (
        tree.SpecialFile("a-fifo", "fifo"),
        tree.SpecialFile("agent.sock", "socket"),
    )
    assert "a-fifo" not in walked.entries and "agent.sock" not in walked.entries
    assert not (mirror / "a-fifo").exists() and not (mirror / "agent.sock").exists()
    # what .dockerignore leaves out is not the build's, so not reported either
    (source / ".dockerignore").write_text("agent.sock\na-fifo\n")
    with socket.socket(socket.AF_UNIX) as agent:
        (source / "agent.sock").unlink()
        agent.bind("agent.sock")
        assert survey_context(source, None, None).special == ()
