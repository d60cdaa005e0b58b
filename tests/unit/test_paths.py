"""Paths of the hosts buildorch's users have, wherever the tests run: Windows drives, WSL's
files seen from Windows (`\\\\wsl$`, `\\\\wsl.localhost`), network shares, and Windows' drives
seen from WSL (`/mnt/c`), through detection, snapshots, the planner's choice of sources and
the workflow's paths."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from buildorch.config import Options
from buildorch.detect.host import detect_host
from buildorch.detect.snapshot import load_snapshot
from buildorch.detect.view import snapshot_relpath
from buildorch.errors import PlanError
from buildorch.facts import DockerfileFacts, HostFacts, ProjectFacts
from buildorch.plan import Sources
from buildorch.planner import plan_build, plan_ci
from buildorch.platforms import parse_targets
from buildorch.profiles import Cost, Costs

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
COSTS = Costs(
    **{name: Cost(factor, "a figure") for name, factor in
       {"cross": 1.05, "qemu": 13.5, "rosetta": 1.6, "remote": 1.15}.items()},
    mirror_min_seconds=1.0,
)  # fmt: skip


def _host(tmp_path: Path, project_dir: str, *, system: str = "Windows", mounts: str = "") -> Path:
    """A recorded host whose engine is Docker Desktop's (WSL2 backend), the project at
    `project_dir`, and no stat measured: the path and the mount table decide."""
    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOTS / "wsl2-ext4-desktop" / "docker", snap / "docker")
    machine = "AMD64" if system == "Windows" else "x86_64"
    host = {"system": system, "machine": machine, "env": {}, "project_dir": project_dir}
    (snap / "host.json").write_text(json.dumps(host), encoding="utf-8")
    if mounts:
        (snap / "files" / "proc").mkdir(parents=True)
        (snap / "files" / "proc" / "mounts").write_text(mounts, encoding="utf-8")
    return snap


def _facts(tmp_path: Path, project_dir: str, **kwargs: str) -> HostFacts:
    return detect_host(load_snapshot(_host(tmp_path, project_dir, **kwargs)))


@pytest.mark.parametrize(
    ("project_dir", "fs", "point", "slow"),
    [
        ("C:\\Users\\dev\\app", "ntfs", "C:\\", False),
        ("c:/Users/dev/app", "ntfs", "C:\\", False),
        ("D:\\My Projects\\app", "ntfs", "D:\\", False),
        ("\\\\?\\C:\\Users\\dev\\a very long path\\app", "ntfs", "C:\\", False),
        # WSL's own files, which Windows reads through WSL's 9P server
        ("\\\\wsl$\\Ubuntu\\home\\dev\\app", "9p", "\\\\wsl$\\Ubuntu", True),
        ("\\\\wsl.localhost\\Ubuntu-22.04\\home\\dev\\app", "9p",
         "\\\\wsl.localhost\\Ubuntu-22.04", True),
        ("\\\\WSL.LOCALHOST\\Debian\\src", "9p", "\\\\WSL.LOCALHOST\\Debian", True),
        ("\\\\?\\UNC\\wsl.localhost\\Ubuntu\\home\\dev\\app", "9p",
         "\\\\wsl.localhost\\Ubuntu", True),
        # a network share (a mapped drive resolves to its UNC path)
        ("\\\\fileserver\\builds\\app", "smb", "\\\\fileserver\\builds", True),
        ("\\\\?\\UNC\\fileserver\\builds\\app", "smb", "\\\\fileserver\\builds", True),
    ],
)  # fmt: skip
def test_a_windows_path_says_where_the_files_are(
    tmp_path: Path, project_dir: str, fs: str, point: str, slow: bool
) -> None:
    facts = _facts(tmp_path, project_dir)
    assert facts.os == "windows"
    assert (facts.source.fs, facts.source.mount_point, facts.source.slow) == (fs, point, slow)
    assert facts.source.path == project_dir
    assert project_dir in facts.reason("source")
    if fs == "9p":
        assert "WSL distribution" in facts.reason("source")


WSL_MOUNTS = (
    "/dev/sdc / ext4 rw,relatime 0 0\n"
    "C:\\134 /mnt/c 9p rw,noatime,aname=drvfs;path=C:\\134 0 0\n"
    "D:\\134 /mnt/d\\040drive 9p rw,noatime,aname=drvfs;path=D:\\134 0 0\n"
    "/dev/sr0 /mnt/cdrom iso9660 ro 0 0\n"
)


@pytest.mark.parametrize(
    ("project_dir", "fs", "point"),
    [
        ("/mnt/c/Users/dev/My Project", "9p", "/mnt/c"),
        ("/mnt/c", "9p", "/mnt/c"),
        ("/mnt/d drive/src/app", "9p", "/mnt/d drive"),  # a mount point with a space, escaped
        ("/mnt/cdrom/app", "iso9660", "/mnt/cdrom"),  # not under /mnt/c
        ("/home/dev/src/app", "ext4", "/"),
        ("/home/dev/src/app/", "ext4", "/"),
    ],
)
def test_windows_drives_seen_from_wsl_are_9p_shares(
    tmp_path: Path, project_dir: str, fs: str, point: str
) -> None:
    facts = _facts(tmp_path, project_dir, system="Linux", mounts=WSL_MOUNTS)
    assert (facts.source.fs, facts.source.mount_point) == (fs, point)
    assert facts.source.slow == (fs == "9p")


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        ("C:\\Users\\dev\\.docker\\config.json", "C/Users/dev/.docker/config.json"),
        ("c:/Users/dev", "c/Users/dev"),
        ("\\\\wsl$\\Ubuntu\\home\\dev", "wsl$/Ubuntu/home/dev"),
        ("\\\\wsl.localhost\\Ubuntu\\home\\dev", "wsl.localhost/Ubuntu/home/dev"),
        ("/mnt/c/Users/dev", "mnt/c/Users/dev"),
    ],
)
def test_a_host_path_has_a_place_in_a_snapshot_on_any_system(path: str, relative: str) -> None:
    assert snapshot_relpath(path) == relative
    # a colon is not allowed in a Windows file name: none is left
    assert ":" not in relative
    with pytest.raises(ValueError, match="climbs out"):
        snapshot_relpath(path + "\\..\\..\\..\\etc")


def test_a_windows_hosts_files_replay_from_its_snapshot(tmp_path: Path) -> None:
    snap = _host(tmp_path, "C:\\Users\\dev\\app")
    settings = snap / "files" / "C" / "Users" / "dev" / ".docker" / "config.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"currentContext": "desktop-linux"}', encoding="utf-8")
    view = load_snapshot(snap)
    assert view.read_text("C:\\Users\\dev\\.docker\\config.json") == settings.read_text()
    assert view.list_dir("C:\\Users\\dev\\.docker") == ("config.json",)
    assert view.read_text("C:\\Users\\dev\\..\\..\\x") is None  # never outside files/


def _project(root: str, dockerfile: str, *, files: int = 0) -> ProjectFacts:
    """A project at `root` whose Dockerfile cross-compiles."""
    facts = DockerfileFacts(
        path=dockerfile, stages=(), target_stage=0, cross_capable=True, emulated_run_steps=0
    )
    return ProjectFacts(dir=root, context=root, dockerfile=facts, context_files=files)


def _options(**changes: object) -> Options:
    base = Options(project_dir=Path("app"), targets=parse_targets(["amd64"]))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("root", "files", "sources"),
    [
        ("C:\\Users\\dev\\app", 20_000, Sources.DIRECT),  # a local drive: read where it is
        ("\\\\wsl$\\Ubuntu\\home\\dev\\app", 20_000, Sources.MIRROR),  # across the 9P server
        ("\\\\wsl$\\Ubuntu\\home\\dev\\app", 30, Sources.DIRECT),  # too few files to matter
        ("\\\\fileserver\\builds\\app", 20_000, Sources.MIRROR),
    ],
)
def test_the_planner_reads_sources_where_reading_them_is_cheap(
    tmp_path: Path, root: str, files: int, sources: Sources
) -> None:
    host = _facts(tmp_path, root)
    mirror = "C:\\Users\\dev\\AppData\\Local\\buildorch\\mirror"
    project = _project(root, f"{root}\\Dockerfile", files=files)
    plan = plan_build(host, project, _options(), COSTS, mirror)
    assert {step.sources for step in plan.steps} == {sources}
    assert (plan.mirror is not None) == (sources is Sources.MIRROR)
    if plan.mirror is not None:
        assert plan.mirror.source == root and plan.invocations[0].context == mirror
        assert "9p" in plan.steps[0].reasons[-1] or "smb" in plan.steps[0].reasons[-1]
    else:
        assert plan.invocations[0].context == root


@pytest.mark.parametrize(
    ("repo", "project", "name", "context", "dockerfile"),
    [
        ("C:\\src", "C:\\src\\app", "app", "app", "app/docker/Dockerfile"),
        ("C:\\src\\app", "C:\\src\\app", "app", ".", "docker/Dockerfile"),
        ("c:\\SRC", "C:\\src\\App", "App", "App", "App/docker/Dockerfile"),  # case-blind
        ("\\\\wsl$\\Ubuntu\\home\\dev", "\\\\wsl$\\Ubuntu\\home\\dev\\app", "app", "app",
         "app/docker/Dockerfile"),
        ("/home/dev/src", "/home/dev/src/app", "app", "app", "app/docker/Dockerfile"),
    ],
)  # fmt: skip
def test_the_workflow_names_windows_paths_as_github_does(
    repo: str, project: str, name: str, context: str, dockerfile: str
) -> None:
    separator = "/" if project.startswith("/") else "\\"
    facts = _project(project, separator.join((project, "docker", "Dockerfile")))
    plan = plan_ci(facts, _options(), repo_root=repo)
    assert (plan.name, plan.context, plan.dockerfile) == (name, context, dockerfile)


@pytest.mark.parametrize(
    ("repo", "project"),
    [("D:\\src", "C:\\src\\app"), ("C:\\src\\app\\sub", "C:\\src\\app"), ("/src", "C:\\src")],
)
def test_a_project_outside_the_repository_is_refused(repo: str, project: str) -> None:
    facts = _project(project, f"{project}\\Dockerfile")
    with pytest.raises(PlanError, match="outside the repository"):
        plan_ci(facts, _options(), repo_root=repo)


def test_the_walk_windows_uses_lists_what_the_descriptor_walk_lists(tmp_path: Path) -> None:
    from buildorch import tree

    for relative in ("Makefile", "src/main.c", "src/lib/util.c", "docs/a b.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(relative, encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "build" / "out").mkdir(parents=True)
    (tmp_path / "build" / "out" / "big").write_text("x" * 1000, encoding="utf-8")

    def keep(relative: str, is_dir: bool) -> bool:
        return relative != "build"  # a folder left out leaves out what it holds

    listing = tree._walk_by_path(tmp_path, keep)
    assert set(listing) == {"Makefile", "src", "src/main.c", "src/lib", "src/lib/util.c",
                            "docs", "docs/a b.txt", "empty"}  # fmt: skip
    assert listing["src/lib/util.c"].size == len("src/lib/util.c")
    assert listing["src"].kind == "dir" and listing["Makefile"].kind == "file"
    assert listing == tree.walk(tmp_path, keep)
