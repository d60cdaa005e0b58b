"""Every template builds a real project for both targets, with the locally built toolchain."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Engine
from tests.integration.helpers import Run, buildorch, elf_machine

PROJECTS = Path(__file__).parent / "projects"
TEMPLATES = REPO / "dockerfiles"
ARCH_NAMES = {"amd64": "x86_64", "arm64": "aarch64"}

# template, fixture project, extra build args, artefact (relative to the output), answer
CASES = [
    ("c-make.Dockerfile", REPO / "examples" / "hello-c",
     {"MAKE_ARGS": "hello", "ARTIFACT": "hello"}, "hello", "9592 primes below 100000"),
    ("c-cmake.Dockerfile", PROJECTS / "hello-cmake", {}, "usr/bin/hello-cmake", "385"),
    ("c-autotools.Dockerfile", PROJECTS / "hello-autotools", {}, "usr/bin/hello-autotools",
     "5050"),
    ("go.Dockerfile", PROJECTS / "hello-go", {}, "hello-go", "3025"),
    ("rust.Dockerfile", PROJECTS / "hello-rust", {}, "hello-rust", "511524"),
    # dependencies vendored (`cargo vendor`): builds have no network, so this proves they
    # reach the dependency layer
    ("rust.Dockerfile", PROJECTS / "hello-rust-vendored", {}, "hello-rust-vendored", "500500"),
]  # fmt: skip


@pytest.fixture(scope="session")
def toolchain(registry: str, classic: Engine) -> str:
    image = f"{registry}/buildorch/toolchain:bookworm"
    found = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", image],
        capture_output=True,
        check=False,
        env=classic.env(),
    )
    if found.returncode != 0:
        pytest.fail(f"{image} is missing: run scripts/provision-engine.sh")
    return image


def _run(binary: Path, arch: str, registry: str, engine: Engine) -> str:
    if arch == "amd64":
        return subprocess.run([binary], capture_output=True, text=True, check=True).stdout
    # arm64 programs run in the arm64 base image, under QEMU, with its C library
    return subprocess.run(
        ["docker", "run", "--rm", "--platform", "linux/arm64", "-v", f"{binary}:/artefact:ro",
         f"{registry}/buildorch/debian-gcc:bookworm", "/artefact"],
        capture_output=True, text=True, check=True, env=engine.env(),
    ).stdout  # fmt: skip


# each case for both targets, but Go's natively: its template's dependency layer compiles the
# whole standard library for the target (30 s on 2 cores), and the native build is the same
# Dockerfile with the build machine's GOARCH; nor the vendored Rust project's, whose template's
# native build hello-rust's makes
BUILDS = [
    pytest.param(*case, arch, id=f"{case[1].name}-{arch}")
    for case in CASES
    for arch in ("amd64", "arm64")
    if arch == "arm64" or case[1].name not in ("hello-go", "hello-rust-vendored")
]


@pytest.mark.parametrize(("template", "source", "args", "artefact", "answer", "arch"), BUILDS)
def test_template_builds_for_both_targets(
    template: str,
    source: Path,
    args: dict[str, str],
    artefact: str,
    answer: str,
    arch: str,
    classic: Engine,
    registry: str,
    toolchain: str,
    tmp_path: Path,
) -> None:
    project = tmp_path / source.name
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("out", "target"))
    # a file no earlier run had: the compile step runs (and reports its cache) every time
    (project / ".test-run").write_text(uuid.uuid4().hex)
    out = tmp_path / "out"
    build_args = {"TOOLCHAIN_IMAGE": toolchain, "GO_IMAGE": toolchain, "RUST_IMAGE": toolchain}
    build_args.update(args)
    flags = [
        flag for key, value in build_args.items() for flag in ("--build-arg", f"{key}={value}")
    ]
    run = buildorch(
        "build", "-C", str(project), "-f", str(TEMPLATES / template), "--target", arch,
        "-o", str(out), "--json", *flags, env=classic.env(),
    )  # fmt: skip
    assert run.code == 0, run.err[-4000:]
    step = run.json()["plan"]["steps"][0]
    assert step["strategy"] == ("native" if arch == "amd64" else "cross")
    if template.startswith("c-"):  # every compile went through ccache, and the summary says so
        (cache,) = run.json()["report"]["builds"][0]["compiler_cache"]
        assert cache["hits"] + cache["misses"] > 0, cache
    binary = out / artefact
    assert elf_machine(binary) == ARCH_NAMES[arch]
    printed = _run(binary, arch, registry, classic)
    assert answer in printed
    assert arch in printed or ARCH_NAMES[arch] in printed  # Go says arm64, C says aarch64


@pytest.fixture
def decoy_sccache_port() -> Iterator[None]:
    """Something else on sccache's default port of the host's loopback (a host's own sccache,
    another build's step): it accepts and hangs up."""
    server = socket.create_server(("127.0.0.1", 4226))
    server.settimeout(0.2)
    stop = threading.Event()

    def hang_up() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
    server.close()


@pytest.mark.usefixtures("decoy_sccache_port")
def test_rust_template_on_the_hosts_network_keeps_its_own_sccache(
    classic: Engine, registry: str, toolchain: str, tmp_path: Path
) -> None:
    _build_hello_rust_for_arm64(classic, registry, toolchain, tmp_path)


def _build_hello_rust_for_arm64(
    classic: Engine, registry: str, rust_image: str, tmp_path: Path
) -> Run:
    """hello-rust through the Rust template on the host's network, checked on arm64."""
    project = tmp_path / "hello-rust"
    shutil.copytree(PROJECTS / "hello-rust", project, ignore=shutil.ignore_patterns("target"))
    (project / ".test-run").write_text(uuid.uuid4().hex)
    out = tmp_path / "out"
    run = buildorch(
        "build", "-C", str(project), "-f", str(TEMPLATES / "rust.Dockerfile"), "--target",
        "arm64", "--network", "host", "-o", str(out), "--build-arg", f"RUST_IMAGE={rust_image}",
        env=classic.env(),
    )  # fmt: skip
    assert run.code == 0, run.err[-4000:]
    assert "511524" in _run(out / "hello-rust", "arm64", registry, classic)
    return run


def test_rust_template_whose_sccache_server_cannot_start_compiles_without_it(
    classic: Engine, registry: str, toolchain: str, tmp_path: Path
) -> None:
    # a server that does not come up (here the image's sccache config is broken; on a loaded
    # machine, one slower than sccache's 10 s) would fail cargo's first rustc
    broken = f"{registry}/buildorch-test/broken-sccache:{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {toolchain}\n"
        "RUN mkdir -p /root/.config/sccache && echo '[cache.disk' >/root/.config/sccache/config\n"
    )
    pushed = subprocess.run(
        ["docker", "buildx", "build", "--platform", "linux/amd64", "-t", broken, "--push",
         str(tmp_path)],
        capture_output=True, text=True, check=False, env=classic.env(),
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    run = _build_hello_rust_for_arm64(classic, registry, broken, tmp_path)
    assert "sccache's server did not start: compiling without sccache" in run.out + run.err
