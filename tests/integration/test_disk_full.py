"""The output folder's disk fills up while the result is written: the build fails with its
reason, the previous output is intact, and nothing buildorch made is left behind (a 1 MB
tmpfs stands in for the full disk)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Engine
from tests.integration.helpers import buildorch

DOCKERFILE = """\
FROM localhost:5000/buildorch/busybox:1 AS build
RUN mkdir -p /out/files && dd if=/dev/urandom of=/out/files/big bs=1024 count=3072
FROM scratch
COPY --from=build /out/files/ /
"""


@contextlib.contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A 1 MB tmpfs at `mount` for the block (`ro`: read-only)."""
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=1m{options}", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A build whose result (3 MB) does not fit the small disk."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "Dockerfile").write_text(DOCKERFILE)
    return project


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", "") as mount:
        yield mount


def test_a_full_disk_keeps_the_previous_output_and_leaves_nothing(
    small_disk: Path, classic: Engine, registry: str, project: Path
) -> None:
    out = small_disk / "out"
    out.mkdir()
    (out / "previous.txt").write_text("the last good build\n")
    built = buildorch(
        "build", "-C", str(project), "--target", "amd64", "-o", str(out), env=classic.env()
    )
    assert built.code == 7, built.err
    said = " ".join(built.err.split())
    assert "could not write its result: the disk is full" in said
    assert "KB free on the disk of" in said
    assert "Traceback" not in built.err
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]
    assert (out / "previous.txt").read_text() == "the last good build\n"
    # no staging folder (`.out.buildorch-*`) is left beside it
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "read-only", ",ro") as mount:
        yield mount


def test_an_output_folder_that_cannot_be_written_is_the_users_to_fix(
    read_only: Path, classic: Engine, registry: str, project: Path
) -> None:
    built = buildorch(
        "build", "-C", str(project), "--target", "amd64", "-o", str(read_only / "out"),
        env=classic.env(),
    )  # fmt: skip
    assert built.code == 3, built.err
    said = " ".join(built.err.split())
    assert "cannot write the result to" in said and "Read-only file system" in said
    assert "Traceback" not in built.err and "internal error" not in built.err
