"""Why a build failed, read from what buildx printed: the project's own error, a cross build
that made the wrong machine's files, or the emulator that crashed under the project's steps.
Pure: a failed build's record in, the error the user sees out.

An emulator's failure is not the project's: QEMU versions that segfault in `ldconfig`
(tonistiigi/binfmt#240, #245, docker/setup-qemu-action#199), Rosetta's missing AVX
(`Illegal instruction`), and `exec format error` when no emulator is registered for the
platform. Those get their own exit code and the way around the emulator.
"""

from __future__ import annotations

import re

from buildorch.errors import (
    BuildFailedError,
    BuildorchError,
    EmulatorFailedError,
    WrongArchitectureError,
)
from buildorch.executor import NO_SPACE, NO_TARGET_BUILD, WRONG_ARCHITECTURE, InvocationResult

# what an emulator prints when it, not the program, fails
_EMULATOR_SIGNATURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"qemu: uncaught target signal \d+"),
        "QEMU crashed running the step (a known fault of some QEMU versions, e.g. in ldconfig: "
        "tonistiigi/binfmt#240)",
    ),
    (
        re.compile(r"exec format error", re.IGNORECASE),
        "the engine could not run the platform's programs: no emulator is registered for it, "
        "or it was registered without the F flag",
    ),
    (
        re.compile(r"rosetta error|Illegal instruction", re.IGNORECASE),
        "the emulator met an instruction it does not implement (Rosetta has no AVX)",
    ),
    (
        re.compile(r"ldconfig.*(Segmentation fault|core dumped)|Segmentation fault.*ldconfig"),
        "ldconfig crashed under the emulator (tonistiigi/binfmt#245)",
    ),
)
# the failing step as buildx names it: ` > [build 6/7] RUN make:`
_STEP = re.compile(r"^\s*> \[(?P<step>[^\]]+)\] (?P<command>.*?):?\s*$")


def failure_of(failed: InvocationResult, name: str = "") -> BuildorchError:
    """The error for a build that failed (`name`: ` of bake target X`)."""
    platforms = ", ".join(failed.platforms)
    said = [
        line[line.index(marker) :]
        for line in failed.log_tail
        for marker in (WRONG_ARCHITECTURE, NO_TARGET_BUILD)
        if marker in line
    ]
    if said:
        return WrongArchitectureError(
            f"the cross build{name} for {platforms} cannot make the target's files",
            why="\n".join(dict.fromkeys(said))
            + "\n(a step of a stage buildorch moved to the build machine compiled for that "
            "machine, or needs a package the target has no build of)",
            fix="build it emulated with --strategy qemu, or name the target's compiler in the "
            "step ($CC, or the target triple's gcc); nothing was written",
        )
    full = next((line for line in failed.log_tail if line.startswith(NO_SPACE)), None)
    if full is not None:
        return BuildFailedError(
            f"the build{name} for {platforms} could not write its result: the disk is full",
            why=full.removeprefix("buildorch: ")
            + " (buildx said only: "
            + (failed.log_tail[-2] if len(failed.log_tail) > 1 else "?")
            + ")",
            fix="free some space there, or write the result elsewhere with -o; the previous "
            "output is as it was",
        )
    emulated = any(s in failed.strategies for s in ("qemu", "rosetta", "cross"))
    if emulated:
        for pattern, meaning in _EMULATOR_SIGNATURES:
            line = next((ln for ln in failed.log_tail if pattern.search(ln)), None)
            if line is not None:
                step = next(
                    (m.group("step") + " " + m.group("command")
                     for ln in failed.log_tail if (m := _STEP.match(ln))),
                    "a RUN step",
                )  # fmt: skip
                return EmulatorFailedError(
                    f"the build{name} for {platforms} failed in the emulator, not in the project",
                    why=f"{step}: {line.strip()}\n{meaning} (built with {failed.strategies})",
                    fix="update the emulator (`docker run --privileged --rm tonistiigi/binfmt "
                    "--install all`, or Docker Desktop), or build without it: --strategy cross "
                    "when the Dockerfile allows it, a remote native builder, or `buildorch ci "
                    "github` for a native runner",
                )
    return BuildFailedError(
        f"the build{name} for {platforms} failed",
        why="buildx said:\n" + "\n".join(failed.log_tail[-25:]),
        fix="fix the Dockerfile step above; `buildorch plan` shows how the build was run",
    )
