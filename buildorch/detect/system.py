"""OS class, CPU architecture and CI provider."""

from __future__ import annotations

import re

from buildorch.detect.view import HostView
from buildorch.facts import OsClass
from buildorch.platforms import arch_from_machine


def detect_os(view: HostView) -> tuple[OsClass, str]:
    """The OS class and why."""
    match view.system:
        case "Darwin":
            return "macos", "platform.system() is Darwin"
        case "Windows":
            return "windows", "platform.system() is Windows"
    release = (view.read_text("/proc/sys/kernel/osrelease") or "").strip()
    version = view.read_text("/proc/version") or ""
    kernel = release or version
    if "microsoft" in kernel.lower():
        # WSL1 kernels say `-Microsoft`; WSL2 kernels `-microsoft-standard[-WSL2]`
        if "wsl2" in kernel.lower() or "microsoft-standard" in kernel.lower():
            return "wsl2", f"kernel release {release or version.split()[2:3]} is a WSL2 kernel"
        return "wsl1", f"kernel release {release} is WSL1's (`-Microsoft`)"
    hints = [v for v in ("WSL_DISTRO_NAME", "WSL_INTEROP") if view.env.get(v)]
    if hints:
        return "wsl2", f"{', '.join(hints)} set although the kernel does not say microsoft"
    return "linux", f"Linux kernel {release or '?'}"


def detect_arch(view: HostView, os_class: str) -> tuple[str, str]:
    arch = arch_from_machine(view.machine) or view.machine
    if os_class == "macos" and view.sysctl("sysctl.proc_translated") == "1":
        # a shell under Rosetta reports x86_64, but the CPU (and Docker Desktop) is arm64
        return "arm64", "uname says x86_64 but sysctl.proc_translated=1: Rosetta on Apple Silicon"
    return arch, f"uname -m is {view.machine}"


def detect_ci(view: HostView) -> tuple[str | None, str]:
    env = view.env
    if env.get("GITHUB_ACTIONS") == "true":
        runner = " ".join(filter(None, (env.get("RUNNER_OS"), env.get("RUNNER_ARCH"))))
        return "github", f"GITHUB_ACTIONS=true {runner}".strip()
    if env.get("GITLAB_CI"):
        return "gitlab", "GITLAB_CI is set"
    if re.fullmatch(r"(?i)1|true|yes", env.get("CI", "")):
        return "ci", "CI is set"
    return None, "no CI variables"
