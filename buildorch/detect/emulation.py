"""Which platforms' binaries the engine can run, and how: natively, QEMU, Rosetta."""

from __future__ import annotations

import json

from buildorch.detect.view import HostView
from buildorch.facts import BuilderFacts, DockerFacts, EmulationFact, EmulationKind
from buildorch.platforms import BINFMT_ENTRIES, KNOWN_PLATFORMS

BINFMT = "/proc/sys/fs/binfmt_misc"
_ROSETTA_KEYS = ("UseVirtualizationFrameworkRosetta", "useVirtualizationFrameworkRosetta")
_DESKTOP_SETTINGS = "Library/Group Containers/group.com.docker"


def detect_emulation(
    view: HostView,
    docker: DockerFacts,
    builder: BuilderFacts | None,
    host_arch: str,
) -> tuple[tuple[EmulationFact, ...], str]:
    native = f"linux/{docker.arch or host_arch}"
    remote = view.env.get("DOCKER_HOST", "").startswith(("tcp://", "ssh://"))
    if docker.desktop or remote:
        return _from_builder(view, docker, builder, native, remote)
    return _from_binfmt(view, native)


def _from_builder(
    view: HostView,
    docker: DockerFacts,
    builder: BuilderFacts | None,
    native: str,
    remote: bool,
) -> tuple[tuple[EmulationFact, ...], str]:
    listed = set(builder.platforms) if builder is not None else set()
    rosetta, settings = _desktop_rosetta(view) if docker.desktop else (False, "")
    facts = []
    for platform in KNOWN_PLATFORMS:
        kind: EmulationKind | None = None
        if platform == native:
            kind = "native"
        elif platform == "linux/amd64" and native == "linux/arm64" and rosetta:
            kind = "rosetta"
        elif platform in listed:
            # 32-bit arm runs on most arm64 CPUs without an emulator
            arm32 = native == "linux/arm64" and platform.startswith("linux/arm/")
            kind = "native" if arm32 else "qemu"
        facts.append(EmulationFact(platform=platform, kind=kind))
    where = "the remote engine's" if remote else "Docker Desktop's VM"
    name = builder.name if builder is not None else "(none)"
    why = f"binfmt_misc lives in {where}, so this is inferred from builder `{name}`'s platforms" + (
        f"; Rosetta is on in {settings}" if rosetta else ""
    )
    return tuple(facts), why


def _desktop_rosetta(view: HostView) -> tuple[bool, str]:
    home = view.env.get("HOME", "")
    for name in ("settings-store.json", "settings.json"):
        path = f"{home}/{_DESKTOP_SETTINGS}/{name}"
        text = view.read_text(path)
        if text is None:
            continue
        try:
            settings = json.loads(text)
        except ValueError:
            continue
        if isinstance(settings, dict) and any(settings.get(k) is True for k in _ROSETTA_KEYS):
            return True, path
    return False, ""


def _from_binfmt(view: HostView, native: str) -> tuple[tuple[EmulationFact, ...], str]:
    kinds: dict[str, EmulationKind | None] = dict.fromkeys(KNOWN_PLATFORMS)
    kinds[native] = "native"
    if native == "linux/amd64":
        kinds["linux/386"] = "native"  # x86-64 CPUs run 32-bit x86 code themselves
    found: list[str] = []
    without_f: list[str] = []
    for entry, platforms in BINFMT_ENTRIES.items():
        text = view.read_text(f"{BINFMT}/{entry}")
        if text is None:
            continue
        lines = text.splitlines()
        enabled = bool(lines) and lines[0].strip() == "enabled"
        flags = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("flags:")), "")
        if not enabled:
            continue
        if "F" not in flags:
            # without F the interpreter is looked up inside each container, where it is absent
            without_f.append(entry)
            continue
        found.append(entry)
        for platform in platforms:
            if kinds[platform] is None:
                kinds[platform] = "qemu"
    parts = []
    if found:
        parts.append(f"{BINFMT}: {', '.join(found)} registered with the F flag")
    if without_f:
        parts.append(
            f"{', '.join(without_f)} registered without the F flag, which does not work inside "
            "containers: re-register with `update-binfmts --enable` (qemu-user-static) or "
            "`docker run --privileged --rm tonistiigi/binfmt --install all`"
        )
    if not found and not without_f:
        mounted = view.read_text(f"{BINFMT}/status") is not None
        parts.append(
            f"no qemu-* entries in {BINFMT}"
            if mounted
            else f"{BINFMT} is not mounted or has no QEMU entries"
        )
    facts = tuple(EmulationFact(platform=p, kind=k) for p, k in kinds.items())
    return facts, "; ".join(parts)
