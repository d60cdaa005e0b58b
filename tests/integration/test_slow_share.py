"""A slow share for real: the example project behind tests/slowfs (a FUSE passthrough that waits
100 us per operation), built through a mirror and run in a volume, with the sources untouched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import TOOLCHAIN, Engine
from tests.integration.helpers import (
    buildorch,
    elf_machine,
    fingerprint,
    mount_slow,
    toolchain_args,
    unmount,
)

# enough files that reading them through the share costs more than the profile's threshold
EXTRA_FILES = 1500


def read_everything(project: Path) -> None:
    """`Dockerfile.all`: the example's Dockerfile reading the whole context (`COPY . .`);
    the example's own names its four files."""
    dockerfile = (project / "Dockerfile").read_text()
    copy = "COPY Makefile main.c primes.c primes.h ./"
    assert copy in dockerfile
    (project / "Dockerfile.all").write_text(dockerfile.replace(copy, "COPY . ."))


@pytest.fixture
def share(slowfs: Path, project: Path, tmp_path: Path) -> Iterator[Path]:
    """The example project, with a tree of extra files, seen through the slow share."""
    read_everything(project)
    docs = project / "docs"
    for n in range(EXTRA_FILES):
        folder = docs / f"part{n // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note{n:04d}.txt").write_text(f"note {n}\n")
    mount = tmp_path / "share"
    served = mount_slow(slowfs, project, mount)
    try:
        yield mount
    finally:
        unmount(mount, served)


def test_slowfs_is_slow_by_measurement(classic: Engine, share: Path) -> None:
    run = buildorch("doctor", "-C", str(share), "--json", env=classic.env())
    assert run.code == 0, run.err
    source = run.json()["source"]
    assert source["fs_type"] == "fuse"  # a type no list of share names holds
    assert source["slow"] is True
    assert source["stat_us"] >= 100


def test_build_through_a_mirror_leaves_the_sources_alone(
    classic: Engine, share: Path, project: Path, tmp_path: Path, qemu_aarch64: Path
) -> None:
    before = fingerprint(project)
    # the example's Dockerfile reads four files: too few to be worth a mirror
    named = buildorch("plan", "-C", str(share), "--target", "arm64", "--json", env=classic.env())
    assert named.code == 0, named.err
    assert named.json()["steps"][0]["sources"] == "direct"
    assert "threshold for a mirror" in named.json()["steps"][0]["reasons"][2]

    plan = buildorch(
        "plan", "-C", str(share), "-f", "Dockerfile.all", "--target", "arm64", "--json",
        env=classic.env(),
    )  # fmt: skip
    assert plan.code == 0, plan.err
    assert plan.json()["steps"][0]["sources"] == "mirror"
    assert "slow share" in plan.json()["mirror"]["why"]

    out = tmp_path / "out"
    args = ["build", "-C", str(share), "-f", "Dockerfile.all", "--target", "arm64", "-o", str(out),
            "--json"]  # fmt: skip
    first = buildorch(*args, *toolchain_args(), env=classic.env())
    assert first.code == 0, first.err
    mirror = first.json()["report"]["mirror"]
    assert mirror["copied"] == EXTRA_FILES + 8  # the example's own files and .dockerignore
    assert elf_machine(out / "hello") == "aarch64"
    ran = subprocess.run(
        [str(qemu_aarch64), str(out / "hello")], capture_output=True, text=True, check=True
    )
    assert "aarch64" in ran.stdout

    assert fingerprint(project) == before
    # one edit, one deletion: the second sync copies one file and removes one
    with (share / "main.c").open("a") as edited:
        edited.write("/* edited */\n")
    (share / "docs" / "part00" / "note0000.txt").unlink()
    before = fingerprint(project)
    second = buildorch(*args, *toolchain_args(), env=classic.env())
    assert second.code == 0, second.err
    mirror = second.json()["report"]["mirror"]
    assert (mirror["copied"], mirror["removed"]) == (1, 1)
    assert fingerprint(project) == before


@pytest.fixture
def cleaned(classic: Engine, share: Path) -> Iterator[None]:
    """`buildorch clean` after the test: the volumes `run` makes outlive its temporary folders."""
    yield
    buildorch("clean", "-C", str(share), env=classic.env())


@pytest.mark.usefixtures("cleaned")
def test_run_works_in_a_volume_and_brings_results_back(
    classic: Engine, share: Path, project: Path, tmp_path: Path
) -> None:
    before = fingerprint(project)
    out = tmp_path / "results"
    args = ["run", "-C", str(share), "--image", TOOLCHAIN, "--collect", "hello", "-o", str(out)]
    first = buildorch(*args, "--json", "--", "make", env=classic.env())
    assert first.code == 0, first.err
    report = first.json()["report"]
    assert report["copied"] >= EXTRA_FILES
    assert elf_machine(out / "hello") == "x86_64"
    # the objects make wrote stay in the volume: the next make only relinks what changed
    with (share / "main.c").open("a") as edited:
        edited.write("/* edited */\n")
    again = buildorch(*args, "--", "make", env=classic.env())
    assert again.code == 0, again.err
    assert "main.c" in again.out and "primes.c" not in again.out, again.out + again.err
    assert fingerprint(project) != before  # the edit above, and nothing else:
    assert not (project / "hello").exists() and not list(project.glob("*.o"))

    # the volume's record lost: it starts over empty, so a file deleted meanwhile is not left
    for record in (Path(classic.cache) / "buildorch" / "projects").glob("*/volumes/*.json"):
        record.unlink()
    (share / "docs" / "part00" / "note0001.txt").unlink()
    check = "test ! -e docs/part00/note0001.txt && test -e docs/part00/note0002.txt"
    plain = ["run", "-C", str(share), "--image", TOOLCHAIN]
    refilled = buildorch(*plain, "--", "sh", "-c", check, env=classic.env())
    assert refilled.code == 0, refilled.out + refilled.err
    assert "emptying it" in refilled.out + refilled.err
    # so make's objects went too, and nothing built `hello`: a clear error, not a traceback
    missing = buildorch(*args, "--", "true", env=classic.env())
    assert missing.code == 7 and "left nothing at /src/hello" in missing.err, missing.err
    assert not out.exists() or (out / "hello").exists()  # the earlier result stays whole

    failing = buildorch(*args, "--", "sh", "-c", "exit 3", env=classic.env())
    assert failing.code == 7
    assert "exited with 3" in failing.err


@pytest.mark.usefixtures("cleaned")
def test_run_reports_the_special_files_it_leaves_out(
    classic: Engine, share: Path, project: Path, tmp_path: Path
) -> None:
    where = tmp_path / "with-a-fifo"
    shutil.copytree(project, where, ignore=shutil.ignore_patterns("docs"))
    os.mkfifo(where / "events.pipe")
    ran = buildorch("run", "-C", str(where), "--image", TOOLCHAIN, "--json", "--", "true",
                    env=classic.env())  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.json()["report"]["skipped"] == {
        "count": 1,
        "first": [{"path": "events.pipe", "kind": "fifo"}],
    }
    said = buildorch("run", "-C", str(where), "--image", TOOLCHAIN, "--", "true", env=classic.env())
    assert "1 special file(s) in the context are skipped: events.pipe (fifo)" in said.err
    buildorch("clean", "-C", str(where), env=classic.env())


def test_clean_removes_only_this_projects_mirror_and_volumes(
    classic: Engine, share: Path, project: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(project, other, ignore=shutil.ignore_patterns("docs"))
    for where in (share, other):
        ran = buildorch(
            "run", "-C", str(where), "--image", TOOLCHAIN, "--", "true", env=classic.env()
        )
        assert ran.code == 0, ran.err
    built = buildorch(
        "build",
        "-C",
        str(share),
        "-f",
        "Dockerfile.all",
        "--sources",
        "mirror",
        *toolchain_args(),
        env=classic.env(),
    )
    assert built.code == 0, built.err
    projects = Path(classic.cache) / "buildorch" / "projects"
    assert len(list(projects.iterdir())) >= 2

    cleaned = buildorch("clean", "-C", str(share), "--json", env=classic.env())
    assert cleaned.code == 0, cleaned.err
    [removed] = cleaned.json()
    assert removed["volumes"] and all("share" in v for v in removed["volumes"])
    volumes = subprocess.run(
        ["docker", "-H", classic.host, "volume", "ls", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not any(v in volumes for v in removed["volumes"])
    assert any(v.startswith("buildorch-other-") for v in volumes)
    assert buildorch("clean", "-C", str(other), env=classic.env()).code == 0


def test_two_builds_at_once_take_turns_on_the_mirror(
    classic: Engine, share: Path, tmp_path: Path
) -> None:
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "buildorch",
                "build",
                "-C",
                str(share),
                "--sources",
                "mirror",
                "--target",
                "amd64",
                "-o",
                str(tmp_path / f"out{n}"),
                *toolchain_args(),
            ],
            env=classic.env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert any("waiting for buildorch (pid" in output for output in outputs), outputs
    for n in range(2):
        assert elf_machine(tmp_path / f"out{n}" / "hello") == "x86_64"


def test_ctrl_c_during_the_sync_leaves_a_mirror_the_next_run_repairs(
    classic: Engine, slowfs: Path, project: Path, tmp_path: Path
) -> None:
    read_everything(project)
    big = project / "data"
    big.mkdir()
    for n in range(400):
        (big / f"blob{n:03d}.bin").write_bytes(os.urandom(64 * 1024))
    mount = tmp_path / "slow"
    served = mount_slow(slowfs, project, mount, delay_us=2000)  # slow enough to interrupt the copy
    try:
        args = ["build", "-C", str(mount), "-f", "Dockerfile.all", "--sources", "mirror",
                "--target", "amd64"]  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "buildorch", *args, *toolchain_args()],
            env=classic.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            if "bringing the mirror in step" in line:
                break
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, rest
        assert "Traceback" not in rest
        again = buildorch(*args, "--json", *toolchain_args(), env=classic.env())
        assert again.code == 0, again.err
        mirror = Path(again.json()["plan"]["mirror"]["path"])
        assert fingerprint(mirror) == fingerprint(project)
    finally:
        unmount(mount, served)
