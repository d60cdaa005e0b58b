"""A remote builder with a native node: the containerd engine, on its own socket, stands in for
an arm64 machine reached through a docker context. It runs on the same amd64 kernel, so its
arm64 builds are emulated underneath; buildorch.yaml's `builders:` says it is the arm64 node,
as a user says it of a machine buildx cannot inspect."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import CONTAINERD_HOST, Engine
from tests.integration.helpers import buildorch, elf_machine, toolchain_args, unmovable_dockerfile

CONTEXT = "buildorch-test-arm64-node"


@pytest.fixture
def remote_env(classic: Engine, containerd: Engine, tmp_path: Path) -> dict[str, str]:
    """The classic engine as this machine's, plus a docker context on the containerd engine,
    in a docker config of the test's own (the user's contexts are left alone)."""
    config = tmp_path / "docker-config"
    config.mkdir()
    env = classic.env(DOCKER_CONFIG=str(config))
    subprocess.run(
        ["docker", "context", "create", CONTEXT, "--docker", f"host={CONTAINERD_HOST}"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return env


def _build_records(env: dict[str, str]) -> int:
    listed = subprocess.run(
        ["docker", "--context", CONTEXT, "buildx", "du", "--builder", CONTEXT, "--verbose"],
        env={k: v for k, v in env.items() if k != "DOCKER_HOST"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return listed.stdout.count("\nID:") + listed.stdout.startswith("ID:")


def test_doctor_lists_the_context_and_what_it_builds_natively(remote_env: dict[str, str]) -> None:
    run = buildorch("doctor", "--json", env=remote_env)
    assert run.code == 0, run.err
    builders = {b["name"]: b for b in run.json()["builders"]}
    assert builders[CONTEXT]["driver"] == "docker"
    assert builders[CONTEXT]["native"] == ["linux/amd64"]  # what the engine's kernel runs
    assert "linux/arm64" in builders[CONTEXT]["platforms"]  # emulated there
    contexts = {c["name"]: c for c in run.json()["contexts"]}
    assert contexts[CONTEXT]["endpoint"] == CONTAINERD_HOST
    wide = buildorch("doctor", env={**remote_env, "COLUMNS": "200"})
    assert f"{CONTEXT} at {CONTAINERD_HOST}" in wide.out
    narrow = buildorch("doctor", env={**remote_env, "COLUMNS": "80"})
    assert "…" not in narrow.out  # a long endpoint folds onto the next line, never cut short


def test_a_native_remote_node_is_preferred_to_qemu(
    remote_env: dict[str, str], registry: str, project: Path, tmp_path: Path
) -> None:
    (project / "buildorch.yaml").write_text(f"builders: {{{CONTEXT}: [linux/arm64]}}\n")
    out = tmp_path / "out"
    # a compile stage that cannot move to the build machine: the choice is remote or QEMU
    dockerfile = unmovable_dockerfile(project)
    args = ["-C", str(project), "-f", dockerfile, "--target", "arm64", *toolchain_args()]
    planned = buildorch("plan", *args, "--json", env=remote_env)
    assert planned.code == 0, planned.err
    step = planned.json()["steps"][0]
    assert (step["strategy"], step["builder"]) == ("remote", CONTEXT)
    assert "builds linux/arm64 natively" in step["reasons"][1]
    rejected = {r["strategy"]: r["why"] for r in step["rejected"]}
    assert rejected["qemu"].startswith("works, but costs about 13.5x native")
    assert planned.json()["builds"][0]["builder"] == CONTEXT

    before = _build_records(remote_env)
    built = buildorch("build", *args, "-o", str(out), "--json", env=remote_env)
    assert built.code == 0, built.err
    assert elf_machine(out / "hello") == "aarch64"
    assert _build_records(remote_env) > before  # the build ran on the remote node's engine

    # without the declaration the context is an amd64 machine: QEMU here is the way again
    (project / "buildorch.yaml").unlink()
    again = buildorch("plan", *args, "--json", env=remote_env)
    assert json.loads(again.out)["steps"][0]["strategy"] == "qemu"
