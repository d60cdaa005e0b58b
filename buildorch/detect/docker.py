"""The engine, buildx and builders, from the docker CLI's own JSON."""

from __future__ import annotations

import json
from typing import Any

from buildorch.engine import EngineProbe
from buildorch.facts import BuilderFacts, BuildxFacts, DockerFacts, ImageStore
from buildorch.platforms import arch_from_machine


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def detect_docker(probe: EngineProbe) -> tuple[DockerFacts, str, str]:
    """Engine facts, why, and why the image store is what it is."""
    if not probe.binary:
        return DockerFacts(binary=False, available=False), "no docker CLI on PATH", ""
    info = _loads(probe.info_json)
    version = _loads(probe.version_json)
    client = info.get("ClientInfo") or version.get("Client") or {}
    context = client.get("Context") if isinstance(client, dict) else None
    server = info.get("ServerVersion") or ""
    if not server:
        error = (probe.info_stderr or "`docker info` gave no server version").strip()
        return (
            DockerFacts(binary=True, available=False, context=context, error=error),
            "the daemon did not answer `docker info`",
            "",
        )
    operating_system = str(info.get("OperatingSystem") or "")
    kernel = str(info.get("KernelVersion") or "")
    desktop = (
        operating_system == "Docker Desktop"
        or info.get("Name") == "docker-desktop"
        or "linuxkit" in kernel
    )
    status = {
        str(pair[0]): str(pair[1])
        for pair in info.get("DriverStatus") or []
        if isinstance(pair, list) and len(pair) == 2
    }
    store: ImageStore = (
        "containerd" if status.get("driver-type") == "io.containerd.snapshotter.v1" else "classic"
    )
    store_why = (
        "docker info: driver-type io.containerd.snapshotter.v1"
        if store == "containerd"
        else f"docker info: storage driver {info.get('Driver') or '?'}, no containerd snapshotter"
    )
    machine = str(info.get("Architecture") or "")
    facts = DockerFacts(
        binary=True,
        available=True,
        desktop=desktop,
        version=server,
        arch=arch_from_machine(machine) or machine or None,
        image_store=store,
        context=context,
        operating_system=operating_system or None,
        kernel=kernel or None,
    )
    kind = "Docker Desktop" if desktop else "a Docker engine"
    return facts, f"{kind} {server} on {operating_system or '?'} ({machine})", store_why


def detect_buildx(probe: EngineProbe) -> tuple[BuildxFacts, tuple[BuilderFacts, ...]]:
    if not probe.binary or probe.buildx_ls is None:
        return BuildxFacts(available=False), ()
    info = _loads(probe.info_json)
    plugins = (info.get("ClientInfo") or {}).get("Plugins") or []
    version = next(
        (
            str(p.get("Version"))
            for p in plugins
            if isinstance(p, dict) and p.get("Name") == "buildx"
        ),
        None,
    )
    context = (info.get("ClientInfo") or {}).get("Context") or "default"
    builders: dict[str, BuilderFacts] = {}
    raw_builders = []
    for line in probe.buildx_ls.splitlines():
        if line.strip():
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            if isinstance(raw, dict) and raw.get("Name") and raw["Name"] not in builders:
                raw_builders.append(raw)
                builders[raw["Name"]] = _builder(raw)
    # buildx < 0.14 has no `Current`: the current builder is then the context's own
    if not any(raw.get("Current") for raw in raw_builders) and context in builders:
        builders[context] = _builder({**_find(raw_builders, context), "Current": True})
    return BuildxFacts(available=True, version=version), tuple(builders.values())


def _find(raws: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(raw for raw in raws if raw.get("Name") == name)


def _builder(raw: dict[str, Any]) -> BuilderFacts:
    nodes = [n for n in raw.get("Nodes") or [] if isinstance(n, dict)]
    platforms: dict[str, None] = {}
    for node in nodes:
        for platform in node.get("Platforms") or []:
            platforms.setdefault(str(platform), None)
    first = nodes[0] if nodes else {}
    return BuilderFacts(
        name=str(raw.get("Name")),
        driver=str(raw.get("Driver") or "?"),
        status=str(first.get("Status") or "unknown"),
        platforms=tuple(platforms),
        current=bool(raw.get("Current")),
        endpoint=str(first.get("Endpoint") or ""),
    )
