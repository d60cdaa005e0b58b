"""Host detection: the only code that reads /proc, the environment, sysctl, Docker Desktop's
settings and docker's own answers. Pure over a HostView, so recorded hosts replay anywhere."""

from __future__ import annotations

from buildorch.detect.host import detect_host, detect_system
from buildorch.detect.snapshot import SnapshotHost, load_snapshot, save_snapshot
from buildorch.detect.view import HostView, LiveHost

__all__ = [
    "HostView",
    "LiveHost",
    "SnapshotHost",
    "detect_host",
    "detect_system",
    "load_snapshot",
    "save_snapshot",
]
