"""Architecture and OCI platform names.

Hosts speak `uname -m` (x86_64, aarch64, arm64 on macOS, armv7l); Docker speaks OCI
(`linux/amd64`, `linux/arm64`, `linux/arm/v7`). Everything inside buildorch uses OCI names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from buildorch.errors import ProjectError

# uname -m (and a few aliases users type) -> OCI architecture[/variant]
_MACHINE_TO_ARCH: dict[str, str] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv8": "arm64",
    "armv7l": "arm/v7",
    "armv7": "arm/v7",
    "armhf": "arm/v7",
    "armv6l": "arm/v6",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "riscv64": "riscv64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}

KNOWN_PLATFORMS: tuple[str, ...] = (
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/386",
    "linux/riscv64",
    "linux/ppc64le",
    "linux/s390x",
)

# binfmt_misc entry names registered by qemu-user-static / tonistiigi/binfmt -> platforms they run
BINFMT_ENTRIES: dict[str, tuple[str, ...]] = {
    "qemu-aarch64": ("linux/arm64",),
    "qemu-arm": ("linux/arm/v7", "linux/arm/v6"),
    "qemu-x86_64": ("linux/amd64",),
    "qemu-i386": ("linux/386",),
    "qemu-riscv64": ("linux/riscv64",),
    "qemu-ppc64le": ("linux/ppc64le",),
    "qemu-s390x": ("linux/s390x",),
}


def platform_slug(platform: str) -> str:
    """`linux-arm64`, `linux-arm-v7`: safe in file names, tags and cache ids."""
    return platform.replace("/", "-")


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}" + (f"/{self.variant}" if self.variant else "")

    @property
    def slug(self) -> str:
        return platform_slug(str(self))

    @property
    def dir_name(self) -> str:
        """The folder name buildx's local exporter uses per platform (`linux_arm64`)."""
        return str(self).replace("/", "_")


def arch_from_machine(machine: str) -> str | None:
    """OCI architecture of a `uname -m` value, or None when unknown."""
    return _MACHINE_TO_ARCH.get(machine.strip().lower())


def parse_platform(text: str) -> Platform:
    """Parse `arm64`, `aarch64`, `linux/arm64`, `linux/arm/v7` into a known platform."""
    raw = text.strip().lower()
    candidate = raw
    if "/" not in raw or (raw.count("/") == 1 and raw.startswith("arm/")):
        arch = _MACHINE_TO_ARCH.get(raw, raw)
        candidate = f"linux/{arch}"
    elif raw.startswith("linux/"):
        arch = _MACHINE_TO_ARCH.get(raw.removeprefix("linux/"), raw.removeprefix("linux/"))
        candidate = f"linux/{arch}"
    if candidate == "linux/arm":
        candidate = "linux/arm/v7"
    if candidate not in KNOWN_PLATFORMS:
        close = difflib.get_close_matches(raw, [*KNOWN_PLATFORMS, "amd64", "arm64"], n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise ProjectError(
            f"unknown target platform `{text}`",
            why="buildorch builds Linux images for: " + ", ".join(KNOWN_PLATFORMS),
            fix=f"{hint}pass --target with one of those, e.g. --target arm64",
        )
    parts = candidate.split("/")
    return Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else "")


def parse_targets(values: list[str] | tuple[str, ...]) -> tuple[Platform, ...]:
    """Parse repeated and comma-separated targets, keeping order, dropping repeats."""
    seen: dict[str, Platform] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                platform = parse_platform(part)
                seen.setdefault(str(platform), platform)
    return tuple(seen.values())
