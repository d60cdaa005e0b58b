"""The engine, buildx and builders, from the docker CLI's own JSON."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from buildorch.detect.view import HostView
from buildorch.engine import EngineProbe
from buildorch.facts import BuilderFacts, BuildxFacts, ContextFacts, DockerFacts, ImageStore
from buildorch.platforms import arch_from_machine

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


def loads_object(text: str | None) -> dict[str, Any]:
    """A JSON object, or {} for anything else (the CLI may print nothing at all)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# what detection reads of `docker info`, and so all a snapshot keeps of it: the rest can name
# proxies, registries and their mirrors, or carry labels a user put on the engine
INFO_FIELDS = ("ServerVersion", "ServerErrors", "OperatingSystem", "KernelVersion", "Name",
               "Driver", "DriverStatus", "Architecture")  # fmt: skip


def info_read(info: dict[str, Any]) -> dict[str, Any]:
    """Of `docker info`'s answer, the fields detection reads (ClientInfo: the context and the
    plugins' names and versions)."""
    kept = {key: info[key] for key in INFO_FIELDS if key in info}
    client = _dict(info.get("ClientInfo"))
    if client:
        plugins = [
            {key: p[key] for key in ("Name", "Version") if key in p}
            for p in client.get("Plugins") or []
            if isinstance(p, dict)
        ]
        kept["ClientInfo"] = {
            key: value
            for key, value in (("Context", client.get("Context")), ("Plugins", plugins))
            if value
        }
    return kept


def _product(version: dict[str, Any]) -> str | None:
    """`docker version`'s Server.Platform.Name: Docker Desktop's own release, for one."""
    server = version.get("Server")
    platform = server.get("Platform") if isinstance(server, dict) else None
    name = platform.get("Name") if isinstance(platform, dict) else None
    return (name.strip() or None) if isinstance(name, str) else None


def _context(info: dict[str, Any], version: dict[str, Any]) -> str | None:
    for client in (_dict(info.get("ClientInfo")), _dict(version.get("Client"))):
        if isinstance(client.get("Context"), str) and client["Context"]:
            return str(client["Context"])
    return None


def _image_store(info: dict[str, Any]) -> tuple[ImageStore, str]:
    # DriverStatus is a list of [key, value] pairs
    pairs = [p for p in info.get("DriverStatus") or [] if isinstance(p, list) and len(p) == 2]
    if ["driver-type", CONTAINERD_SNAPSHOTTER] in pairs:
        return "containerd", (
            f"docker info: DriverStatus has driver-type {CONTAINERD_SNAPSHOTTER} "
            "(the containerd image store: multi-platform images load locally)"
        )
    driver = info.get("Driver") or "?"
    return "classic", (
        f"docker info: storage driver {driver} without the containerd snapshotter "
        "(the classic image store: one platform per local image)"
    )


def detect_docker(probe: EngineProbe) -> tuple[DockerFacts, str, str]:
    """Engine facts, why, and why the image store is what it is."""
    if not probe.binary:
        return (
            DockerFacts(binary=False, available=False),
            "no docker CLI on PATH",
            "no engine, so no image store",
        )
    info = loads_object(probe.info_json)
    version = loads_object(probe.version_json)
    context = _context(info, version)
    server = info.get("ServerVersion")
    if not isinstance(server, str) or not server:
        errors = [str(e) for e in info.get("ServerErrors") or [] if e]
        error = (probe.info_stderr or "").strip() or "; ".join(errors)
        error = error or "`docker info` printed no server version"
        facts = DockerFacts(binary=True, available=False, context=context, error=error)
        where = f" (context {context})" if context else ""
        return facts, f"the daemon{where} did not answer `docker info`", "no engine answered"
    operating_system = str(info.get("OperatingSystem") or "")
    kernel = str(info.get("KernelVersion") or "")
    name = str(info.get("Name") or "")
    signs = [
        sign
        for sign, seen in (
            ("OperatingSystem is Docker Desktop", operating_system == "Docker Desktop"),
            ("Name is docker-desktop", name == "docker-desktop"),
            ("kernel is linuxkit", "linuxkit" in kernel),
        )
        if seen
    ]
    store, store_why = _image_store(info)
    machine = str(info.get("Architecture") or "")
    facts = DockerFacts(
        binary=True,
        available=True,
        desktop=bool(signs),
        version=server,
        arch=(arch_from_machine(machine) or machine.lower()) if machine else None,
        image_store=store,
        context=context,
        operating_system=operating_system or None,
        kernel=kernel or None,
        product=_product(version),
    )
    kind = f"Docker Desktop ({', '.join(signs)})" if signs else "a Docker engine"
    why = f"{kind} {server} on {operating_system or '?'}, kernel {kernel or '?'}, {machine or '?'}"
    return facts, why, store_why


def _platform_name(value: Any) -> str | None:
    """`linux/arm64`; buildx before the JSON node form printed OCI platform objects."""
    if isinstance(value, str):
        return value.strip().rstrip("*") or None
    if isinstance(value, dict):
        parts = [value.get("os") or value.get("OS"), value.get("architecture")]
        parts.append(value.get("variant") or value.get("Variant") or "")
        if parts[1] is None:
            parts[1] = value.get("Architecture")
        if parts[0] and parts[1]:
            return "/".join(str(p) for p in parts if p)
    return None


def _builder(raw: dict[str, Any], current: bool) -> BuilderFacts:
    nodes = [n for n in raw.get("Nodes") or [] if isinstance(n, dict)]
    platforms: dict[str, None] = {}
    native: dict[str, None] = {}
    for node in nodes:
        names = [n for n in map(_platform_name, node.get("Platforms") or []) if n]
        platforms.update(dict.fromkeys(names))
        if names and str(node.get("Status") or "running") == "running":
            native.setdefault(names[0], None)
    first = nodes[0] if nodes else {}
    status = first.get("Status") or ("error" if raw.get("Err") or first.get("Err") else "")
    return BuilderFacts(
        name=str(raw.get("Name")),
        driver=str(raw.get("Driver") or "unknown"),
        status=str(status or "unknown"),
        platforms=tuple(platforms),
        current=current,
        endpoint=str(first.get("Endpoint") or ""),
        native=tuple(native),
    )


def _buildx_current(view: HostView) -> tuple[str, str] | None:
    """(name, key) that `docker buildx use` stored, when it stored one."""
    config = view.env.get("DOCKER_CONFIG") or (
        f"{view.env.get('HOME') or view.env.get('USERPROFILE') or ''}/.docker"
    )
    data = loads_object(view.read_text(f"{config}/buildx/current"))
    name = data.get("Name")
    if not isinstance(name, str) or not name:
        return None
    key = "" if data.get("Global") else str(data.get("Key") or "")
    return name, key


def _pick_current(
    view: HostView, raws: list[dict[str, Any]], context: str | None
) -> tuple[str | None, str]:
    """Which builder `docker buildx build` would use, and how that was decided."""
    names = [str(raw.get("Name")) for raw in raws]
    marked = [str(raw.get("Name")) for raw in raws if raw.get("Current") is True]
    if marked:
        return marked[0], "buildx ls marks it current"
    chosen = view.env.get("BUILDX_BUILDER")
    if chosen and chosen in names:
        return chosen, "BUILDX_BUILDER names it"
    used = _buildx_current(view)
    if used is not None and used[0] in names:
        name, key = used
        host = view.env.get("DOCKER_HOST") or ""
        # the choice is stored per endpoint: the context's name, or the daemon's address
        default_socket = context in (None, "default") and key.startswith(("unix://", "npipe://"))
        if not key or key in (context, host) or default_socket:
            return name, "`docker buildx use` chose it (buildx/current)"
    if context and context in names:
        return context, f"the builder of docker context {context}"
    if "default" in names and context in (None, "default"):
        return "default", "the default context's builder"
    if len(names) == 1:
        return names[0], "the only builder"
    return None, "no current builder could be told"


def detect_buildx(
    view: HostView, probe: EngineProbe
) -> tuple[BuildxFacts, tuple[BuilderFacts, ...], str]:
    """buildx, its builders (the current one marked), and how the current one was picked."""
    info = loads_object(probe.info_json)
    plugins = _dict(info.get("ClientInfo")).get("Plugins") or []
    version = next(
        (
            str(p["Version"])
            for p in plugins
            if isinstance(p, dict) and p.get("Name") == "buildx" and p.get("Version")
        ),
        None,
    )
    if not probe.binary or probe.buildx_ls is None:
        return BuildxFacts(available=False, version=version), (), "buildx is missing"
    raws: list[dict[str, Any]] = []
    for line in probe.buildx_ls.splitlines():
        raw = loads_object(line.strip())
        # a builder can be listed twice (a context and an instance of one name): first wins
        if raw.get("Name") and all(r.get("Name") != raw["Name"] for r in raws):
            raws.append(raw)
    context = _context(info, loads_object(probe.version_json))
    current, how = _pick_current(view, raws, context)
    builders = tuple(_builder(raw, str(raw.get("Name")) == current) for raw in raws)
    return BuildxFacts(available=True, version=version), builders, how


def detect_contexts(probe: EngineProbe) -> tuple[ContextFacts, ...]:
    """Docker contexts, from `docker context ls --format json` (a JSON list before 25)."""
    text = (probe.contexts or "").strip()
    raws: list[Any] = []
    if text.startswith("["):
        with contextlib.suppress(ValueError):
            raws = json.loads(text)
    else:
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                raws.append(json.loads(line))
    return tuple(
        ContextFacts(
            name=str(raw.get("Name")),
            endpoint=str(raw.get("DockerEndpoint") or ""),
            current=bool(raw.get("Current")),
            error=str(raw.get("Error") or ""),
        )
        for raw in raws
        if isinstance(raw, dict) and raw.get("Name")
    )
