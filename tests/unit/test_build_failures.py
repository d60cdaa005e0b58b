"""A failed build's record in, the error the user sees out: the project's own failure, a
wrong-architecture cross build, or the emulator's crash, each with its own exit code."""

from __future__ import annotations

import pytest

from buildorch.build_failures import failure_of
from buildorch.errors import BuildFailedError, EmulatorFailedError, WrongArchitectureError
from buildorch.executor import InvocationResult


def failed(strategy: str, *tail: str) -> InvocationResult:
    return InvocationResult(
        label="linux-arm64",
        platforms=("linux/arm64",),
        strategies=strategy,
        seconds=1.0,
        ok=False,
        output="nothing written",
        log_tail=tail,
    )


@pytest.mark.parametrize(
    ("line", "meaning"),
    [
        (
            "#9 12.3 qemu: uncaught target signal 11 (Segmentation fault) - core dumped",
            "QEMU crashed",
        ),
        ("#9 0.1 exec /bin/sh: exec format error", "no emulator is registered"),
        ("#9 3.2 Illegal instruction (core dumped)", "Rosetta has no AVX"),
    ],
)
def test_an_emulators_signature_is_the_emulators_failure(line: str, meaning: str) -> None:
    error = failure_of(
        failed("qemu", "#9 [build 3/5] RUN apt-get install -y gcc", line,
               " > [build 3/5] RUN apt-get install -y gcc:", "ERROR: failed to solve"),
    )  # fmt: skip
    assert isinstance(error, EmulatorFailedError)
    assert error.exit_code == 13
    assert "failed in the emulator, not in the project" in error.what
    assert "build 3/5 RUN apt-get install -y gcc" in error.why
    assert meaning in error.why
    assert "tonistiigi/binfmt" in error.fix


def test_a_native_build_that_fails_is_the_projects_failure_whatever_it_printed() -> None:
    error = failure_of(failed("native", "#9 0.1 Illegal instruction", "make: *** [all] Error 132"))
    assert isinstance(error, BuildFailedError)
    assert error.exit_code == 7


def test_a_project_error_under_qemu_is_still_the_projects() -> None:
    error = failure_of(
        failed("qemu", "#9 0.5 main.c:3:1: error: expected ';'", "make: *** Error 1")
    )
    assert isinstance(error, BuildFailedError)
    assert "main.c:3:1" in error.why


def test_a_wrong_architecture_file_is_exit_12() -> None:
    line = "#14 0.1 buildorch-cross: WRONG ARCHITECTURE: /src/zs is x86-64 (64-bit), not aarch64"
    error = failure_of(failed("cross", line, line))
    assert isinstance(error, WrongArchitectureError)
    assert error.exit_code == 12
    assert error.why.count("/src/zs is x86-64") == 1
