"""`--iidfile` and `--metadata-file`: buildx writes them at the end of each build, so where the
plan splits the targets into several builds each gets a file of its own, and the plan says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from buildorch.buildx_flags import per_build_file
from buildorch.cli import main

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / "tests" / "snapshots"
CLASSIC = SNAPSHOTS / "linux-amd64-qemu"  # the docker driver on the classic store: one per call
CONTAINERD = SNAPSHOTS / "macos-arm64-desktop-virtiofs-rosetta"  # all platforms in one call


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "hello-c"
    shutil.copytree(REPO / "examples" / "hello-c", dest, ignore=shutil.ignore_patterns("out"))
    return dest


def _plan(
    capsys: pytest.CaptureFixture[str], snapshot: Path, project: Path, *flags: str
) -> dict[str, Any]:
    capsys.readouterr()
    argv = ["plan", "--snapshot", str(snapshot), "-C", str(project), "--json", *flags]
    assert main(argv, {"PATH": ""}) == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_a_split_plan_writes_a_file_per_build(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    meta = str(Path("out") / "meta.json")
    data = _plan(capsys, CLASSIC, project, "--target", "amd64,arm64",
                 "--metadata-file", meta, "--iidfile", "image.iid")  # fmt: skip
    builds = {tuple(b["platforms"]): b["buildx"] for b in data["builds"]}
    assert builds == {
        ("linux/amd64",): ["--iidfile image.linux-amd64.iid",
                           f"--metadata-file {Path('out') / 'meta.linux-amd64.json'}"],
        ("linux/arm64",): ["--iidfile image.linux-arm64.iid",
                           f"--metadata-file {Path('out') / 'meta.linux-arm64.json'}"],
    }  # fmt: skip
    notes = "\n".join(data["notes"])
    assert "--iidfile image.iid: one file per build, as image.linux-amd64.iid, " \
        "image.linux-arm64.iid" in notes  # fmt: skip


@pytest.mark.parametrize(
    ("snapshot", "targets"),
    [(CONTAINERD, "amd64,arm64"), (CLASSIC, "arm64")],  # one build: the file as named
)
def test_one_build_writes_the_file_as_named(
    capsys: pytest.CaptureFixture[str], project: Path, snapshot: Path, targets: str
) -> None:
    data = _plan(capsys, snapshot, project, "--target", targets, "--metadata-file", "m.json")
    assert [b["buildx"] for b in data["builds"]] == [["--metadata-file m.json"]]
    assert not any("one file per build" in note for note in data["notes"])


def test_buildorch_yaml_names_them_too(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "buildorch.yaml").write_text("buildx: {iidfile: iid}\n", encoding="utf-8")
    data = _plan(capsys, CLASSIC, project, "--target", "amd64,arm64")
    # a path in buildorch.yaml is the project's, wherever buildorch is started from
    assert [b["buildx"] for b in data["builds"]] == [
        [f"--iidfile {project}/iid.linux-amd64"],
        [f"--iidfile {project}/iid.linux-arm64"],
    ]


def test_command_line_options_add_to_buildorch_yamls(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    (project / "buildorch.yaml").write_text(
        "buildx: {secret: ['id=npmrc,src=secrets/npmrc'], network: host}\n", encoding="utf-8"
    )
    data = _plan(capsys, CLASSIC, project, "--target", "amd64", "--no-cache", "--network", "none")
    (build,) = data["builds"]
    # the secret stays (a repeatable option adds up), --network is replaced (a single one)
    assert sorted(build["buildx"]) == ["--network none", "--no-cache", "--secret id=npmrc,..."]


def test_each_takes_one_file(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    argv = [
        "plan",
        "--snapshot",
        str(CLASSIC),
        "-C",
        str(project),
        "--iidfile",
        "a",
        "--iidfile",
        "b",
    ]
    with pytest.raises(SystemExit):
        main(argv, {"PATH": ""})
    assert "--iidfile takes one value" in capsys.readouterr().err


def test_a_file_per_build_keeps_its_folder_and_extension() -> None:
    folder = Path("out") / "meta"
    assert per_build_file(str(folder / "build.json"), "linux-arm64") == str(
        folder / "build.linux-arm64.json"
    )
    assert per_build_file("iid", "linux-arm-v7") == "iid.linux-arm-v7"
    assert per_build_file(".iid", "linux-amd64") == ".iid.linux-amd64"
