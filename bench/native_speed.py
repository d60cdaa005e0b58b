"""Foreign-architecture builds at native speed, on real third-party code, side by side.

    bench/fetch-sources.sh lua5.4 golang-toml crate:xml-rs crate:hexyl   # once: Debian's sources
    python bench/native_speed.py [--project lua] [--rounds 3] [--toolchain IMAGE]

For each project, in one run on this machine:
- cold: native amd64 (the project's plain Dockerfile), arm64 the naive way (the same plain
  Dockerfile, so the compiler runs under QEMU), and arm64 through buildorch (its template:
  cross-compiled on the build platform, with ccache or sccache);
- warm: the same three again after a one-line change in one source file.

The build cache is pruned before each cold round (`docker buildx prune --all`: layers and
cache mounts), then the base images are fetched again outside the timings, as a developer's
machine has them: run it on a machine whose cache you can spare. Each arm64 result
is checked: an aarch64 ELF that passes the project's smoke test, run under QEMU in an arm64
container.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "bench" / ".sources"
TEMPLATES = REPO / "dockerfiles"

# the projects' plain Dockerfiles: one stage that compiles on the target platform
PLAIN_MAKE = """\
ARG TOOLCHAIN_IMAGE=debian:bookworm
FROM ${{TOOLCHAIN_IMAGE}} AS build
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" {make_args}
FROM scratch
COPY --from=build /src/{artifact} /
"""
PLAIN_GO = """\
ARG TOOLCHAIN_IMAGE=golang:bookworm
FROM ${{TOOLCHAIN_IMAGE}} AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /out/ {package}
FROM scratch
COPY --from=build /out/ /
"""
PLAIN_RUST = """\
ARG TOOLCHAIN_IMAGE=rust:bookworm
FROM ${{TOOLCHAIN_IMAGE}} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin {bin}
FROM scratch
COPY --from=build /src/target/release/{bin} /
"""


@dataclass(frozen=True)
class Project:
    source: str
    template: str
    plain: str
    """The project's plain Dockerfile."""
    template_args: dict[str, str]
    artifact: str
    edit: str
    """The file a one-line change goes into for the warm round."""
    edit_line: str
    """That line, with {} for a fresh value (it must change the compiled code)."""
    smoke: tuple[str, ...]
    """Arguments of the smoke test; the sources are at /src."""
    expect: str
    plain_image: str | None = None
    """The image the plain Dockerfile builds on, when the stock C one has no such compiler."""

    @property
    def binary(self) -> str:
        return Path(self.artifact).name


TOOLCHAIN = "localhost:5000/buildorch/toolchain:bookworm"

PROJECTS = {
    "lua": Project(
        source="lua5.4",
        template="c-make.Dockerfile",
        plain=PLAIN_MAKE.format(make_args="linux", artifact="src/lua"),
        template_args={"MAKE_ARGS": "linux", "ARTIFACT": "src/lua"},
        artifact="src/lua",
        edit="src/lua.c",
        edit_line='static const char *bench_edit = "{}";',
        smoke=("-e", "local t = {} for i = 1, 10 do t[i] = i * i end print(table.concat(t, ','))"),
        expect="1,4,9,16,25,36,49,64,81,100",
    ),
    # BurntSushi/toml (Debian's golang-toml): its tomlv command validates TOML files
    "toml": Project(
        source="golang-toml",
        template="go.Dockerfile",
        plain=PLAIN_GO.format(package="./cmd/tomlv"),
        template_args={"PACKAGE": "./cmd/tomlv", "GO_IMAGE": TOOLCHAIN},
        artifact="tomlv",
        edit="decode.go",
        edit_line='var benchEdit = "{}"',
        smoke=("-types", "/src/_example/example.toml"),
        expect="servers.alpha.enabled",
        plain_image=TOOLCHAIN,
    ),
    # the xml-rs crate (Debian's librust-xml-rs-dev): its xml-analyze command
    "xml-rs": Project(
        source="xml-rs",
        template="rust.Dockerfile",
        plain=PLAIN_RUST.format(bin="xml-analyze"),
        template_args={"RUST_IMAGE": TOOLCHAIN, "BIN": "xml-analyze"},
        artifact="xml-analyze",
        edit="src/analyze.rs",
        edit_line='#[allow(dead_code)] const BENCH_EDIT: &str = "{}";',
        smoke=("/src/tests/documents/sample_1.xml",),
        expect="Elements:",
        plain_image=TOOLCHAIN,
    ),
    # hexyl 0.8 (Debian's librust-hexyl-dev), a small program on clap 2 and a dozen more crates
    # vendored from Debian; its release profile links with LTO (codegen-units = 1)
    "hexyl": Project(
        source="hexyl",
        template="rust.Dockerfile",
        plain=PLAIN_RUST.format(bin="hexyl"),
        template_args={"RUST_IMAGE": TOOLCHAIN, "BIN": "hexyl"},
        artifact="hexyl",
        edit="src/bin/hexyl.rs",
        edit_line='#[allow(dead_code)] const BENCH_EDIT: &str = "{}";',
        smoke=("--color=never", "--length=16", "/src/Cargo.toml"),
        expect="00000000",
        plain_image=TOOLCHAIN,
    ),
}

ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


def run_build(project_dir: Path, args: list[str]) -> float:
    result = subprocess.run(
        [sys.executable, "-m", "buildorch", "build", "-C", str(project_dir), "--json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"build failed ({' '.join(args)}):\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)["report"]
    for build in report["builds"]:
        for cache in build.get("compiler_cache", []):
            print(f"    compiler cache: {cache['hits']} hits, {cache['misses']} misses")
        for step in build.get("slowest", [])[:2]:
            print(f"    {step['seconds']:6.1f}s {step['step'][:70]}")
    return float(sum(build["seconds"] for build in report["builds"]))


def check_arm64(binary: Path, project: Project, image: str, sources: Path) -> None:
    machine = int.from_bytes(binary.read_bytes()[18:20], "little")
    if ELF_MACHINES.get(machine) != "aarch64":
        sys.exit(f"{binary} is not an aarch64 ELF (e_machine {machine})")
    # run under QEMU in an arm64 image, for the C library a dynamic binary needs
    out = subprocess.run(
        ["docker", "run", "--rm", "--platform", "linux/arm64", "-v", f"{sources}:/src:ro",
         "-v", f"{binary}:/usr/local/bin/{binary.name}:ro", image, binary.name, *project.smoke],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if project.expect not in out.stdout:
        sys.exit(f"smoke test of {binary} failed: {out.stdout!r} {out.stderr!r}")


def bench(
    name: str, project: Project, toolchain: str, plain_image: str, scratch: Path, rounds: int
) -> dict[str, float]:
    """Median seconds of each way over `rounds` runs, each from a fresh copy and empty caches."""
    runs = [
        bench_once(name, project, toolchain, plain_image, scratch / f"round-{n}")
        for n in range(rounds)
    ]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def bench_once(
    name: str, project: Project, toolchain: str, plain_image: str, scratch: Path
) -> dict[str, float]:
    source = SOURCES / project.source
    if not source.is_dir():
        sys.exit(f"no sources for {name}: run bench/fetch-sources.sh {project.source}")
    work = scratch / name
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, work)
    (work / "Dockerfile.plain").write_text(project.plain)
    image = project.plain_image or plain_image
    plain = ["-f", "Dockerfile.plain", "--build-arg", f"TOOLCHAIN_IMAGE={image}"]
    template = ["-f", str(TEMPLATES / project.template),
                "--build-arg", f"TOOLCHAIN_IMAGE={toolchain}"]  # fmt: skip
    for key, value in project.template_args.items():
        template += ["--build-arg", f"{key}={value}"]
    ways = {
        "native amd64": [*plain, "--target", "amd64", "--strategy", "native"],
        "arm64 naive (QEMU)": [*plain, "--target", "arm64"],
        "arm64 buildorch": [*template, "--target", "arm64"],
    }
    # cold means cold: no layer (a crate's dependency layer is the point of the warm round)
    # and no cache mount (ccache, sccache, Go's build cache) left from an earlier round or run
    subprocess.run(
        ["docker", "buildx", "prune", "--all", "--force"], capture_output=True, check=False
    )
    # but the base images stay as a developer's machine has them: fetched before the clock
    for base in dict.fromkeys((image, toolchain)):
        for arch in ("amd64", "arm64"):
            subprocess.run(
                ["docker", "buildx", "build", "--platform", f"linux/{arch}", "-"],
                input=f"FROM {base}\nRUN true\n", text=True, capture_output=True, check=True,
            )  # fmt: skip
    times: dict[str, float] = {}
    for round_ in ("cold", "warm"):
        if round_ == "warm":
            with (work / project.edit).open("a") as edited:
                edited.write("\n" + project.edit_line.format(uuid.uuid4().hex) + "\n")
        # a new file in the context makes every build start from the sources again
        (work / ".bench-round").write_text(uuid.uuid4().hex)
        for way, args in ways.items():
            out = scratch / f"{name}-{round_}-{way.split()[0]}-{uuid.uuid4().hex[:6]}"
            print(f"  {round_:4} {way} ...", flush=True)
            times[f"{round_} {way}"] = run_build(work, [*args, "-o", str(out)])
            if way.startswith("arm64"):
                check_arm64(out / project.binary, project, image, work)
    return times


def report(name: str, times: dict[str, float]) -> None:
    native = times["cold native amd64"]
    print(f"\n{name}: median seconds, and ratio to the cold native amd64 build")
    for key, seconds in times.items():
        print(f"  {key:28} {seconds:7.1f}s {seconds / native:6.2f}x")
    naive, ours = times["cold arm64 naive (QEMU)"], times["cold arm64 buildorch"]
    print(f"  arm64 through buildorch: {ours / native:.2f}x native, {naive / ours:.1f}x faster "
          f"than the naive arm64 build")  # fmt: skip
    print(f"  warm rebuild through buildorch: {times['warm arm64 buildorch'] / ours:.0%} of cold")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--project", choices=sorted(PROJECTS), action="append")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each way (median)")
    parser.add_argument(
        "--toolchain",
        default=TOOLCHAIN,
        help="the image buildorch's template compiles in",
    )
    parser.add_argument(
        "--plain-image",
        default="localhost:5000/buildorch/debian-gcc:bookworm",
        help="the stock image the project's plain Dockerfile builds on",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="buildorch-bench-") as scratch:
        for name in args.project or sorted(PROJECTS):
            print(f"{name}:", flush=True)
            times = bench(
                name, PROJECTS[name], args.toolchain, args.plain_image, Path(scratch), args.rounds
            )
            report(name, times)


if __name__ == "__main__":
    main()
