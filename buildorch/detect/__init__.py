"""Host detection: the only code that reads /proc, the environment, sysctl and docker's
own answers. Pure over a HostView, so recorded hosts replay anywhere."""

from __future__ import annotations

from buildorch.detect.docker import detect_buildx, detect_docker
from buildorch.detect.emulation import detect_emulation
from buildorch.detect.filesystem import detect_source
from buildorch.detect.snapshot import SnapshotHost, load_snapshot, save_snapshot
from buildorch.detect.system import detect_arch, detect_ci, detect_os
from buildorch.detect.view import HostView, LiveHost
from buildorch.facts import HostFacts

__all__ = [
    "HostView",
    "LiveHost",
    "SnapshotHost",
    "detect_host",
    "load_snapshot",
    "save_snapshot",
]


def detect_host(view: HostView, *, slow_stat_us: float = 30.0) -> HostFacts:
    """Everything buildorch needs to know about the host, with the reason for each value."""
    os_class, os_why = detect_os(view)
    arch, arch_why = detect_arch(view, os_class)
    ci, ci_why = detect_ci(view)
    probe = view.engine()
    docker, docker_why, store_why = detect_docker(probe)
    buildx, builders = detect_buildx(probe)
    current = next((b for b in builders if b.current), None)
    emulation, emulation_why = detect_emulation(view, docker, current, arch)
    source, source_why = detect_source(view, slow_stat_us)
    return HostFacts(
        os=os_class,
        arch=arch,
        ci=ci,
        docker=docker,
        buildx=buildx,
        builders=builders,
        emulation=emulation,
        source=source,
        reasons=(
            ("os", os_why),
            ("arch", arch_why),
            ("ci", ci_why),
            ("docker", docker_why),
            ("image_store", store_why),
            ("emulation", emulation_why),
            ("source", source_why),
        ),
    )
