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
from collections.abc import Sequence
from typing import NamedTuple

from buildorch.detect.emulator_versions import way_around
from buildorch.errors import (
    BuildFailedError,
    BuildorchError,
    EmulatorFailedError,
    WrongArchitectureError,
)
from buildorch.executor import (
    NO_SPACE,
    NO_TARGET_BUILD,
    NOT_BUILT,
    WRONG_ARCHITECTURE,
    InvocationResult,
)
from buildorch.facts import EmulationFact

_LDCONFIG_CRASHED = (
    "ldconfig, which apt runs to configure libc-bin, crashed under the emulator: a known "
    "fault of some QEMU releases (tonistiigi/binfmt#240, #245, #298)"
)
_SEGFAULT = re.compile(r"Segmentation fault|uncaught target signal 11|exit status 139")
_ANY = re.compile("")


class _Signature(NamedTuple):
    """A line an emulator's failure prints, and one the log must also hold somewhere."""

    line: re.Pattern[str]
    meaning: str
    confirmed_by: re.Pattern[str] = _ANY


# what an emulator prints when it, not the program, fails; the most telling first
_EMULATOR_SIGNATURES: tuple[_Signature, ...] = (
    _Signature(
        re.compile(r"ldconfig.*(Segmentation fault|core dumped)|Segmentation fault.*ldconfig"),
        _LDCONFIG_CRASHED,
    ),
    # libc-bin's trigger is ldconfig; 139 is a shell's 128 + SIGSEGV (a libc-bin that fails
    # for another reason is the project's)
    _Signature(
        re.compile(r"dpkg: error processing package libc-bin"), _LDCONFIG_CRASHED, _SEGFAULT
    ),
    _Signature(
        re.compile(r"qemu: uncaught target signal \d+"),
        "QEMU crashed running the step (a known fault of some QEMU versions, e.g. in ldconfig: "
        "tonistiigi/binfmt#240)",
    ),
    _Signature(
        re.compile(r"exec format error", re.IGNORECASE),
        "the engine could not run the platform's programs: no emulator is registered for it, "
        "or it was registered without the F flag",
    ),
    _Signature(
        re.compile(r"rosetta error|Illegal instruction", re.IGNORECASE),
        "the emulator met an instruction it does not implement (Rosetta has no AVX)",
    ),
)
# a step (or BuildKit itself) that met a full disk where the engine keeps its build cache:
# apt's `Write error - write (28: No space left on device)`, Go's `no space left on device`
_ENGINE_DISK_FULL = re.compile(r"no space left on device", re.IGNORECASE)
# the failing step as buildx names it: ` > [build 6/7] RUN make:`
_STEP = re.compile(r"^\s*> \[(?P<step>[^\]]+)\] (?P<command>.*?):?\s*$")
# what a failure is said to be in when buildx names no step
_UNNAMED_STEP = "a RUN step"


def failure_of(
    failed: InvocationResult, name: str = "", emulation: Sequence[EmulationFact] = ()
) -> BuildorchError:
    """The error for a build that failed (`name`: ` of bake target X`; `emulation`: what
    detection found running each platform, to name the emulator and a native platform)."""
    platforms = ", ".join(failed.platforms)
    said = [
        line[line.index(marker) :]
        for line in failed.log_tail
        for marker in (WRONG_ARCHITECTURE, NO_TARGET_BUILD, NOT_BUILT)
        if marker in line
    ]
    if said:
        return WrongArchitectureError(
            f"the cross build{name} for {platforms} cannot make the target's files",
            why="\n".join(dict.fromkeys(said))
            + "\n(a step of a stage buildorch moved to the build machine compiled for that "
            "machine, reused what another platform's build left in a cache mount (CMake's "
            "cache in a build folder), needs a package the target has no build of, or built "
            "less because it cross-compiles)",
            fix="build it emulated with --strategy qemu, or name the target's compiler in the "
            "step ($CC, or the target triple's gcc); a cache mount `buildorch plan` names as "
            "shared: a folder per platform inside it; nothing was written",
        )
    step, on = _failed_step(failed.log_tail)
    # a step that failed never reached the export: a full output disk is not why
    engine_full = next((ln for ln in failed.log_tail if _ENGINE_DISK_FULL.search(ln)), None)
    if engine_full is not None and step != _UNNAMED_STEP:
        return BuildFailedError(
            f"the build{name} for {platforms} ran out of disk space in the engine",
            why=f"{step}: {engine_full.strip()}\n(the disk where Docker keeps its build cache, "
            "images and containers is full: the step could not write)",
            fix="free space there: `docker builder prune` drops the build cache, `docker image "
            "prune` the unused images (on Docker Desktop, or raise its disk limit in Settings > "
            "Resources); then build again, the steps before this one come from the cache that "
            "is left",
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
    facts = {fact.platform: fact for fact in emulation}
    if on is not None and on in facts and facts[on].kind == "native":
        emulated = False  # the step ran natively: whatever crashed, it is the project's
    signature = _emulator_signature(failed.log_tail) if emulated else None
    if signature is not None:
        line, meaning = signature
        platform = on or failed.platforms[0]
        fact = facts.get(platform)
        emulator = (fact.emulator if fact is not None else None) or failed.strategies
        if meaning == _LDCONFIG_CRASHED:
            fix = way_around(platform, trusting=False)
        else:
            # a cross build emulates only what stays on the target: cross is what just ran
            cross = (
                ""
                if "cross" in failed.strategies
                else "--strategy cross when the Dockerfile allows it, "
            )
            fix = (
                "update the emulator (`docker run --privileged --rm tonistiigi/binfmt "
                f"--install all`, or Docker Desktop), or build without it: {cross}a remote "
                "native builder, or `buildorch ci github` for a native runner"
            )
        known = f"; a known-bad release: {fact.flagged}" if fact and fact.flagged else ""
        return EmulatorFailedError(
            f"the build{name} for {platforms} failed in the emulator, not in the project",
            why=f"{step}: {line.strip()}\n{meaning}\nthe emulator: {emulator} running "
            f"{platform} (built with {failed.strategies}){known}",
            fix=fix,
        )
    if failed.derived:
        # the step's text is the project's, its line numbers are the derived file's
        return BuildFailedError(
            f"the cross build{name} for {platforms} failed",
            why="buildx said (of buildorch's derivation of the Dockerfile, which moves the "
            "builder stages to the build machine; `buildorch init --cross` writes it to "
            "read):\n" + "\n".join(failed.log_tail[-25:]),
            fix="fix the step above; if it builds natively but not cross-compiled, build it "
            "as written with --strategy qemu, and `buildorch plan` says why the stage moved",
        )
    return BuildFailedError(
        f"the build{name} for {platforms} failed",
        why="buildx said:\n" + "\n".join(failed.log_tail[-25:]),
        fix="fix the Dockerfile step above; `buildorch plan` shows how the build was run",
    )


def _failed_step(tail: Sequence[str]) -> tuple[str, str | None]:
    """The step buildx says failed (` > [linux/arm64 build 3/5] RUN make:`), and the platform
    it names when the build had several."""
    found = next((m for line in tail if (m := _STEP.match(line))), None)
    if found is None:
        return _UNNAMED_STEP, None
    step = found.group("step")
    platform = step.split(" ", 1)[0] if step.startswith("linux/") else None
    return f"{step} {found.group('command')}", platform


def _emulator_signature(tail: Sequence[str]) -> tuple[str, str] | None:
    """The line of the log that shows the emulator failing, and what it means."""
    for signature in _EMULATOR_SIGNATURES:
        line = next((ln for ln in tail if signature.line.search(ln)), None)
        if line is not None and any(signature.confirmed_by.search(ln) for ln in tail):
            return line, signature.meaning
    return None
