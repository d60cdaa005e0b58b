"""A failed build's record in, the error the user sees out: the project's own failure, a
wrong-architecture cross build, or the emulator's crash, each with its own exit code."""

from __future__ import annotations

import dataclasses

import pytest

from buildorch.build_failures import failure_of
from buildorch.errors import BuildFailedError, EmulatorFailedError, WrongArchitectureError
from buildorch.executor import InvocationResult
from buildorch.facts import EmulationFact


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
    # the causes a user can act on: a step's own compiler, and a cache mount another
    # platform's build filled (its CMake cache names that platform's compiler)
    assert "another platform's build left in a cache mount" in error.why
    assert "--strategy qemu" in error.fix and "a folder per platform" in error.fix


# what buildx prints when QEMU 9.2 crashes in libc-bin's trigger (tonistiigi/binfmt#245)
LIBC_BIN_CRASH = (
    "#6 15.94 Unpacking libc-bin (2.35-0ubuntu3.9) over (2.35-0ubuntu3.8) ...",
    "#6 16.15 Setting up libc-bin (2.35-0ubuntu3.9) ...",
    "#6 16.25 qemu: uncaught target signal 11 (Segmentation fault) - core dumped",
    "#6 18.26 Segmentation fault (core dumped)",
    "#6 20.21 dpkg: error processing package libc-bin (--configure):",
    "#6 20.21  installed libc-bin package post-installation script subprocess returned error "
    "exit status 139",
    "#6 20.29 E: Sub-process /usr/bin/dpkg returned an error code (1)",
    '#6 ERROR: process "/bin/sh -c apt-get upgrade --assume-yes" did not complete '
    "successfully: exit code: 100",
    " > [3/3] RUN apt-get upgrade --assume-yes:",
    "ERROR: failed to solve: process did not complete successfully: exit code: 100",
)
# the same without QEMU's own line (a kernel that kills the emulated ldconfig quietly)
QUIET_LIBC_BIN_CRASH = tuple(line for line in LIBC_BIN_CRASH if "qemu:" not in line)


def arm64_on(version: str, flagged: str | None = None) -> tuple[EmulationFact, ...]:
    return (
        EmulationFact(platform="linux/amd64", kind="native"),
        EmulationFact(
            platform="linux/arm64", kind="qemu", emulator=version, works=True, flagged=flagged
        ),
    )


@pytest.mark.parametrize("tail", [LIBC_BIN_CRASH, QUIET_LIBC_BIN_CRASH])
def test_ldconfig_crashing_under_qemu_names_the_step_the_emulator_and_a_pinned_release(
    tail: tuple[str, ...],
) -> None:
    emulation = arm64_on("qemu-aarch64 version 9.2.0 (v9.2.0)", flagged="QEMU 9.2.x segfaults")
    error = failure_of(failed("qemu", *tail), emulation=emulation)
    assert isinstance(error, EmulatorFailedError)
    assert error.exit_code == 13
    assert "3/3 RUN apt-get upgrade --assume-yes" in error.why
    assert "ldconfig, which apt runs to configure libc-bin, crashed under the emulator" in error.why
    assert "the emulator: qemu-aarch64 version 9.2.0 (v9.2.0) running linux/arm64" in error.why
    assert "a known-bad release: QEMU 9.2.x segfaults" in error.why
    assert "tonistiigi/binfmt:qemu-v7.0.0-28 --install arm64" in error.fix
    assert "--strategy cross" in error.fix and "buildorch offload" in error.fix
    assert "trust_emulator" not in error.fix  # it was used, and crashed


def test_a_segfaulting_ldconfig_in_a_native_build_is_the_projects() -> None:
    error = failure_of(failed("native", *LIBC_BIN_CRASH), emulation=arm64_on("x"))
    assert isinstance(error, BuildFailedError)
    assert error.exit_code == 7


def test_in_a_build_of_several_platforms_a_native_steps_segfault_is_the_projects() -> None:
    tail = [line.replace(" > [3/3]", " > [linux/amd64 3/3]") for line in LIBC_BIN_CRASH]
    both = InvocationResult(
        label="all", platforms=("linux/amd64", "linux/arm64"), strategies="native,qemu",
        seconds=1.0, ok=False, output="nothing written", log_tail=tuple(tail),
    )  # fmt: skip
    emulation = arm64_on("qemu-aarch64 version 9.2.0")
    assert isinstance(failure_of(both, emulation=emulation), BuildFailedError)
    arm = [line.replace(" > [3/3]", " > [linux/arm64 3/3]") for line in LIBC_BIN_CRASH]
    error = failure_of(
        InvocationResult(
            label="all", platforms=("linux/amd64", "linux/arm64"), strategies="native,qemu",
            seconds=1.0, ok=False, output="nothing written", log_tail=tuple(arm),
        ),
        emulation=emulation,
    )  # fmt: skip
    assert isinstance(error, EmulatorFailedError)
    assert "running linux/arm64" in error.why


def test_libc_bin_failing_without_a_crash_is_the_projects() -> None:
    tail = (
        "#6 20.21 dpkg: error processing package libc-bin (--configure):",
        "#6 20.21  installed libc-bin package post-installation script subprocess returned "
        "error exit status 1",
        " > [3/3] RUN apt-get upgrade --assume-yes:",
    )
    assert isinstance(failure_of(failed("qemu", *tail)), BuildFailedError)


def test_a_failed_cross_build_of_the_derived_dockerfile_says_so_and_how_to_build_as_written() -> (
    None
):
    derived = dataclasses.replace(
        failed("cross", "#9 0.5 main.c:3:1: error: expected ';'", "make: *** Error 1"),
        derived=True,
    )
    error = failure_of(derived)
    assert isinstance(error, BuildFailedError)
    assert error.exit_code == 7
    assert "main.c:3:1" in error.why
    assert "buildorch's derivation of the Dockerfile" in error.why
    assert "--strategy qemu" in error.fix


def test_an_emulator_failing_in_a_cross_build_does_not_suggest_cross() -> None:
    error = failure_of(
        failed("cross", "#9 12.3 qemu: uncaught target signal 11 (Segmentation fault)")
    )
    assert isinstance(error, EmulatorFailedError)
    assert "--strategy cross" not in error.fix
    assert (
        "--strategy cross"
        in failure_of(
            failed("qemu", "#9 12.3 qemu: uncaught target signal 11 (Segmentation fault)")
        ).fix
    )


@pytest.mark.parametrize("strategy", ["native", "cross", "qemu"])
def test_a_step_that_met_a_full_disk_says_the_engines_disk_is_full(strategy: str) -> None:
    # apt's own words for it, ten lines before buildx's last ones, as in a real failure
    error_tail = (
        "#8 [build 2/5] RUN apt-get update && apt-get install -y cargo",
        "#8 4.1 Get:5 http://deb.example/debian bookworm/main amd64 Packages [8787 kB]",
        "#8 9.3 E: Write error - write (28: No space left on device)",
        *(f"#8 9.{n} E: Some index files failed to download." for n in range(4, 9)),
        " > [build 2/5] RUN apt-get update && apt-get install -y cargo:",
        "ERROR: failed to solve: process did not complete successfully: exit code: 100",
    )
    error = failure_of(failed(strategy, *error_tail))
    assert isinstance(error, BuildFailedError) and error.exit_code == 7
    assert error.what == "the build for linux/arm64 ran out of disk space in the engine"
    assert "build 2/5 RUN apt-get update && apt-get install -y cargo" in error.why
    assert "(28: No space left on device)" in error.why
    assert "docker builder prune" in error.fix
    # the same disk holding the output, nearly full after it: still the step's
    output_full = "buildorch: no space left for the result: 3 KB"
    assert failure_of(failed(strategy, *error_tail, output_full)).what.endswith(
        "ran out of disk space in the engine"
    )
