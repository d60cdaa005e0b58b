"""Which platforms' binaries the engine can run, and how: natively, QEMU, Rosetta."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from buildorch.detect.emulator_probe import parse
from buildorch.detect.emulator_versions import flagged, known_bad, way_around
from buildorch.detect.view import HostView
from buildorch.facts import BuilderFacts, DockerFacts, EmulationFact, EmulationKind, OsClass
from buildorch.platforms import BINFMT_ENTRIES, KNOWN_PLATFORMS

BINFMT = "/proc/sys/fs/binfmt_misc"
DESKTOP_SETTINGS_DIR = "Library/Group Containers/group.com.docker"
# newer Docker Desktop writes settings-store.json (PascalCase), older settings.json (camelCase)
DESKTOP_SETTINGS_FILES = ("settings-store.json", "settings.json")
_REREGISTER = (
    "`sudo update-binfmts --enable` (qemu-user-static) or "
    "`docker run --privileged --rm tonistiigi/binfmt --install all` re-registers it with F"
)
# 32-bit arm runs on an arm64 CPU only when the CPU still has AArch32 (many do not: Apple
# M-series, recent Graviton), so it counts as native only when the builder says so
_ARM32 = ("linux/arm/v7", "linux/arm/v6")


@dataclass(frozen=True, slots=True)
class DesktopSettings:
    """What Docker Desktop's settings file says about Rosetta."""

    path: str | None
    rosetta: bool


def _setting(settings: dict[str, object], key: str) -> object:
    """A setting under either casing (`UseX` in settings-store.json, `useX` in settings.json)."""
    pascal = key[0].upper() + key[1:]
    return settings[pascal] if pascal in settings else settings.get(key[0].lower() + key[1:])


def desktop_settings(view: HostView) -> DesktopSettings:
    """Docker Desktop's settings on macOS; (None, False) when no file is found."""
    home = view.env.get("HOME") or ""
    for name in DESKTOP_SETTINGS_FILES:
        path = f"{home}/{DESKTOP_SETTINGS_DIR}/{name}"
        text = view.read_text(path)
        if text is None:
            continue
        try:
            settings = json.loads(text)
        except ValueError:
            continue
        if not isinstance(settings, dict):
            continue
        # Rosetta needs the Virtualization framework; an explicit false turns it off
        rosetta = (
            _setting(settings, "useVirtualizationFrameworkRosetta") is True
            and _setting(settings, "useVirtualizationFramework") is not False
        )
        return DesktopSettings(path=path, rosetta=rosetta)
    return DesktopSettings(path=None, rosetta=False)


def detect_emulation(
    view: HostView,
    os_class: OsClass,
    docker: DockerFacts,
    builder: BuilderFacts | None,
    host_arch: str,
    *,
    trust_emulator: bool = False,
) -> tuple[tuple[EmulationFact, ...], str]:
    """One fact per known platform, and why. `trust_emulator`: plan on an emulator of a
    known-bad version all the same (the user's word that their builds pass on it)."""
    native = f"linux/{docker.arch or host_arch}"
    listed = set(builder.platforms) if builder is not None else set()
    kinds: dict[str, EmulationKind | None] = dict.fromkeys(KNOWN_PLATFORMS)
    kinds[native] = "native"
    if native == "linux/amd64":
        # x86-64 CPUs and kernels run 32-bit x86 code themselves
        kinds["linux/386"] = "native"
    if native == "linux/arm64" and os_class != "macos":  # Apple's M-series have no AArch32
        for platform in _ARM32:
            if platform in listed:
                kinds[platform] = "native"
    health: dict[str, EmulationFact] = {}
    elsewhere = _engine_elsewhere(view, docker)
    if docker.desktop or elsewhere:
        why = _from_builder(view, os_class, docker, builder, native, elsewhere, kinds)
        if docker.desktop:
            # its VM's emulators cannot be asked from here: they are the release's own
            health = _desktop_emulators(docker, kinds)
    else:
        why = _from_binfmt(view, native, kinds, health, trust_emulator)
    # what the probe said about a platform's emulator, with the kind decided here
    facts = tuple(
        replace(health[p], kind=k) if p in health else EmulationFact(platform=p, kind=k)
        for p, k in kinds.items()
    )
    whose = "the engine's own platform" if docker.arch else "this host's platform (no engine)"
    return facts, f"{native} is {whose}; {why}"


def _desktop_emulators(
    docker: DockerFacts, kinds: dict[str, EmulationKind | None]
) -> dict[str, EmulationFact]:
    """Docker Desktop's emulators, named by the release that ships them (not run: its VM's
    binfmt_misc is out of reach)."""
    release = docker.product or f"Docker Desktop (engine {docker.version or '?'})"
    names = {"qemu": f"QEMU of {release}", "rosetta": f"Rosetta, through {release}"}
    return {
        platform: EmulationFact(platform=platform, kind=kind, emulator=names[kind])
        for platform, kind in kinds.items()
        if kind in names
    }


def _engine_elsewhere(view: HostView, docker: DockerFacts) -> str:
    """Why the engine does not share this machine's kernel (and binfmt_misc), or ""."""
    host = view.env.get("DOCKER_HOST") or ""
    if host.startswith(("tcp://", "ssh://")):
        return f"the engine is remote (DOCKER_HOST={host})"
    if docker.available and docker.kernel and view.system == "Linux":
        # a remote context or a VM shows its own kernel; WSL2 distros share one kernel
        local = (view.read_text("/proc/sys/kernel/osrelease") or "").strip()
        if local and local != docker.kernel:
            return f"the engine runs kernel {docker.kernel}, this machine {local}"
    return ""


def _from_builder(
    view: HostView,
    os_class: OsClass,
    docker: DockerFacts,
    builder: BuilderFacts | None,
    native: str,
    elsewhere: str,
    kinds: dict[str, EmulationKind | None],
) -> str:
    """Desktop and remote engines: their binfmt_misc is out of reach, the builder is not."""
    listed = set(builder.platforms) if builder is not None else set()
    settings = DesktopSettings(path=None, rosetta=False)
    if docker.desktop and os_class == "macos":
        settings = desktop_settings(view)
    for platform in KNOWN_PLATFORMS:
        if kinds[platform] is not None:
            continue
        if platform == "linux/amd64" and native == "linux/arm64" and settings.rosetta:
            kinds[platform] = "rosetta"
        elif platform in listed:
            kinds[platform] = "qemu"
    name = f"builder `{builder.name}`" if builder is not None else "no builder (buildx missing)"
    if not docker.desktop:
        return (
            f"{elsewhere}, so its binfmt_misc is out of reach: emulation is inferred from "
            f"{name}'s platforms"
        )
    why = f"binfmt_misc lives in Docker Desktop's VM: emulation is inferred from {name}'s platforms"
    if os_class == "macos":
        home = view.env.get("HOME") or "~"
        if settings.path is None:
            return f"{why}; no Docker Desktop settings in {home}/{DESKTOP_SETTINGS_DIR}"
        state = "on" if settings.rosetta else "off"
        return f"{why}; Rosetta for amd64 is {state} in {settings.path}"
    if os_class == "wsl2":
        return f"{why}; Docker Desktop's settings are on the Windows side, not read from WSL2"
    return why


def _entry(text: str) -> tuple[bool, str, str]:
    """(enabled, flags, interpreter) of a binfmt_misc entry."""
    lines = [line.strip() for line in text.splitlines()]
    enabled = bool(lines) and lines[0] == "enabled"
    flags = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("flags:")), "")
    interpreter = next((ln.split(" ", 1)[1] for ln in lines if ln.startswith("interpreter ")), "")
    return enabled, flags, interpreter


def _from_binfmt(
    view: HostView,
    native: str,
    kinds: dict[str, EmulationKind | None],
    health: dict[str, EmulationFact],
    trust_emulator: bool,
) -> str:
    """A local Linux engine shares this kernel's binfmt_misc: read the registered entries."""
    listing = view.list_dir(BINFMT)
    wanted = (*BINFMT_ENTRIES, "rosetta")
    usable: list[str] = []
    problems: list[str] = []
    for entry in wanted:
        if listing and entry not in listing:
            continue
        text = view.read_text(f"{BINFMT}/{entry}")
        if text is None:
            continue
        enabled, flags, interpreter = _entry(text)
        if not enabled:
            problems.append(f"{entry} is disabled (`echo 1 | sudo tee {BINFMT}/{entry}`)")
            continue
        if "F" not in flags:
            # without F the kernel opens the interpreter path inside each container's root,
            # where it does not exist: `exec format error` or `no such file` in RUN steps
            problems.append(
                f"{entry} is registered without the F flag (flags: {flags or 'none'}), so "
                f"{interpreter or 'its interpreter'} is not usable in containers; {_REREGISTER}"
            )
            continue
        platforms = ("linux/amd64",) if entry == "rosetta" else BINFMT_ENTRIES[entry]
        version, works, failure = parse(view.command_output(f"emulator-{entry}"))
        row = known_bad(entry, version)
        fault = flagged(row) if row is not None else None
        for platform in platforms:
            health[platform] = EmulationFact(
                platform=platform, kind=None, emulator=version, works=works, flagged=fault
            )
        if works is False:
            # a registered emulator that cannot run a program fails every step of a build
            problems.append(
                f"{entry} ({version or interpreter or 'unknown version'}) is registered but "
                f"could not run a tiny {platforms[0]} program ({failure}): reinstall it "
                "(`docker run --privileged --rm tonistiigi/binfmt --install all`, or the "
                "distribution's qemu-user-static), or build without it"
            )
            continue
        if fault is not None and not trust_emulator:
            # it runs the probe; the reports say it crashes under real installs
            problems.append(
                f"{entry} ({version}) is a release known to break builds: {fault}; "
                f"{way_around(platforms[0])}"
            )
            continue
        trusted = "; known-bad, trusted by trust_emulator" if fault is not None else ""
        usable.append(f"{entry} ({flags}{', ' + version if version else ''}{trusted})")
        kind: EmulationKind = "rosetta" if entry == "rosetta" else "qemu"
        for platform in platforms:
            if kinds.get(platform) is None and platform != native:
                kinds[platform] = kind
    parts = []
    if usable:
        parts.append(f"{BINFMT} has {', '.join(usable)} with the F flag")
    parts.extend(problems)
    if not usable and not problems:
        mounted = bool(listing) or view.read_text(f"{BINFMT}/status") is not None
        parts.append(
            f"no QEMU entries are registered in {BINFMT}"
            if mounted
            else f"{BINFMT} is not mounted here"
        )
        parts.append("`docker run --privileged --rm tonistiigi/binfmt --install all` adds them")
    return "; ".join(parts)
