"""QEMU versions known to break common builds: data, one row per fault, each with the reports
it comes from. An emulator whose version falls in a row is not planned on (it would run the
probe and then crash under `apt-get install`), unless the user trusts it (`trust_emulator`).

A row names a whole series when the reports do not pin the affected releases more precisely;
its message then says "reported", not "affected". The architectures are those the reports
name, no more: a fault seen emulating arm64 does not flag the same release's s390x emulator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# the tag docker/setup-qemu-action#199 and #201 pinned to get past the 9.2 crash (QEMU 7.0.0);
# tonistiigi/binfmt#240 and actions/runner-images#11662 report it crashing too for ubuntu:22.04
# images on some newer kernels, hence the other ways around in every message
KNOWN_GOOD_IMAGE = "tonistiigi/binfmt:qemu-v7.0.0-28"


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownBad:
    """QEMU releases `series` (major, minor: every patch release of it) that crash as
    `symptom` says when emulating the binfmt entries `emulators`."""

    series: tuple[int, int]
    emulators: tuple[str, ...]
    symptom: str
    reported: str
    """Which releases the reports saw it in."""
    issues: tuple[str, ...]
    """The upstream threads, as owner/repo#number."""


_LDCONFIG = (
    "segfaults in ldconfig when apt configures libc-bin "
    "(`qemu: uncaught target signal 11`, `dpkg: error processing package libc-bin`)"
)

KNOWN_BAD: tuple[KnownBad, ...] = (
    KnownBad(
        # binfmt's own libc-bin test still crashed on 9.2.2 (tonistiigi/binfmt#244); #245 still
        # sees random crashes with qemu-v9.2.2-52. Every report emulates arm64 on amd64.
        series=(9, 2),
        emulators=("qemu-aarch64",),
        symptom=_LDCONFIG,
        reported="reported in 9.2.0 and 9.2.2",
        issues=(
            "tonistiigi/binfmt#240",
            "tonistiigi/binfmt#245",
            "docker/setup-qemu-action#199",
            "docker/setup-qemu-action#201",
            "actions/runner-images#11662",
        ),
    ),
    KnownBad(
        # reported against binfmt's 10.1.3-60 image after a 10.0.4 build that worked; Ubuntu
        # 22.04-based images, arm64 emulated; still open
        series=(10, 1),
        emulators=("qemu-aarch64",),
        symptom=_LDCONFIG,
        reported="reported in 10.1.3",
        issues=("tonistiigi/binfmt#298",),
    ),
)

# `qemu-aarch64 version 9.2.0 (v9.2.0)`, `qemu-arm version 7.2.22 (Debian 1:7.2+dfsg-7)`
_VERSION = re.compile(r"\bversion (\d+)\.(\d+)(?:\.\d+)?\b")


def known_bad(entry: str, version: str | None) -> KnownBad | None:
    """The row an emulator (its binfmt entry and `--version` line) falls in, if any."""
    found = _VERSION.search(version or "")
    if found is None:
        return None
    series = (int(found.group(1)), int(found.group(2)))
    return next((row for row in KNOWN_BAD if row.series == series and entry in row.emulators), None)


def flagged(row: KnownBad) -> str:
    """What the user is told about an emulator in `row`: the fault, where it was seen."""
    major, minor = row.series
    return f"QEMU {major}.{minor}.x {row.symptom}; {row.reported} ({', '.join(row.issues)})"


def way_around(platform: str, *, trusting: bool = True) -> str:
    """The fix: a release outside the known-bad ones, or no emulator at all (and, before a
    build, `trust_emulator` for a user whose builds pass on it)."""
    arch = platform.split("/")[1]  # binfmt's --install names: arm64, arm, amd64, ...
    fix = (
        f"register a release the reports found working: `docker run --privileged --rm "
        f"{KNOWN_GOOD_IMAGE} --install {arch}`; or build without it: --strategy cross "
        "when the Dockerfile allows it, a remote native builder, or `buildorch offload`"
    )
    if trusting:
        fix += "; `trust_emulator: true` in buildorch.yaml (BUILDORCH_TRUST_EMULATOR=1) uses it"
    return fix
