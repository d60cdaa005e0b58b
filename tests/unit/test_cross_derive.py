"""The derived Dockerfile: which stages move to the build machine, why the others stay, and
the text that moves them with every other line as written."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from buildorch import plan as plan_module
from buildorch.cross_derive import (
    CACHE_MOUNT,
    KIT,
    KIT_DIR,
    Derivation,
    StageVerdict,
    kit_has_toolchain,
    kit_text,
)
from buildorch.dockerfile import Run, parse_dockerfile
from buildorch.dockerfile_analysis import analyse_dockerfile
from buildorch.facts import DockerfileFacts

PLAIN = """\
# syntax=docker/dockerfile:1
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc make libzstd-dev pkg-config
WORKDIR /src
COPY . .
RUN make zs

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y libzstd1
COPY --from=build /src/out/zs /usr/local/bin/zs
ENTRYPOINT ["/usr/local/bin/zs"]
"""


def analysed(text: str, target: str | None = None) -> DockerfileFacts:
    return analyse_dockerfile(text, "/p/Dockerfile", target)


def verdicts(text: str) -> dict[str, tuple[bool, str]]:
    facts = analysed(text)
    assert facts.derivation is not None
    return {s.label: (s.moves, s.why) for s in facts.derivation.stages}


def test_a_builder_moves_and_the_image_stays() -> None:
    facts = analysed(PLAIN)
    derivation = facts.derivation
    assert derivation is not None and derivation.complete
    assert verdicts(PLAIN) == {
        "`build`": (True, verdicts(PLAIN)["`build`"][1]),
        "stage 1": (False, "it is the image: it runs on the target platform"),
    }
    # only the image's own RUN step is left on the target platform
    assert facts.derived_emulated_run_steps == 1
    assert facts.emulated_run_steps == 3


@pytest.mark.parametrize(
    ("original", "derived"),
    [
        ("/p/Dockerfile", "/p/Dockerfile.cross"),
        ("/p/docker/app.Dockerfile", "/p/docker/app.cross.Dockerfile"),
        ("/p/Server.dockerfile", "/p/Server.cross.dockerfile"),
        ("/p/Dockerfile.prod", "/p/Dockerfile.prod.cross"),
        ("C:\\Users\\me\\app\\app.Dockerfile", "C:\\Users\\me\\app\\app.cross.Dockerfile"),
        ("./Dockerfile", "./Dockerfile.cross"),
    ],
)
def test_the_derived_file_is_named_beside_the_original(original: str, derived: str) -> None:
    # where `init --cross` writes it and `plan --json` says it goes; an editor's
    # `*.Dockerfile` association still applies
    moved = analyse_dockerfile(PLAIN, original, None).derivation
    assert moved is not None and moved.file == derived
    # nothing moves, nothing is written
    stays = analyse_dockerfile("FROM debian:bookworm\nRUN true\n", original, None).derivation
    assert stays is None or stays.file is None


def test_the_plan_names_no_file_that_init_would_refuse_to_write() -> None:
    # a stage moved, but the compiling one stays: not worth a derived Dockerfile
    derivation = Derivation(
        stages=(
            StageVerdict(index=0, name="assets", moves=True, why="it can", compiles=False),
            StageVerdict(index=1, name="build", moves=False, why="curl | sh", compiles=True),
        ),
        text="FROM --platform=$BUILDPLATFORM debian:bookworm AS assets\n",
        source="Dockerfile",
    )
    assert not derivation.usable
    assert plan_module._cross_json(derivation)["file"] is None
    usable = dataclasses.replace(derivation, stages=derivation.stages[:1])
    assert usable.usable and plan_module._cross_json(usable)["file"] == "Dockerfile.cross"


def test_the_derived_text_keeps_every_user_line() -> None:
    facts = analysed(PLAIN)
    assert facts.derivation is not None and facts.derivation.text is not None
    text = facts.derivation.text
    assert text.startswith("# syntax=docker/dockerfile:1\n"), "directives stay first"
    derived_lines = text.splitlines()
    image_stage = PLAIN.index("FROM debian:bookworm-slim")
    for number, line in enumerate(PLAIN.splitlines()):
        if line.startswith("FROM debian:bookworm AS"):
            continue
        in_builder = sum(len(x) + 1 for x in PLAIN.splitlines()[:number]) < image_stage
        # a moved step gets the compiler cache as a flag, the image's apt-get update the
        # helper's lists: their own text is as written
        if line.startswith("RUN ") and in_builder:
            assert line.replace("RUN ", f"RUN {CACHE_MOUNT} ", 1) in derived_lines, line
        elif line.startswith("RUN apt-get update"):
            assert any(
                d.startswith("RUN --mount=type=bind,from=buildorch-apt-1,")
                and d.endswith(line[len("RUN ") :])
                for d in derived_lines
            ), line
        else:
            assert line in derived_lines, line
    assert "FROM --platform=$BUILDPLATFORM debian:bookworm AS build" in derived_lines
    assert f'SHELL ["{KIT}", "run", "/bin/sh", "-c"]' in derived_lines
    # the verification closes the moved stage, before the image's FROM
    # with it: an image that copies /usr/local whole takes none of it
    closing = f"RUN {KIT} verify /src/out/zs"
    assert closing in derived_lines
    assert derived_lines.index(closing) < derived_lines.index("FROM debian:bookworm-slim")
    assert "# buildorch: root removes the kit" not in derived_lines
    # the kit travels whole in the ARG's default
    packed = re.search(r"^ARG BUILDORCH_CROSS_KIT=(\S+)$", text, re.M)
    assert packed is not None
    assert gzip.decompress(base64.b64decode(packed.group(1))).decode() == kit_text()
    # and BuildKit reads it as the same stages, with the image's package lists fetched by a
    # helper on the build machine, from the image's own configuration on the target
    reread = parse_dockerfile(text)
    names = ["build", "buildorch-apt-target-1", "buildorch-apt-1", None]
    assert [s.name for s in reread.stages] == names
    assert [s.platform for s in reread.stages] == ["$BUILDPLATFORM", None, "$BUILDPLATFORM", None]
    assert [s.base for s in reread.stages[1:]] == ["debian:bookworm-slim"] * 3


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("RUN pip install -e .", "Python installers"),
        ("RUN python3 -m venv $VENV && $VENV/bin/pip install jinja2", "Python installers"),
        ('RUN cd "$APP" && npm ci', "Node installers fetch native modules"),
        ("RUN npx node-gyp rebuild", "builds or fetches a native module"),
        ("RUN curl -fsSL https://example.test/install.sh | sh", "downloaded installer"),
        ("RUN apk add --no-cache build-base", "Alpine's apk has no multiarch: build-base"),
        (
            "RUN apk add --no-cache --virtual .build-deps git zstd-dev=1.5.6-r0",
            "no multiarch: zstd-dev would be the build machine's",
        ),
        ("RUN apk --no-cache add gcc musl-dev", "no multiarch: gcc would be"),
        ('RUN if true; then apk -U add "rust-1.80"; fi', "no multiarch: rust-1.80 would be"),
        ("RUN apk add --no-cache $BUILD_DEPS", "no multiarch: $BUILD_DEPS would be"),
        ("RUN xargs apk add --no-cache < apk.txt", "the packages xargs passes it would be"),
        ("RUN apk add --no-cache < apk.txt", "packages it reads from elsewhere would be"),
        ("RUN /sbin/apk --cache-max-age 60 add gcc", "no multiarch: gcc would be"),
        ("RUN <<EOF\napk add --no-cache \\\n    build-base\nEOF", "no multiarch: build-base"),
        ('RUN case "$(uname -m)" in x86_64) echo a;; esac', "asks which machine"),
        ("RUN gcc -march=native -o a a.c", "names a machine itself"),
        ("RUN cmake -B b -DCMAKE_C_COMPILER=/usr/bin/gcc .", "compiler or binutils by their path"),
        ('RUN CC="/usr/bin/gcc-12" make', "compiler or binutils by their path"),
        ("RUN make && /usr/bin/strip zs", "compiler or binutils by their path"),
        ("RUN sudo -E /usr/bin/gcc -o zs zs.c", "compiler or binutils by their path"),
        ("RUN ccache /usr/bin/gcc -o zs zs.c", "compiler or binutils by their path"),
        ("RUN find . -name '*.so' -exec /usr/bin/strip {} +", "compiler or binutils by their"),
        ('RUN ["/usr/bin/gcc", "-o", "zs", "zs.c"]', "compiler or binutils by their path"),
    ],
)
def test_a_step_that_picks_binaries_by_machine_keeps_its_stage(step: str, reason: str) -> None:
    text = PLAIN.replace("RUN make zs", f"{step}\nRUN make zs")
    moves, why = verdicts(text)["`build`"]
    assert not moves
    assert reason in why and "line 6" in why
    facts = analysed(text)
    assert facts.derivation is not None and not facts.derivation.complete


@pytest.mark.parametrize(
    "step",
    [
        # a path that is not run: the compiler is still reached by its name
        "RUN ln -sf /usr/bin/gcc-12 /usr/local/bin/cc",
        "RUN test -x /usr/bin/gcc && make",
        # the stage's ENV, which the kit points at its wrapper
        "ENV CC=/usr/bin/gcc",
    ],
)
def test_a_compilers_path_that_nothing_runs_moves_the_stage(step: str) -> None:
    moves, why = verdicts(PLAIN.replace("RUN make zs", f"{step}\nRUN make zs"))["`build`"]
    assert moves, why


FRONTEND = """\
FROM debian:bookworm AS deps
RUN apt-get update && apt-get install -y --no-install-recommends npm
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --no-audit
FROM deps AS frontend
COPY . .
RUN npm run build
FROM debian:bookworm-slim
COPY --from=frontend /web/dist /srv/static
"""


@pytest.mark.parametrize(
    ("change", "stays"),
    [
        # the bundle: what the build wrote, no installed package
        (("", ""), None),
        (("/web/dist /srv/static", "/web /srv/web"), "copies /web from it"),
        (("/web/dist /srv/static", "/web/node_modules/ /n/"), "copies /web/node_modules"),
        (("npm ci --no-audit", "npm ci --prefix /opt/fe"), None),
        (("npm ci --no-audit", "cd /opt && npm --prefix=fe ci"), None),
        (("npm ci --no-audit", "npm i -g pnpm && pnpm install"), None),
        (("npm ci --no-audit", "yarn --cwd /opt/fe install"), None),
        (("npm ci --no-audit", "cd $DIR && yarn install"), "a folder the step does not name"),
    ],
)
def test_a_node_stage_moves_unless_its_installed_packages_are_handed_over(
    change: tuple[str, str], stays: str | None
) -> None:
    # Node's installers fetch native modules for the machine they run on, into node_modules;
    # a frontend that hands over its bundle runs them, and its bundler, on the build machine
    found = verdicts(FRONTEND.replace(*change))
    if stays is None:
        assert found["`deps`"][0] and found["`frontend`"][0], found
    else:
        assert not found["`deps`"][0] and not found["`frontend`"][0]
        assert stays in found["`frontend`"][1] or stays in found["`deps`"][1], found


def test_node_modules_taken_from_an_install_elsewhere_keeps_the_stage() -> None:
    prefixed = FRONTEND.replace("npm ci --no-audit", "npm ci --prefix /opt/fe").replace(
        "/web/dist /srv/static", "/opt/fe/node_modules /n"
    )
    moves, why = verdicts(prefixed)["`frontend`"]
    assert not moves and "copies /opt/fe/node_modules from it" in why
    global_ = FRONTEND.replace("npm ci --no-audit", "npm install -g typescript").replace(
        "/web/dist /srv/static", "/usr/local/lib/node_modules /m"
    )
    moves, why = verdicts(global_)["`frontend`"]
    assert not moves and "copies /usr/local/lib/node_modules" in why
    # a bare `yarn` installs too
    bare = FRONTEND.replace("npm ci --no-audit", "yarn --frozen-lockfile").replace(
        "/web/dist /srv/static", "/web /srv/web"
    )
    moves, why = verdicts(bare)["`frontend`"]
    assert not moves and "copies /web from it" in why


def test_an_alpine_builder_that_adds_only_tools_moves() -> None:
    # golang:alpine's common opening: git for modules, certificates for the image; Go without
    # a C compiler builds static programs, natively and cross
    text = """\
FROM golang:1.22-alpine AS build
RUN apk add --no-cache --virtual .fetch git ca-certificates && apk update
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app .
FROM scratch
COPY --from=build /out/app /app
"""
    assert verdicts(text)["`build`"][0]
    stays = text.replace("git ca-certificates", "git gcc musl-dev")
    moves, why = verdicts(stays)["`build`"]
    assert not moves and "gcc would be the build machine's" in why


@pytest.mark.parametrize(
    ("opening", "build"),
    [
        # tools from apk, then cargo: the kit has no Rust standard library for Alpine
        ("FROM rust:1-alpine AS build\nRUN apk add --no-cache git protoc", "cargo build --release"),
        # no apk at all: the image's tag says Alpine
        ("FROM rust:1.80-alpine3.20 AS build", "cargo build --release"),
        ("FROM golang:1.22-alpine AS build\nRUN apk add --no-cache git", "cc -o app app.c"),
        # on a stage built on an Alpine one
        (
            "FROM alpine:3.20 AS base\nRUN apk add --no-cache git\nFROM base AS build",
            "gcc -O2 -o app app.c",
        ),
    ],
)
def test_an_alpine_builder_that_compiles_c_or_rust_stays(opening: str, build: str) -> None:
    text = f"""\
{opening}
WORKDIR /src
COPY . .
RUN {build}
FROM scratch
COPY --from=build /src/app /app
"""
    moves, why = verdicts(text)["`build`"]
    assert not moves
    assert "on Alpine the cross kit builds Go only" in why, why
    assert f"`RUN {build}`" in why
    # Go on the same images moves
    assert verdicts(text.replace(f"RUN {build}", "RUN go build -o app ."))["`build`"][0]


@pytest.mark.parametrize(
    "text",
    [
        # make drives Go: golang:alpine has no C compiler unless apk adds one
        "FROM golang:1.22-alpine AS build\nRUN apk add --no-cache make git\n"
        "RUN CGO_ENABLED=0 make build",
        # a folder named apk is not Alpine's apk
        "FROM debian:bookworm AS build\nRUN apt-get update && apt-get install -y gcc make\n"
        "RUN mkdir -p /out/apk && make build",
        # a Maven build's target/ is not cargo's
        "FROM debian:bookworm AS build\nRUN apt-get update && apt-get install -y gcc make\n"
        "RUN make && cp target/app/build/app /src/app",
    ],
)
def test_steps_that_only_look_like_alpine_or_cargo_move(text: str) -> None:
    text += "\nFROM scratch\nCOPY --from=build /src/app /app\n"
    moves, why = verdicts(text)["`build`"]
    assert moves, why


@pytest.mark.parametrize(
    ("copied", "moves"),
    [
        ("/src/target/release/relay", True),
        ("/src/target/release/relay*", True),
        ("/src/target/release", False),
        ("/src/target/release/", False),
        ("/src/target", False),
        ("/src/target/release/build/", False),
        ("/src/target/release/*", False),
    ],
)
def test_a_rust_builder_whose_target_folder_is_copied_whole_stays(copied: str, moves: bool) -> None:
    # a cross build keeps the build scripts and proc macros cargo runs in target/release, built
    # for the build machine; natively the folder holds the machine's own, as the program does
    text = (
        "FROM debian:bookworm AS build\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends cargo\n"
        "WORKDIR /src\nCOPY . .\nRUN cargo build --release\n"
        f"FROM debian:bookworm-slim\nCOPY --from=build {copied} /opt/app/\n"
    )
    moved, why = verdicts(text)["`build`"]
    assert moved == moves, why
    if not moves:
        assert f"copies {copied.rstrip('/')} from it, cargo's own folder" in why
    # a C project's folder named target is its own
    c_project = text.replace("cargo build --release", "make").replace("cargo", "gcc make")
    assert verdicts(c_project)["`build`"][0]


def test_a_rust_builder_that_removes_cargos_intermediate_files_stays() -> None:
    # the dummy-main trick: dependencies built with a stub main, then the stub's own files
    # removed so that cargo rebuilds the program; moved, the removal would miss them (they are
    # under target/<triple>/) and cargo could keep the stub
    text = """\
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cargo
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && cargo build --release
COPY src src
RUN rm ./target/release/deps/relay* && cargo build --release
FROM debian:bookworm-slim
COPY --from=build /src/target/release/relay /usr/local/bin/
"""
    moves, why = verdicts(text)["`build`"]
    assert not moves
    assert "line 7 `RUN rm ./target/release/deps/relay* && cargo build --release`" in why
    assert "cargo's intermediate files" in why
    # touching the source instead, as many do, moves
    assert verdicts(text.replace("rm ./target/release/deps/relay*", "touch src/main.rs"))[
        "`build`"
    ][0]


def test_an_ubuntu_builder_that_installs_a_library_stays_unless_its_sources_name_the_target() -> (
    None
):
    text = """\
FROM ubuntu:22.04 AS build
RUN apt-get update && apt-get -y install make gcc g++ libsqlite3-dev zlib1g-dev
WORKDIR /src
COPY . .
RUN make -j2
FROM ubuntu:22.04
COPY --from=build /src/tippecanoe /usr/local/bin/
"""
    moves, why = verdicts(text)["`build`"]
    assert not moves
    assert "it installs libsqlite3-dev on Ubuntu" in why and "ubuntu-ports" in why
    # tools only: moves; the ports archive named for the target: moves
    assert verdicts(text.replace(" libsqlite3-dev zlib1g-dev", ""))["`build`"][0]
    ports = text.replace(
        "RUN apt-get update",
        "RUN echo 'deb [arch=arm64] http://ports.example/ubuntu-ports jammy main' "
        "> /etc/apt/sources.list.d/ports.list && apt-get update",
    )
    assert verdicts(ports)["`build`"][0]
    # an image whose tag names an Ubuntu release is Ubuntu; Debian names every architecture
    # in one archive
    for image in ("eclipse-temurin:21-jdk-jammy", "buildpack-deps:noble", "gcc:focal@sha256:0"):
        assert not verdicts(text.replace("ubuntu:22.04", image))["`build`"][0], image
    for image in ("debian:bookworm", "buildpack-deps:bookworm", "jammy-tools:1", "x:jammyish"):
        assert verdicts(text.replace("ubuntu:22.04", image))["`build`"][0], image
    # a Rust stage's libclang-dev is bindgen's, the build machine's: no target archive needed
    rust = text.replace("libsqlite3-dev zlib1g-dev", "cargo libclang-dev").replace(
        "make -j2", "cargo build --release"
    )
    assert verdicts(rust)["`build`"][0]
    # an `arch=` that names no archive does not count
    shell = text.replace("RUN make -j2", 'RUN arch="$(uname -s)" && make -j2')
    assert "it installs libsqlite3-dev on Ubuntu" in verdicts(shell)["`build`"][1]


def test_copying_system_files_keeps_the_stage() -> None:
    text = PLAIN.replace(
        "COPY --from=build /src/out/zs",
        "COPY --from=build /usr/lib/x86_64-linux-gnu/libzstd.so.1 /usr/lib/\n"
        "COPY --from=build /src/out/zs",
    )
    moves, why = verdicts(text)["`build`"]
    assert not moves and "/usr/lib/x86_64-linux-gnu/libzstd.so.1" in why


SHARED_BASE = """\
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y libzstd1
FROM base AS build
RUN apt-get install -y gcc libzstd-dev
RUN gcc -o /a a.c -lzstd
FROM base
COPY --from=build /a /a
"""


def derived_of(text: str) -> tuple[DockerfileFacts, str]:
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    return facts, facts.derivation.text


def test_a_builder_on_the_images_own_base_is_built_on_a_copy_of_it() -> None:
    facts, derived = derived_of(SHARED_BASE)
    assert facts.derivation is not None and facts.derivation.complete
    found = {s.label: s for s in facts.derivation.stages}
    assert (found["`base`"].moves, found["`base`"].why) == (False, "the image is built on it")
    assert "a copy of it, `base-cross`" in " ".join(found["`base`"].changes)
    assert found["`build`"].moves
    assert found["`build`"].changes[0].startswith("built on `base-cross`, a copy of `base`")
    # base's step still runs on the target, for the image; the copy's runs on this machine
    assert facts.derived_emulated_run_steps == 1
    # (and the helper stages that run the image's apt-get update on this machine)
    stages = [
        s
        for s in parse_dockerfile(derived, "/p/Dockerfile.cross").stages
        if not (s.name or "").startswith("buildorch-apt")
    ]
    assert [(s.name, s.base, s.platform) for s in stages] == [
        ("base", "debian:bookworm-slim", None),
        ("base-cross", "debian:bookworm-slim", "$BUILDPLATFORM"),
        ("build", "base-cross", None),
        (None, "base", None),
    ]
    # the copy holds base's steps, run through the kit; the original keeps them as written
    assert [i.script for i in stages[0].instructions if isinstance(i, Run)] == [
        "apt-get update && apt-get install -y libzstd1"
    ]
    copied = [i for i in stages[1].instructions if isinstance(i, Run)]
    assert copied[0].script.endswith(f"{KIT} setup")
    assert copied[1].script == "apt-get update && apt-get install -y libzstd1"
    assert CACHE_MOUNT in copied[1].text
    assert f'SHELL ["{KIT}", "run", "/bin/sh", "-c"]' in derived
    assert f"RUN {KIT} verify /a" in derived


def test_the_copy_of_a_chain_is_built_on_the_copy_of_its_parent() -> None:
    text = """\
FROM debian:bookworm-slim AS os
RUN useradd app
FROM os AS base
RUN apt-get update && apt-get install -y libzstd1
FROM base AS build
RUN apt-get install -y gcc libzstd-dev && gcc -o /a a.c -lzstd
FROM base
COPY --from=build /a /a
"""
    _, derived = derived_of(text)
    stages = [
        s
        for s in parse_dockerfile(derived, "/p/Dockerfile.cross").stages
        if not (s.name or "").startswith("buildorch-apt")
    ]
    assert [(s.name, s.base) for s in stages] == [
        ("os", "debian:bookworm-slim"),
        ("os-cross", "debian:bookworm-slim"),
        ("base", "os"),
        ("base-cross", "os-cross"),
        ("build", "base-cross"),
        (None, "base"),
    ]
    # one kit, set up in the copy the others are built on
    assert derived.count(f"{KIT} setup") == 1
    facts = analysed(text)
    assert facts.derivation is not None
    found = {s.label: s.changes for s in facts.derivation.stages}
    assert found["`os`"] == (
        "a copy of it, `os-cross`, runs on $BUILDPLATFORM with the cross kit, for `base-cross` "
        "built on it",
    )


def test_a_stage_named_by_its_index_keeps_its_meaning_beside_the_copy() -> None:
    text = """\
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y libzstd1
FROM base AS build
RUN apt-get install -y gcc && gcc -o /a a.c
FROM scratch AS notes
COPY NOTES /NOTES
FROM base
COPY --from=1 /a /a
RUN --mount=type=bind,from=2,source=/NOTES,target=/n cat /n
COPY --from=0 /etc/os-release /os-release
"""
    _, derived = derived_of(text)
    cross = parse_dockerfile(derived, "/p/Dockerfile.cross")
    image = cross.stages[-1]
    named = [
        cross.stages[cross.stage_index(r, before=image.index) or 0].name for r in image.references
    ]
    assert named == ["build", "notes", "base"]


def test_a_number_in_a_flag_follows_the_copy_and_one_in_a_command_stays() -> None:
    text = """\
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y libzstd1
FROM golang:1.22 AS gen
RUN go build -o /out/g ./cmd/g
FROM base AS build
RUN --mount=type=bind,from=1,source=/out,target=/g ["gcc", "-o", "/a", "a.c"]
FROM base
COPY --from="2" /a /a
RUN --mount=type=bind,from=2,source=/a,target=/b echo from=1 --from=2
"""
    _, derived = derived_of(text)
    # gen and build come after base's copy and the two helper stages of base's apt-get update
    stages = [s.name for s in parse_dockerfile(derived, "/p/Dockerfile.cross").stages]
    assert stages.index("gen") == 4 and stages.index("build") == 5
    assert (
        "RUN --mount=type=cache,id=buildorch-cross,target=/root/.cache/buildorch-cross "
        '--mount=type=bind,from=4,source=/out,target=/g ["' in derived
    )
    assert 'COPY --from="5" /a /a\n' in derived
    assert "RUN --mount=type=bind,from=5,source=/a,target=/b echo from=1 --from=2\n" in derived


NUMBERED = """\
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y libzstd1
FROM debian:bookworm AS build
RUN make deps
RUN gcc -o /out/a a.c
FROM base
{copy}
"""


@pytest.mark.parametrize(
    "copy",
    [
        "COPY --from=1 /out/a /a",
        "COPY \\\n    --from=1 /out/a /a",
        "COPY \\  \n    --from=1 /out/a /a",
        "COPY \\\n# the program\n\n    --from=1 /out/a /a",
        "COPY --chown=0:0 \\\n    --from='1' /out/a /a",
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_stage_named_by_its_number_is_renumbered_past_the_helper_stages(
    copy: str, newline: str
) -> None:
    text = NUMBERED.format(copy=copy).replace("\n", newline)
    _, derived = derived_of(text)
    cross = parse_dockerfile(derived, "/p/Dockerfile.cross")
    assert cross.stages[0].name == "buildorch-apt-target-0"
    image = cross.stages[-1]
    (ref,) = image.references
    assert cross.stages[cross.stage_index(ref.strip("'"), before=image.index) or 0].name == "build"


def test_a_stage_number_follows_a_backtick_escape_and_an_image_with_digits_stays() -> None:
    text = "# escape=`\n" + NUMBERED.format(
        copy="COPY `\n    --from=1 /out/a /a\nCOPY --from=10.0.0.1:5000/tools:1 /t /t"
    )
    _, derived = derived_of(text)
    assert "--from=3 /out/a /a" in derived
    assert "COPY --from=10.0.0.1:5000/tools:1 /t /t" in derived


@pytest.mark.parametrize("odd", ["\r", "\f"])
def test_a_line_with_another_line_break_character_keeps_the_edits_in_place(odd: str) -> None:
    # the parser splits lines at "\n" only: so does the renumbering
    text = NUMBERED.format(copy="COPY --from=1 /out/a /a").replace(
        "RUN make deps\n", f"RUN make deps{odd}\n"
    )
    _, derived = derived_of(text)
    build = derived[derived.index("AS build") :]
    assert build.index("gcc -o /out/a a.c") < build.index(f"{KIT} verify /out/a")
    assert f"{CACHE_MOUNT} gcc -o /out/a a.c" in build


def test_a_base_that_takes_files_from_a_stage_on_the_target_is_not_copied() -> None:
    text = """\
FROM debian:bookworm-slim AS tools
RUN curl -fsSL https://get.example.com/install.sh | sh
FROM debian:bookworm-slim AS base
COPY --from=tools /usr/local/bin/foo /usr/local/bin/foo
FROM base AS build
RUN foo gen && gcc -o /a a.c
FROM base
COPY --from=build /a /a
"""
    moves, why = verdicts(text)["`build`"]
    assert not moves and "would not move because it takes files from `tools`" in why


def test_a_builder_on_a_deep_base_whose_copy_cannot_move_says_why() -> None:
    # `os` stays only once the stages between it and the image do: the builder on it waits
    text = """\
ARG ROOT=root0
FROM debian:bookworm-slim AS root0
RUN useradd app
FROM ${ROOT} AS os
RUN useradd app2
FROM os AS mid
RUN useradd app3
FROM mid AS base
RUN apt-get update && apt-get install -y libzstd1
FROM os AS build
RUN gcc -o /a a.c
FROM base
COPY --from=build /a /a
"""
    moves, why = verdicts(text)["`build`"]
    assert not moves
    assert why.endswith(
        "a copy of it on the build machine would not move because a build arg picks the "
        "stage it is built on"
    )


def test_a_base_that_moves_itself_gets_no_copy() -> None:
    # below an image pinned to $BUILDPLATFORM, the base moves as a builder does
    text = """\
FROM debian:bookworm-slim AS base
RUN apt-get install -y gcc
FROM base AS build
RUN gcc -o /out/a a.c
FROM --platform=$BUILDPLATFORM base AS tools
FROM tools
COPY --from=build /out/a /a
"""
    facts, derived = derived_of(text)
    assert facts.derivation is not None and not facts.derivation.copied
    assert "base-cross" not in derived and "FROM base AS build\n" in derived


def test_a_builder_on_the_base_that_runs_no_step_gets_no_copy() -> None:
    text = """\
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y libzstd1
FROM base AS collect
COPY config /opt/config
FROM base
COPY --from=collect /opt /opt
RUN ldconfig
"""
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is None
    assert not verdicts(text)["`collect`"][0]


def test_a_cache_mount_the_base_shares_with_its_copy_is_reported() -> None:
    text = SHARED_BASE.replace(
        "RUN apt-get update && apt-get install -y libzstd1",
        "RUN --mount=type=cache,target=/src/build cmake -B build && cmake --build build",
    )
    assert any("cache mount /src/build is shared" in f for f in analysed(text).findings)


def test_a_copy_takes_a_name_no_stage_has() -> None:
    text = SHARED_BASE.replace("FROM base\n", "FROM base AS base-cross\n")
    _, derived = derived_of(text)
    assert "AS base-cross2\n" in derived and "FROM base-cross2 AS build\n" in derived


def test_a_base_the_build_machine_cannot_run_keeps_its_builders_on_the_target() -> None:
    unsafe = SHARED_BASE.replace(
        "apt-get install -y libzstd1",
        "apt-get install -y curl && curl -fsSL https://get.example.com/install.sh | sh",
    )
    found = verdicts(unsafe)
    assert found["`base`"] == (False, "the image is built on it")
    # the step to change is named
    assert found["`build`"][0] is False
    assert found["`build`"][1].startswith(
        "it is built on `base`, which stays because the image is built on it, and a copy of "
        "it on the build machine would not move because line 2 `RUN apt-get update && "
    )
    # and a builder that copies files from the base takes them from the target's
    copying = SHARED_BASE.replace("RUN gcc", "COPY --from=base /etc/os-release /\nRUN gcc")
    assert not verdicts(copying)["`build`"][0]


def test_a_chain_of_builders_moves_together_with_one_kit() -> None:
    text = """\
FROM debian:bookworm AS deps
RUN apt-get update && apt-get install -y gcc libzstd-dev
FROM deps AS build
RUN gcc -o /out/a a.c -lzstd
FROM scratch
COPY --from=build /out/a /a
"""
    found = verdicts(text)
    assert found["`deps`"][0] and found["`build`"][0]
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    derived = facts.derivation.text
    assert derived.count("kit setup") == 1, "the child inherits its parent's kit and SHELL"
    assert "FROM base AS build" not in derived and "FROM deps AS build" in derived
    assert f"RUN {KIT} verify /out/a\n" in derived
    # the kit's folder is one no copy of the project's files reaches, and it stays for the
    # stages built on the moved ones, reached or not (`--target test` of the written file)
    assert KIT_DIR == "/buildorch-cross" and "rm -rf" not in derived


RUSTUP = """\
FROM debian:bookworm AS deps
RUN apt-get update && apt-get install -y curl build-essential pkg-config libclang-dev
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
ENV PATH="/root/.cargo/bin:${PATH}"
FROM deps AS build
WORKDIR /app
COPY . .
RUN cargo build --release
FROM debian:bookworm-slim
COPY --from=build /app/target/release/app /usr/local/bin/app
"""


def test_rustups_installer_brings_the_build_machines_toolchain_and_its_stage_moves() -> None:
    # rustup's toolchain runs where it is installed; the kit's cargo adds the target's
    # standard library to it, as for the Rust images' rustup
    found = verdicts(RUSTUP)
    assert found["`deps`"][0] and found["`build`"][0]
    facts = analysed(RUSTUP)
    assert facts.derivation is not None and facts.derivation.text is not None
    # the libclang-dev the first stage installs is bindgen's: the kit is told that the
    # stages built on it run cargo, which apt-get cannot see before rustup installs it
    assert f"&& {KIT} setup rust\n" in facts.derivation.text
    # a C stage's kit is not
    c_only = analysed(PLAIN).derivation
    assert c_only is not None and c_only.text is not None
    assert f"&& {KIT} setup\n" in c_only.text
    # another installer piped to a shell in the same step still keeps the stage
    other = RUSTUP.replace("-s -- -y", "-s -- -y && curl -fsSL https://example.test/i.sh | bash")
    moves, why = verdicts(other)["`deps`"]
    assert not moves and "downloaded installer" in why


@pytest.mark.parametrize(
    ("install", "setup"),
    [
        # a compiler and build tools: the kit leaves the target's package lists out
        ("g++ make cmake libc6-dev libtool pkg-config", "setup tools"),
        ("-o APT::Install-Recommends=0 g++", "setup"),
        # a library to link, an architecture, a list the text leaves open: it fetches them
        ("gcc libzstd-dev", "setup"),
        ("gcc zlib1g-dev:arm64", "setup"),
        ("gcc $PACKAGES", "setup"),
        ("gcc libssl3", "setup"),
        # a Rust stage's kit fetches the target's standard library from lists of its own
        ("cargo", "setup rust tools"),
        ("cargo libzstd-dev", "setup rust"),
    ],
)
def test_the_kit_is_told_when_the_stage_installs_tools_only(install: str, setup: str) -> None:
    text = PLAIN.replace("gcc make libzstd-dev pkg-config", install)
    if "cargo" in install:
        text = text.replace("RUN make zs", "RUN cargo build --release")
    derivation = analysed(text).derivation
    assert derivation is not None and derivation.text is not None
    assert f"&& {KIT} {setup}\n" in derivation.text


def test_the_kit_is_set_up_with_the_stages_opening_settings_and_before_its_files() -> None:
    text = """\
FROM rust:1 AS build
ENV RUSTUP_DIST_SERVER=https://mirror.example.test/rustup
USER builder
WORKDIR /src
COPY . .
RUN cargo build --release
FROM scratch
COPY --from=build /src/target/release/app /app
"""
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    derived = [line for line in facts.derivation.text.splitlines() if not line.startswith("#")]
    setup = next(i for i, line in enumerate(derived) if line.endswith(f"{KIT} setup rust tools"))
    # rustup's mirror holds for the setup, which runs as root and hands the stage back to its
    # user; a change of the project's files does not set the kit up again
    assert derived[setup - 3 : setup] == [
        "ENV RUSTUP_DIST_SERVER=https://mirror.example.test/rustup",
        "USER builder",
        "USER root",
    ]
    assert derived[setup + 1 : setup + 5] == [
        "USER builder",
        f'SHELL ["{KIT}", "run", "/bin/sh", "-c"]',
        "WORKDIR /src",
        "COPY . .",
    ]
    # without settings it follows the FROM and the kit's ARGs, as root unless told otherwise
    plain = analysed(PLAIN).derivation
    assert plain is not None and plain.text is not None
    lines = plain.text.splitlines()
    setup = next(i for i, line in enumerate(lines) if line.endswith(f"{KIT} setup"))
    assert lines[setup - 1].startswith("ARG BUILDORCH_CROSS_KIT=")
    assert lines[setup + 1] == f'SHELL ["{KIT}", "run", "/bin/sh", "-c"]'
    # nor after an ARG that no ENV or USER follows: a new value (a commit's hash) would set
    # the kit up again. One they follow may feed them (`ENV http_proxy=$PROXY`)
    stamped = text.replace("USER builder\n", "ARG PROXY\nUSER builder\nARG GIT_SHA\n", 1)
    derivation = analysed(stamped).derivation
    assert derivation is not None and derivation.text is not None
    lines = [line for line in derivation.text.splitlines() if not line.startswith("#")]
    setup = next(i for i, line in enumerate(lines) if line.endswith(f"{KIT} setup rust tools"))
    assert lines[setup - 3 : setup] == ["ARG PROXY", "USER builder", "USER root"]
    assert lines[setup + 3] == "ARG GIT_SHA"


def test_exec_form_and_shell_run_through_the_kit() -> None:
    text = PLAIN.replace(
        "RUN make zs", 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN ["make", "zs"]'
    )
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    derived = facts.derivation.text.splitlines()
    assert f'SHELL ["{KIT}", "run", "/bin/bash", "-o", "pipefail", "-c"]' in derived
    assert f'RUN {CACHE_MOUNT} ["{KIT}", "run", "make", "zs"]' in derived


@pytest.mark.parametrize(
    ("change", "label", "why"),
    [
        ("FROM --platform=linux/amd64 debian:bookworm AS build", "`build`", "pinned"),
        ("FROM debian:bookworm AS build\nARG TARGETARCH", "`build`", "$TARGETARCH itself"),
    ],
)
def test_a_stage_that_handles_platforms_itself_stays(change: str, label: str, why: str) -> None:
    text = PLAIN.replace("FROM debian:bookworm AS build", change)
    moves, reason = verdicts(text)[label]
    assert not moves and why in reason


def test_a_dockerfile_that_cross_compiles_already_is_not_derived() -> None:
    text = PLAIN.replace(
        "FROM debian:bookworm AS build",
        "FROM --platform=$BUILDPLATFORM debian:bookworm AS build\nARG TARGETARCH",
    )
    facts = analysed(text)
    assert facts.cross_capable and facts.derivation is None


def test_a_stage_nothing_copies_from_is_left_alone() -> None:
    text = PLAIN + "\nFROM debian:bookworm AS lint\nRUN make lint\n"
    facts = analysed(text)
    # the last stage is the image now: `build` hands nothing to it
    assert facts.derivation is not None
    assert not facts.derivation.moved


def test_ldd_keeps_its_stage() -> None:
    text = PLAIN.replace("RUN make zs", "RUN make zs && ldd out/zs | awk '{print $3}' > libs")
    moves, why = verdicts(text)["`build`"]
    assert not moves and "ldd runs the build machine's loader" in why


def test_certificates_and_zoneinfo_may_be_copied_from_a_moved_stage() -> None:
    text = PLAIN.replace(
        "COPY --from=build /src/out/zs",
        "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n"
        "COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo\n"
        "COPY --from=build /src/out/zs",
    )
    assert verdicts(text)["`build`"][0]
    # a folder whose name starts like a system one is no system folder
    text = PLAIN.replace("/src/out/zs /usr/local/bin/zs", "/binaries/zs /usr/local/bin/zs")
    assert verdicts(text)["`build`"][0]


def test_a_stage_that_takes_an_images_programs_stays() -> None:
    text = PLAIN.replace(
        "WORKDIR /src", "COPY --from=golang:1.22 /usr/local/go /usr/local/go\nWORKDIR /src"
    )
    moves, why = verdicts(text)["`build`"]
    assert not moves and "the image golang:1.22" in why


def test_a_stage_that_takes_files_from_a_stage_that_stays_stays() -> None:
    text = """\
FROM debian:bookworm AS tools
RUN pip install meson
FROM debian:bookworm AS build
COPY --from=tools /usr/local/bin/meson /usr/local/bin/
RUN meson setup out && ninja -C out
FROM scratch
COPY --from=build /out/app /app
"""
    found = verdicts(text)
    assert not found["`tools`"][0]
    assert not found["`build`"][0] and "`tools`, which stays" in found["`build`"][1]


@pytest.mark.parametrize(
    ("step", "moves"),
    [
        # build tools from PyPI, a requirements file's code generators: run by the stage's
        # steps, the build machine's are right
        ("RUN pip3 install --no-cache-dir --break-system-packages meson==1.4.0 ninja", True),
        ("RUN python3 -m pip install 'meson>=1.2' && meson setup out", True),
        ("RUN pip install -r requirements.txt && python3 gen.py > out/tables.c", True),
        ("RUN pip install --index-url https://pypi.example.test/simple jinja2 numpy", True),
        ("RUN python3 -m venv /venv && /venv/bin/pip install -r requirements.txt", True),
        # a project, an archive, a place of the step's choosing, a wheel, a frontend
        ("RUN pip install .", False),
        ("RUN pip install -e .", False),
        ("RUN pip install ./vendor/tool-1.0.tar.gz", False),
        ("RUN pip install --target /tools meson", False),
        ("RUN pip wheel -w /wheels meson", False),
        ("RUN pip install -U pip setuptools wheel && python3 -m build --wheel", False),
        ("RUN pip install pyinstaller && pyinstaller --onefile app.py", False),
    ],
)
def test_pip_installing_packages_moves_with_the_stage(step: str, moves: bool) -> None:
    text = PLAIN.replace("RUN make zs", f"{step}\nRUN make zs")
    moved, why = verdicts(text)["`build`"]
    assert moved is moves, why
    if not moves:
        assert "Python installers" in why
    # a later stage that copies where pip put them takes the build machine's: it stays
    whole = text.replace("COPY --from=build /src/out/zs", "COPY --from=build /usr/local")
    assert not verdicts(whole)["`build`"][0]


def test_a_virtual_environment_a_later_stage_copies_keeps_its_stage() -> None:
    # the project's own .venv, inside the folder the image takes: the build machine's
    text = PLAIN.replace(
        "RUN make zs",
        "RUN python3 -m venv .venv && .venv/bin/pip install -r requirements.txt\nRUN make zs",
    )
    assert verdicts(text)["`build`"][0], "the image takes the program only"
    whole = text.replace(
        "COPY --from=build /src/out/zs /usr/local/bin/zs", "COPY --from=build /src /app"
    )
    moves, why = verdicts(whole)["`build`"]
    assert not moves and "Python installers" in why


def test_a_base_stage_without_steps_moves_with_its_child() -> None:
    text = """\
FROM debian:bookworm AS base
WORKDIR /app
FROM base AS build
RUN apt-get update && apt-get install -y gcc && gcc -o /app/a a.c
FROM scratch
COPY --from=build /app/a /a
"""
    found = verdicts(text)
    assert found["`base`"][0] and found["`build`"][0]


VARIANTS = """\
ARG VARIANT=release
FROM debian:bookworm AS base
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make
WORKDIR /src
COPY . .
FROM base AS build-release
RUN make app
FROM base AS build-debug
RUN make app CFLAGS=-g
FROM build-${VARIANT} AS build
FROM debian:bookworm-slim
COPY --from=build /src/app /usr/local/bin/app
"""


def test_a_stage_named_through_a_global_arg_moves_with_the_stage_it_names() -> None:
    # BuildKit expands a FROM with the global ARGs before it looks for a stage of that name;
    # the alias stage runs no step, and runs where the stage it names runs
    moves = {label: move for label, (move, _) in verdicts(VARIANTS).items()}
    assert moves == {"`base`": True, "`build-release`": True, "`build`": True, "stage 4": False}
    facts = analyse_dockerfile(VARIANTS, "/p/Dockerfile", None, (("VARIANT", "debug"),))
    assert facts.derivation is not None
    assert [s.label for s in facts.derivation.moved] == ["`base`", "`build-debug`", "`build`"]
    text = facts.derivation.text
    assert text is not None
    # the alias is as written, and checks what the image copies from it when it has the kit
    # (the written file built with another VARIANT may name a stage that did not move)
    alias = text[text.index("FROM build-${VARIANT} AS build") :].splitlines()
    assert alias[2] == f"RUN [ ! -x {KIT} ] || {KIT} verify /src/app"


def test_a_stage_named_through_the_platforms_arg_is_left_to_the_build() -> None:
    text = VARIANTS.replace("build-${VARIANT}", "build-${TARGETARCH}")
    moves = {label: move for label, (move, _) in verdicts(text).items()}
    assert not moves["`build`"]


TOOLS = """\
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y golang-go cargo gcc
RUN {install}
RUN go build -o /out/app .
FROM debian:bookworm-slim
COPY --from=build {copied} /usr/local/bin/
"""


@pytest.mark.parametrize(
    ("install", "copied", "stays"),
    [
        # a tool the steps run is built for the build machine: the image's copy must stay
        ("go install github.com/pressly/goose/v3/cmd/goose@v3.20.0", "/root/go/bin/goose", True),
        ("cargo install sqlx-cli --locked", "/root/.cargo/bin/sqlx", True),
        ("cargo +stable install --root /tools diesel_cli", "/tools/bin/diesel", True),
        ("cargo install --root=/tools diesel_cli", "/tools/bin/diesel", True),
        # the project's own install builds for the target
        ("cargo install --path . --root /tools", "/tools/bin/app", False),
        ("go install ./cmd/app", "/root/go/bin/app", False),
        ('go install -ldflags "-X main.mail=a@b" ./cmd/app', "/root/go/bin/app", False),
        ("CGO_ENABLED=0 go install github.com/go-delve/delve/cmd/dlv@latest", "/go/bin/dlv", True),
        ("go install example.org/tool/v2@v2.1.0", "/go/bin/tool", True),
        ("go -C tools install example.org/gen@v1.2.0", "/go/bin/gen", True),
        ("go -C=tools install ./cmd/app", "/go/bin/app", False),
        ("cargo install sqlx-cli", "/usr/local/cargo/bin/", True),  # the whole folder
        # a tool that only the build runs is no reason to stay, nor the project's own program
        # beside it in the same folder
        ("go install github.com/a-h/templ/cmd/templ@latest", "/out/app", False),
        ("go install github.com/a-h/templ/cmd/templ@latest", "/go/bin/app", False),
        ("cargo install cargo-chef && cargo install --path .", "/usr/local/cargo/bin/app", False),
        ("cargo install --path=. --root /tools", "/tools/bin/app", False),
    ],
)
def test_a_tool_installed_for_the_steps_and_copied_into_the_image_keeps_its_stage(
    install: str, copied: str, stays: bool
) -> None:
    moves, why = verdicts(TOOLS.format(install=install, copied=copied))["`build`"]
    assert moves is not stays, why
    if stays:
        assert f"copies {copied.rstrip('/')}, a tool line 3 installs" in why


def test_a_scratch_stage_stays_and_variable_paths_are_not_checked_in_the_build() -> None:
    text = PLAIN.replace("COPY --from=build /src/out/zs", "COPY --from=build /src/out/${APP}")
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    assert f"RUN {KIT} verify" not in facts.derivation.text
    (build,) = facts.derivation.moved
    assert any("variables the check cannot follow" in c for c in build.changes)
    scratch = "FROM scratch AS files\nCOPY a /a\nFROM debian:bookworm\nCOPY --from=files /a /a\n"
    assert verdicts(scratch)["`files`"] == (
        False,
        "it starts from scratch: no shell to cross-compile with",
    )


def test_a_path_named_with_the_copying_stages_args_is_checked_with_the_same_args() -> None:
    # the copying stage's own default, a global one it declares again, a platform ARG
    text = PLAIN.replace(
        "# syntax=docker/dockerfile:1\n", "# syntax=docker/dockerfile:1\nARG OUT=out\n"
    ).replace(
        "COPY --from=build /src/out/zs /usr/local/bin/zs",
        "ARG APP=zs\nARG OUT\nARG TARGETARCH\n"
        "COPY --from=build /src/${OUT}/$APP /src/out/zs-${TARGETARCH} /usr/local/bin/",
    )
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    derived = facts.derivation.text.splitlines()
    verify = next(i for i, line in enumerate(derived) if line.startswith(f"RUN {KIT} verify"))
    assert derived[verify - 3 : verify] == ["ARG OUT=out", "ARG APP=zs", "ARG TARGETARCH"]
    assert derived[verify].endswith('verify "/src/${OUT}/$APP" "/src/out/zs-${TARGETARCH}"')
    (build,) = facts.derivation.moved
    assert not any("cannot follow" in c for c in build.changes)
    # an ENV's value is the copying stage's alone: that path stays unchecked in the build
    env = text.replace("ARG APP=zs\n", "ENV APP=zs\n")
    derived_env = analysed(env).derivation
    assert derived_env is not None and derived_env.text is not None
    assert 'verify "/src/out/zs-${TARGETARCH}"' in derived_env.text
    assert "$APP" not in derived_env.text.split(f"RUN {KIT} verify", 1)[1].splitlines()[0]
    # with no path left to check, no check
    only_env = env.replace(" /src/out/zs-${TARGETARCH}", "")
    derived_only_env = analysed(only_env).derivation
    assert derived_only_env is not None and derived_only_env.text is not None
    assert f"RUN {KIT} verify" not in derived_only_env.text


def test_line_spans_follow_the_parser_with_a_form_feed_in_a_label() -> None:
    text = PLAIN.replace("WORKDIR /src", 'LABEL note="a\x0cb"\nWORKDIR /src')
    facts = analysed(text)
    assert facts.derivation is not None and facts.derivation.text is not None
    derived = facts.derivation.text.splitlines()
    verify = next(i for i, line in enumerate(derived) if line.startswith(f"RUN {KIT} verify"))
    make = next(i for i, line in enumerate(derived) if line.endswith("make zs"))
    assert make < verify and derived[make].startswith(f"RUN {CACHE_MOUNT}")


@pytest.mark.subprocesses
def test_the_kit_passes_shellcheck(tmp_path: Path) -> None:
    """The kit runs under whatever /bin/sh a base image has (dash, busybox): POSIX only."""
    kit = tmp_path / "kit"
    kit.write_text(kit_text())
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    done = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=warning", str(kit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("arch", "variant", "has"),
    [("arm64", "", True), ("arm", "", True), ("arm", "v7", True), ("arm", "v6", False),
     ("riscv64", "", True), ("386", "", True), ("mips64le", "", False)],
)  # fmt: skip
def test_the_planner_reads_the_kits_own_table_of_toolchains(
    arch: str, variant: str, has: bool
) -> None:
    assert kit_has_toolchain(arch, variant) is has


def test_the_images_update_is_changed_only_in_a_derived_dockerfile() -> None:
    # nothing moves (an installer that picks binaries by the machine it runs on): the
    # original is built, its image's apt-get update as written, and the plan says no change
    blocked = analysed(PLAIN.replace("RUN make zs", "RUN pip install -e ."))
    assert blocked.derivation is not None and blocked.derivation.text is None
    assert all(not s.changes for s in blocked.derivation.stages)
    moved = analysed(PLAIN).derivation
    assert moved is not None
    (image,) = [s for s in moved.stages if not s.moves]
    assert image.changes and "apt-get update runs on the build machine" in image.changes[0]


def test_a_runtime_base_built_on_a_stage_gets_its_update_from_the_build_machine() -> None:
    # jq's shape: `os` sets the users up, `base` adds the runtime library, the builder and the
    # image are built on `base`
    text = """\
FROM debian:bookworm-slim AS os
RUN useradd --create-home app
FROM os AS base
RUN apt-get update && apt-get install -y --no-install-recommends libonig5
FROM base AS build
RUN apt-get update && apt-get install -y gcc libonig-dev
RUN gcc -o /out/app app.c -lonig
FROM base
COPY --from=build /out/app /usr/local/bin/app
"""
    _, derived = derived_of(text)
    cross = parse_dockerfile(derived, "/p/Dockerfile.cross")
    names = [s.name for s in cross.stages]
    # the helper reads what `os` left, on the target, and runs apt-get from its image
    assert names.index("buildorch-apt-target-1") < names.index("base")
    assert "FROM os AS buildorch-apt-target-1\n" in derived
    assert "FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS buildorch-apt-1\n" in derived
    base = cross.stages[names.index("base")]
    assert "from=buildorch-apt-1,source=/buildorch-apt/shim,target=/usr/bin/apt-get" in (
        base.instructions[0].text
    )
    # the image is still built on `base`, the builder on its copy
    assert cross.stages[-1].base == "base"
    assert cross.stages[names.index("build")].base == "base-cross"
