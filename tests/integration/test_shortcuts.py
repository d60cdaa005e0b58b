"""The commands `buildorch shortcuts` writes, run for real against the engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import Engine
from tests.integration.helpers import buildorch, elf_machine, toolchain_args


def test_the_script_and_the_make_target_build_the_example(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    # this interpreter's buildorch first on PATH: the one under test, not another install
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = classic.env(PATH=path)
    run = buildorch("shortcuts", "-C", str(project), "--target", "amd64,arm64", env=env)
    assert run.code == 0, run.err
    assert "created" in run.out and "include buildorch.mk" in run.out  # hello-c has a Makefile

    # from somewhere else, with flags passed through to `buildorch build`
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = project / "scripts" / "build-linux-amd64.sh"
    done = subprocess.run([str(script), "-o", "out", *toolchain_args()], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert elf_machine(elsewhere / "out" / "hello") == "x86_64"  # -o is from where it ran

    make = shutil.which("make")
    assert make is not None, "make is needed"
    out2 = tmp_path / "out2"
    flags = " ".join(["-o", str(out2), *toolchain_args()])
    fragment = project / "buildorch.mk"
    done = subprocess.run(
        [make, "-f", str(fragment), "build-linux-arm64", f"BUILDORCH_FLAGS={flags}"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert elf_machine(out2 / "hello") == "aarch64"
    assert not (project / "out").exists() and not (project / "hello").exists()
