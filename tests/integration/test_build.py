"""Real builds of the example project on real engines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Engine
from tests.integration.helpers import buildorch, elf_machine, toolchain_args, unmovable_dockerfile


def _strategies(report: dict[str, object]) -> dict[str, str]:
    plan = report["plan"]
    assert isinstance(plan, dict)
    return {step["platform"]: step["strategy"] for step in plan["steps"]}


def test_native_amd64_build_writes_a_runnable_binary(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = buildorch(
        "build", "-C", str(project), "--target", "amd64", "--output", str(out),
        "--json", *toolchain_args(), env=classic.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    assert _strategies(run.json()) == {"linux/amd64": "native"}
    assert elf_machine(out / "hello") == "x86_64"
    answer = subprocess.run([out / "hello", "1000"], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "hello-c on x86_64: 168 primes below 1000"
    # nothing of buildorch's own is left beside the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello-c", "out"]


def test_arm64_cross_compiles_and_runs_under_qemu(
    engine: Engine, registry: str, qemu_aarch64: Path, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = buildorch(
        "build", "-C", str(project), "--target", "arm64", "-o", str(out), "--json",
        *toolchain_args(), env=engine.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    assert _strategies(run.json()) == {"linux/arm64": "cross"}
    assert elf_machine(out / "hello") == "aarch64"
    answer = subprocess.run(
        [qemu_aarch64, out / "hello"], capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == "hello-c on aarch64: 9592 primes below 100000"


def test_arm64_through_qemu_when_the_dockerfile_cannot_cross(
    classic: Engine, registry: str, qemu_aarch64: Path, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = buildorch(
        "build", "-C", str(project), "-f", unmovable_dockerfile(project),
        "--target", "linux/arm64", "-o", str(out), "--json", *toolchain_args(), env=classic.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    report = run.json()
    assert _strategies(report) == {"linux/arm64": "qemu"}
    step = report["plan"]["steps"][0]
    why_not_cross = {r["strategy"]: r["why"] for r in step["rejected"]}["cross"]
    assert why_not_cross.startswith("buildorch cannot move every compiling stage")
    assert "`build` stays because line" in why_not_cross and "asks which machine" in why_not_cross
    assert elf_machine(out / "hello") == "aarch64"


def test_a_builder_that_cannot_move_is_emulated_beside_the_one_that_moves(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    # one builder asks which machine it runs on and stays on the target; the compiler's
    # stage still moves to the build machine: the plan is cross, not all of it under QEMU
    plain = (project / "Dockerfile.plain").read_text()
    (project / "Dockerfile.two").write_text(
        plain.replace(
            "AS build\n", "AS probe\nRUN uname -m > /machine\nFROM ${TOOLCHAIN_IMAGE} AS build\n"
        )
        + "COPY --from=probe /machine /machine\n"
    )
    out = tmp_path / "out"
    run = buildorch(
        "build", "-C", str(project), "-f", "Dockerfile.two", "--target", "arm64",
        "--network", "host", "-o", str(out), "--json", *toolchain_args(), env=classic.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    report = run.json()
    assert _strategies(report) == {"linux/arm64": "cross"}
    why = report["plan"]["steps"][0]["reasons"][1]
    assert "moves `build` to linux/amd64" in why
    assert "`probe` stays on the target because line 6" in why and "asks which machine" in why
    stages = {s["name"]: s["moves"] for s in report["plan"]["cross"]["stages"]}
    assert stages == {"probe": False, "build": True, None: False}
    assert (out / "machine").read_text() == "aarch64\n", "the stage that stays ran emulated"
    assert elf_machine(out / "hello") == "aarch64"


def test_two_targets_write_one_folder_per_platform(
    engine: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = buildorch(
        "build", "-C", str(project), "--target", "linux/arm64,linux/amd64", "-o", str(out),
        "--json", *toolchain_args(), env=engine.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    report = run.json()
    builds = report["report"]["builds"]
    # the classic store builds one platform per call; containerd builds both in one
    assert len(builds) == (2 if engine.name == "classic" else 1)
    assert elf_machine(out / "linux_arm64" / "hello") == "aarch64"
    assert elf_machine(out / "linux_amd64" / "hello") == "x86_64"


def test_two_targets_pushed_make_one_manifest_list(
    engine: Engine, registry: str, project: Path, image_name: str
) -> None:
    tag = f"{image_name}:{engine.name}"
    run = buildorch(
        "build", "-C", str(project), "--target", "arm64", "--target", "amd64", "--push",
        "--tag", tag, "--json", *toolchain_args(), env=engine.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    inspect = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", "--raw", tag],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env(),
    )
    manifest = json.loads(inspect.stdout)
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in manifest["manifests"]
        if m.get("platform", {}).get("os") != "unknown"  # attestation manifests
    }
    assert platforms == {"linux/arm64", "linux/amd64"}


@pytest.mark.parametrize("engine_name", ["classic", "containerd"])
def test_load_arm64_image_runs_under_qemu(
    engine_name: str,
    request: pytest.FixtureRequest,
    registry: str,
    qemu_aarch64: Path,
    project: Path,
    image_name: str,
) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    tag = f"{image_name.rsplit('/', 1)[-1]}:load"
    run = buildorch(
        "build", "-C", str(project), "--target", "arm64", "--load", "--tag", tag,
        *toolchain_args(), env=engine.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    try:
        answer = subprocess.run(
            ["docker", "run", "--rm", "--platform", "linux/arm64", tag, "100"],
            capture_output=True,
            text=True,
            check=True,
            env=engine.env(),
        )
        assert answer.stdout.strip() == "hello-c on aarch64: 25 primes below 100"
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], env=engine.env(), check=False)
