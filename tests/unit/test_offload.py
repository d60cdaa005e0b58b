"""`buildorch offload`: without `gh` the exact steps; with it, dispatch, watch, download.

GitHub cannot be reached from the test machines, so a stand-in `gh` answers the calls the
way the real one does (`gh run list --json` output, `gh run watch --exit-status` codes,
`gh run download --dir` files) and records them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from buildorch import offload
from buildorch.cli import main
from buildorch.errors import OffloadUnavailable, ProjectError
from buildorch.generate.workflow import WORKFLOW_PATH

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello-c"

STAND_IN_GH = r'''#!PYTHON
"""A stand-in for the GitHub CLI: records each call, answers like gh does."""
import json, os, sys, time
args = sys.argv[1:]
with open(os.environ["GH_CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\n")
if args[:2] == ["auth", "status"]:
    sys.exit(0)
if args[:2] == ["workflow", "run"]:
    sys.exit(0)
if args[:2] == ["run", "list"]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps([{"databaseId": 4242, "createdAt": now,
                       "url": "https://github.com/acme/hello/actions/runs/4242"}]))
    sys.exit(0)
if args[:2] == ["run", "watch"]:
    print("build linux/arm64 (native) in progress")
    print("build linux/arm64 (native) completed")
    sys.exit(int(os.environ.get("GH_RUN_FAILS", "0")))
if args[:2] == ["run", "download"]:
    name = args[args.index("--name") + 1]
    folder = args[args.index("--dir") + 1]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "hello"), "w") as out:
        out.write(name)
    sys.exit(0)
sys.exit(f"unexpected gh call: {args}")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "hello-c"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("out", "*.o", "hello"))
    (project / "buildorch.yaml").write_text("output: {dir: out}\n", encoding="utf-8")
    return project


def test_without_gh_it_prints_the_steps_and_says_so(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"PATH": str(tmp_path / "empty")}
    code = main(["offload", "-C", str(project), "--target", "arm64", "--ref", "main"], env=env)
    assert code == OffloadUnavailable.exit_code == 9
    captured = capsys.readouterr()
    assert "gh` is not installed" in captured.err
    assert "gh workflow run buildorch.yml --ref main" in captured.out
    assert "gh run watch RUN_ID --exit-status" in captured.out
    out = project / "out" / "linux-arm64"
    assert f"gh run download RUN_ID --name hello-c-linux-arm64 --dir {out}" in captured.out
    assert "linux-amd64" not in captured.out  # only the platform asked for


def test_an_image_only_project_is_told_offload_brings_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "buildorch.yaml").write_text("tags: [ghcr.io/acme/hello:1]\n", encoding="utf-8")
    assert main(["offload", "-C", str(project), "--ref", "main"], env={"PATH": ""}) == 3
    assert "only pushes images" in capsys.readouterr().err


@pytest.mark.subprocesses
@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in gh is a script with a #! "
                    "line; Windows starts a program called by name only as an .exe")  # fmt: skip
@pytest.mark.parametrize("fails", [False, True])
def test_with_gh_it_dispatches_waits_and_downloads(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fails: bool
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(STAND_IN_GH.replace("PYTHON", sys.executable), encoding="utf-8")
    gh.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GH_CALLS": str(calls),
        "GH_RUN_FAILS": "1" if fails else "0",
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True)
    assert main(["ci", "github", "-C", str(project)], env=env) == 0
    capsys.readouterr()

    code = main(["offload", "-C", str(project), "--target", "arm64", "--json"], env=env)
    captured = capsys.readouterr()
    made = [json.loads(line)[:2] for line in calls.read_text().splitlines()]
    assert made[:4] == [["auth", "status"], ["workflow", "run"], ["run", "list"], ["run", "watch"]]
    out = project / "out" / "linux-arm64"
    if fails:
        assert code == 7
        assert "gh run view 4242 --log-failed" in captured.err
        assert not out.exists() and ["run", "download"] not in made
        return
    assert code == 0, captured.err
    assert (out / "hello").read_text() == "hello-c-linux-arm64"
    answer = json.loads(captured.out)
    assert answer["run_id"] == 4242
    assert answer["downloaded"] == [{"platform": "linux/arm64", "dir": str(out)}]
    assert "origin/main is not known here" in captured.err  # nothing pushed: said, not hidden
    assert "completed" in captured.err  # the run's progress is shown while waiting
    leftovers = [p.name for p in (project / "out").iterdir() if p.name != "linux-arm64"]
    assert leftovers == []  # downloaded beside, then renamed into place


def test_gh_gone_after_the_check_is_offload_unavailable(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / WORKFLOW_PATH).parent.mkdir(parents=True)
    (project / WORKFLOW_PATH).write_text("on: workflow_dispatch\n", encoding="utf-8")

    def no_gh(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "gh")

    monkeypatch.setattr(subprocess, "run", no_gh)
    request = offload.OffloadRequest(repo_root=project, ref="main", artifacts=())
    with pytest.raises(OffloadUnavailable) as caught:
        offload.offload(request, {}, print)
    assert caught.value.exit_code == 9
    assert caught.value.what == "the GitHub CLI `gh` could not be started"
    assert "gh auth login" in caught.value.fix


def test_no_git_is_a_project_error_saying_so(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "git")

    monkeypatch.setattr(subprocess, "run", no_git)
    with pytest.raises(ProjectError) as caught:
        offload.current_branch(project, {})
    assert "git could not be started" in caught.value.why
