"""OS class, CPU architecture and CI provider."""

from __future__ import annotations

import re

from buildorch.detect.view import HostView
from buildorch.facts import OsClass
from buildorch.platforms import arch_from_machine

OSRELEASE = "/proc/sys/kernel/osrelease"
PROC_VERSION = "/proc/version"
OS_RELEASE = "/etc/os-release"
WSL_INTEROP_ENTRIES = (
    "/proc/sys/fs/binfmt_misc/WSLInterop",
    "/proc/sys/fs/binfmt_misc/WSLInterop-late",
)
# WSL2 kernels start at 4.19 (`4.19.104-microsoft-standard`); WSL1 fakes `4.4.0-19041-Microsoft`
_WSL2_MIN_KERNEL = (4, 19)


def _kernel_release(view: HostView) -> tuple[str, str]:
    """(release, where it came from): osrelease, else the third word of /proc/version."""
    release = (view.read_text(OSRELEASE) or "").strip()
    if release:
        return release, OSRELEASE
    words = (view.read_text(PROC_VERSION) or "").split()
    # `Linux version 5.15.167.4-microsoft-standard-WSL2 (root@...) ...`
    if len(words) >= 3 and words[:2] == ["Linux", "version"]:
        return words[2], PROC_VERSION
    return "", ""


def _distribution(view: HostView) -> str:
    """PRETTY_NAME from /etc/os-release (`Ubuntu 24.04.2 LTS`), or ""."""
    for line in (view.read_text(OS_RELEASE) or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            return value.strip().strip("\"'")
    return ""


def _version(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def detect_os(view: HostView) -> tuple[OsClass, str]:
    """The OS class and why."""
    match view.system:
        case "Darwin":
            return "macos", "platform.system() is Darwin"
        case "Windows":
            return "windows", "platform.system() is Windows"
    release, source = _kernel_release(view)
    evidence = [name for name in ("WSL_DISTRO_NAME", "WSL_INTEROP") if view.env.get(name)]
    evidence += [p.rsplit("/", 1)[1] for p in WSL_INTEROP_ENTRIES if view.read_text(p) is not None]
    distro = _distribution(view)
    supporting = f"; also {', '.join(evidence)}" if evidence else ""
    supporting += f"; {distro}" if distro else ""
    if "microsoft" in release.lower():
        lowered = release.lower()
        if "wsl2" in lowered or (
            "-microsoft-standard" in lowered and _version(release) >= _WSL2_MIN_KERNEL
        ):
            return "wsl2", f"kernel {release} ({source}) is a WSL2 kernel{supporting}"
        if "-Microsoft" in release or _version(release) < _WSL2_MIN_KERNEL:
            return "wsl1", f"kernel {release} ({source}) is WSL1's `-Microsoft`{supporting}"
        return "wsl2", f"kernel {release} ({source}) says microsoft, >= 4.19{supporting}"
    if "WSL_INTEROP" in evidence or any(e.startswith("WSLInterop") for e in evidence):
        # a custom kernel (`kernel=` in .wslconfig) need not say microsoft; interop still shows
        return "wsl2", f"kernel {release or '?'} is custom, but WSL interop is present{supporting}"
    origin = f" ({source})" if source else ""
    return "linux", f"Linux kernel {release or '?'}{origin}, not a WSL kernel{supporting}"


def detect_arch(view: HostView, os_class: OsClass) -> tuple[str, str]:
    """The CPU's OCI architecture and why (a Rosetta shell does not hide Apple Silicon)."""
    arch = arch_from_machine(view.machine) or view.machine.lower() or "unknown"
    if os_class == "macos" and view.sysctl("sysctl.proc_translated") == "1":
        # a shell under Rosetta reports x86_64, but the CPU (and Docker Desktop's VM) is arm64
        return "arm64", (
            f"uname -m says {view.machine}, but sysctl.proc_translated=1: this shell runs "
            "under Rosetta 2 on an Apple Silicon (arm64) CPU"
        )
    return arch, f"uname -m is {view.machine}"


def detect_ci(view: HostView) -> tuple[str | None, str]:
    """The CI provider ("github", "gitlab", "ci") or None, and why."""
    env = view.env
    if env.get("GITHUB_ACTIONS") == "true":
        runner = " ".join(filter(None, (env.get("RUNNER_OS"), env.get("RUNNER_ARCH"))))
        return "github", "GITHUB_ACTIONS=true" + (f" ({runner} runner)" if runner else "")
    if env.get("GITLAB_CI") == "true":
        return "gitlab", "GITLAB_CI=true"
    if (env.get("CI") or "").lower() in ("1", "true", "yes"):
        return "ci", f"CI={env.get('CI')}"
    return None, "no CI variables (GITHUB_ACTIONS, GITLAB_CI, CI) are set"
