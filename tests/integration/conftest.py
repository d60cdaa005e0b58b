"""Integration tests drive real engines, buildx, QEMU, a registry on loopback and FUSE.

In CI (CI=true) a missing engine is a failure, never a skip: `scripts/provision-engine.sh`
brings everything up. On a developer's machine without it, the tests are skipped with why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello-c"
CLASSIC_HOST = os.environ.get("BUILDORCH_CLASSIC_HOST", "unix:///var/run/docker.sock")
CONTAINERD_HOST = os.environ.get(
    "BUILDORCH_CONTAINERD_HOST", "unix:///run/buildorch/containerd-engine/docker.sock"
)
REGISTRY = os.environ.get("BUILDORCH_REGISTRY", "localhost:5000")
TOOLCHAIN = f"{REGISTRY}/buildorch/debian-gcc:bookworm"
BUSYBOX = f"{REGISTRY}/buildorch/busybox:1"
SLOWFS_SOURCE = REPO / "tests" / "slowfs" / "slowfs.c"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def _unavailable(what: str) -> None:
    message = f"{what}; run scripts/provision-engine.sh (root) to bring it up"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _answers(host: str) -> bool:
    result = subprocess.run(
        ["docker", "-H", host, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and bool(result.stdout.strip())


@dataclass(frozen=True)
class Engine:
    name: str
    host: str
    cache: str
    """The tests' own XDG_CACHE_HOME: build history never lands in the real home."""

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDORCH_")}
        env["DOCKER_HOST"] = self.host
        env["XDG_CACHE_HOME"] = self.cache
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def classic(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    if not _answers(CLASSIC_HOST):
        _unavailable(f"no Docker engine answers at {CLASSIC_HOST}")
    return Engine("classic", CLASSIC_HOST, str(tmp_path_factory.mktemp("cache-classic")))


@pytest.fixture(scope="session")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    if not _answers(CONTAINERD_HOST):
        _unavailable(f"no containerd-store engine answers at {CONTAINERD_HOST}")
    return Engine("containerd", CONTAINERD_HOST, str(tmp_path_factory.mktemp("cache-cd")))


@pytest.fixture(params=["classic", "containerd"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(str(request.param))  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def registry(classic: Engine) -> str:
    result = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", TOOLCHAIN],
        capture_output=True,
        text=True,
        check=False,
        env=classic.env(),
    )
    if result.returncode != 0:
        _unavailable(f"the registry on {REGISTRY} does not serve {TOOLCHAIN}: {result.stderr}")
    return REGISTRY


@pytest.fixture(scope="session")
def qemu_aarch64() -> Path:
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    runner = shutil.which("qemu-aarch64-static")
    if not entry.exists() or runner is None:
        _unavailable("QEMU user emulation for aarch64 is not registered")
    assert runner is not None
    return Path(runner)


@pytest.fixture(scope="session")
def slowfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slowfs binary, compiled for this run (libfuse3 headers come with provisioning)."""
    if not Path("/dev/fuse").exists() or shutil.which("fusermount3") is None:
        _unavailable("/dev/fuse and fusermount3 are needed for the slow share")
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True, text=True, check=False
    )
    if flags.returncode != 0:
        _unavailable("the libfuse3 headers (libfuse3-dev, pkg-config) are needed for slowfs")
    binary = tmp_path_factory.mktemp("slowfs") / "slowfs"
    subprocess.run(
        ["cc", "-O2", "-Wall", "-o", str(binary), str(SLOWFS_SOURCE), *flags.stdout.split()],
        check=True,
    )
    return binary


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the example project (tests never write into the repo)."""
    dest = tmp_path / "hello-c"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out", "*.o", "hello"))
    return dest


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(Path(__file__).parent / "registry" / "docker-compose.yml")


@pytest.fixture(scope="session")
def test_registry(registry: str, docker_services: Any) -> str:
    """A registry of the tests' own on an ephemeral loopback port (pytest-docker)."""
    port = docker_services.port_for("registry", 5000)
    address = f"localhost:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    docker_services.wait_until_responsive(check=answers, timeout=60.0, pause=0.5)
    return address


@pytest.fixture
def image_name(test_registry: str) -> Iterator[str]:
    yield f"{test_registry}/buildorch-test/{uuid.uuid4().hex[:12]}"


def _sources_hash() -> str:
    """Every file of the example and the test projects, which the tests copy and build."""
    import hashlib

    digest = hashlib.sha256()
    for root in (REPO / "examples", REPO / "tests" / "integration" / "projects"):
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def _sources_untouched() -> Iterator[None]:
    """Whatever a test does, the sources it started from are byte-identical afterwards."""
    before = _sources_hash()
    yield
    assert _sources_hash() == before, "a test run changed the repository's example sources"
