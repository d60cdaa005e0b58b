"""All of detection, over one HostView."""

from __future__ import annotations

from buildorch.detect.docker import detect_buildx, detect_contexts, detect_docker
from buildorch.detect.emulation import detect_emulation
from buildorch.detect.filesystem import detect_source
from buildorch.detect.system import detect_arch, detect_ci, detect_os
from buildorch.detect.view import HostView
from buildorch.facts import HostFacts, OsClass, Reason


def detect_system(view: HostView) -> tuple[OsClass, str, str | None]:
    """The OS class, CPU architecture and CI provider: what picks a profile. Asks no engine."""
    os_class, _ = detect_os(view)
    arch, _ = detect_arch(view, os_class)
    ci, _ = detect_ci(view)
    return os_class, arch, ci


def detect_host(
    view: HostView, *, slow_stat_us: float = 30.0, trust_emulator: bool = False
) -> HostFacts:
    """Everything buildorch needs to know about the host, with the reason for each value.
    `trust_emulator`: an emulator of a known-bad version is used all the same.

    Pure over `view`: the same view (live or a snapshot) always gives the same facts.
    """
    os_class, os_why = detect_os(view)
    arch, arch_why = detect_arch(view, os_class)
    ci, ci_why = detect_ci(view)
    probe = view.engine()
    docker, docker_why, store_why = detect_docker(probe)
    buildx, builders, current_how = detect_buildx(view, probe)
    current = next((b for b in builders if b.current), None)
    if current is not None:
        docker_why += f"; current builder `{current.name}` ({current.driver} driver): {current_how}"
    elif buildx.available:
        docker_why += f"; {current_how}"
    emulation, emulation_why = detect_emulation(
        view, os_class, docker, current, arch, trust_emulator=trust_emulator
    )
    source, source_why = detect_source(view, slow_stat_us)
    return HostFacts(
        os=os_class,
        arch=arch,
        ci=ci,
        docker=docker,
        buildx=buildx,
        builders=builders,
        contexts=detect_contexts(probe),
        emulation=emulation,
        source=source,
        reasons=(
            Reason("os", os_why),
            Reason("arch", arch_why),
            Reason("ci", ci_why),
            Reason("docker", docker_why),
            Reason("image_store", store_why),
            Reason("emulation", emulation_why),
            Reason("source", source_why),
        ),
    )
