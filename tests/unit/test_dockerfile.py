"""Reading Dockerfiles: the typed records, where each stage runs, what would be emulated,
what collides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from buildorch.dockerfile import (
    Arg,
    Copy,
    Env,
    Heredoc,
    Option,
    Run,
    Variable,
    Workdir,
    parse_dockerfile,
    split_flags,
)
from buildorch.dockerfile_analysis import analyse_dockerfile, stage_dependencies
from buildorch.errors import ProjectError
from buildorch.facts import CacheMount

GO_CROSS = """
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,id=gobuild-$TARGETPLATFORM,target=/root/.cache/go-build \\
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .
FROM scratch
COPY --from=build /out/app /app
"""

C_CROSS_WITH_RUNTIME = """
FROM --platform=${BUILDPLATFORM} debian:bookworm AS build
RUN apt-get update && apt-get install -y gcc-aarch64-linux-gnu
RUN --mount=type=cache,target=/root/.cache/sccache make CC=$TARGETARCH-gcc
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y libssl3
COPY --from=build /src/app /usr/bin/app
"""

PLAIN = """
FROM rust:1.80
WORKDIR /src
COPY . .
RUN cargo build --release
"""

UNREACHED = """
FROM debian AS tools
RUN apt-get update
RUN apt-get install -y heavy
FROM --platform=$BUILDPLATFORM golang AS build
ARG TARGETARCH
RUN GOARCH=$TARGETARCH go build -o /app
FROM build AS test
RUN go test ./...
FROM scratch AS final
COPY --from=1 /app /app
"""


def test_go_cross_compiles_with_nothing_emulated() -> None:
    facts = analyse_dockerfile(GO_CROSS, "Dockerfile", None)
    assert facts.cross_capable is True
    assert facts.emulated_run_steps == 0
    assert [s.on_build_platform for s in facts.stages] == [True, False]
    assert facts.stages[1].depends_on == (0,)
    # the module cache has no platform in its id: it collides between platforms
    collisions = [f for f in facts.findings if "shared between platforms" in f]
    assert len(collisions) == 1
    assert collisions[0].startswith("cache mount /root/go/pkg/mod is shared between platforms")
    assert "/root/go/pkg/mod/$TARGETARCH" in collisions[0]
    # the build cache is keyed by its id: fine on new BuildKit, shared on Docker 20.10's
    caveats = [f for f in facts.findings if "does not expand variables" in f]
    assert len(caveats) == 1 and "/root/.cache/go-build" in caveats[0]


def test_a_folder_per_platform_inside_a_cache_mount_does_not_collide() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM debian AS build\nARG TARGETARCH\n"
        "RUN --mount=type=cache,target=/cache SCCACHE_DIR=/cache/sccache/$TARGETARCH make\n"
    )
    facts = analyse_dockerfile(text, "Dockerfile", None)
    assert not [f for f in facts.findings if "cache mount" in f]


def test_a_cache_mount_in_a_stage_buildorch_moves_is_named_as_shared() -> None:
    # the derived stage builds for each target on the build machine, and the project's own
    # build folder (CMake's cache, its objects) on a cache mount would serve every platform
    text = (
        "FROM debian:bookworm AS build\n"
        "RUN apt-get update && apt-get install -y gcc cmake\n"
        "RUN --mount=type=cache,target=/src/build cmake -S . -B build && cmake --build build\n"
        "FROM scratch\nCOPY --from=build /src/build/app /app\n"
    )
    facts = analyse_dockerfile(text, "Dockerfile", None)
    assert facts.derivation is not None and [s.label for s in facts.derivation.moved]
    (collision,) = [f for f in facts.findings if "shared between platforms" in f]
    assert collision.startswith("cache mount /src/build is shared between platforms")
    # a stage left on the target, built from the original per platform, is not named
    stays = text.replace("FROM scratch\nCOPY --from=build /src/build/app /app\n", "")
    facts = analyse_dockerfile(stays, "Dockerfile", None)
    assert not [f for f in facts.findings if "cache mount" in f]


def test_runtime_stage_run_steps_are_counted_as_emulated() -> None:
    facts = analyse_dockerfile(C_CROSS_WITH_RUNTIME, "Dockerfile", None)
    assert facts.cross_capable is True
    assert facts.emulated_run_steps == 1
    assert any("1 RUN step(s) in stage 1 run on the target platform" in f for f in facts.findings)


def test_plain_dockerfile_cannot_cross() -> None:
    facts = analyse_dockerfile(PLAIN, "Dockerfile", None)
    assert facts.cross_capable is False
    assert facts.emulated_run_steps == 1


def test_only_reached_stages_count_and_build_target_selects() -> None:
    final = analyse_dockerfile(UNREACHED, "Dockerfile", None)
    assert final.target_stage == 3
    assert final.cross_capable is True
    assert final.emulated_run_steps == 0  # `tools` and `test` are not reached
    test = analyse_dockerfile(UNREACHED, "Dockerfile", "test")
    assert test.target_stage == 2
    # `test` builds on `build`, so it runs on the build platform too
    assert test.stages[2].on_build_platform is True
    assert test.emulated_run_steps == 0
    tools = analyse_dockerfile(UNREACHED, "Dockerfile", "tools")
    assert tools.cross_capable is False
    assert tools.emulated_run_steps == 2


def test_unknown_build_target_lists_the_stages() -> None:
    with pytest.raises(ProjectError) as failure:
        analyse_dockerfile(UNREACHED, "Dockerfile", "release")
    assert "no stage `release`" in failure.value.what
    assert "tools, build, test, final" in failure.value.why


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("# just a comment\n", "no FROM"),
        ("RUN echo hi\nFROM debian\n", "RUN before the first FROM"),
    ],
)
def test_broken_dockerfiles(text: str, words: str) -> None:
    with pytest.raises(ProjectError) as failure:
        analyse_dockerfile(text, "Dockerfile", None)
    assert words in failure.value.what


def test_syntax_directive_is_reported() -> None:
    facts = analyse_dockerfile("# syntax=docker/dockerfile:1\nFROM alpine\n", "Dockerfile", None)
    assert any("frontend image" in f for f in facts.findings)


COPY_FROM = """
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETARCH
RUN GOARCH=$TARGETARCH go build -o /out/dist/gofmt .
FROM alpine AS fetched
FROM scratch
{copy}
"""


@pytest.mark.parametrize(
    ("copy", "reported"),
    [
        ("COPY --from=build /out/ /", True),
        ("COPY --from=build out /", True),
        ("COPY --from=0 /gofmt /usr/bin/", True),
        ("COPY --link --chmod=755 --from=build /out/ /", True),
        ('COPY --from=build ["/out", "/"]', True),
        ("COPY --from=build /out/dist/ /", False),
        ("COPY --from=build /out/dist/gofmt /usr/bin/", False),
        # the whole stage is wanted anyway
        ("COPY --from=build / /", False),
        # an image, or a stage that runs nothing: checksummed once, then cached
        ("COPY --from=golang:1.22 /go/ /go/", False),
        ("COPY --from=fetched /etc/ /etc/", False),
        # from the context, not a stage
        ("COPY out/ /", False),
    ],
)
def test_copy_from_the_top_of_a_stage_is_reported(copy: str, reported: bool) -> None:
    facts = analyse_dockerfile(COPY_FROM.format(copy=copy), "Dockerfile", None)
    found = [f for f in facts.findings if "walking the stage's whole file system" in f]
    assert len(found) == int(reported), facts.findings


TEMPLATES = sorted((Path(__file__).resolve().parents[2] / "dockerfiles").glob("*.Dockerfile"))


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_templates_cross_compile_with_nothing_emulated(template: Path) -> None:
    facts = analyse_dockerfile(template.read_text(), str(template), None)
    assert facts.cross_capable is True
    assert facts.emulated_run_steps == 0
    assert not [f for f in facts.findings if "cache mount" in f]


RECORDS = """\
# syntax=docker/dockerfile:1
ARG BASE=debian:bookworm
ARG TOOLS
FROM --platform=$BUILDPLATFORM ${BASE} AS build
ARG TARGETOS TARGETARCH=amd64
ENV CC=gcc CFLAGS="-O2 -g"
WORKDIR /src
RUN --mount=type=cache,id=apt,target=/var/cache/apt,sharing=locked \\
    --mount=type=bind,source=deps.txt,target=/deps.txt \\
    apt-get update && \\
    xargs apt-get install -y < /deps.txt
COPY <<EOF /etc/motd
FROM not-a-stage
RUN not a step
EOF
RUN <<-SCRIPT bash
\tmake CC=$TARGETARCH-gcc
\tSCRIPT
COPY --chown=1:1 --link ["src dir", "Makefile", "/src/"]
FROM scratch
COPY --from=0 /out/dist/ /
ADD https://example.org/a.tgz /opt/
"""


def test_records_keep_their_text_and_line_span() -> None:
    dockerfile = parse_dockerfile(RECORDS)
    lines = RECORDS.splitlines(keepends=True)
    everything = [
        *dockerfile.global_args,
        *(i for s in dockerfile.stages for i in (s.start, *s.instructions)),
    ]
    for instruction in everything:
        first, last = instruction.lines
        assert instruction.text == "".join(lines[first - 1 : last]), instruction
    assert [(i.keyword, i.lines) for i in dockerfile.stages[0].instructions] == [
        ("ARG", (5, 5)),
        ("ENV", (6, 6)),
        ("WORKDIR", (7, 7)),
        ("RUN", (8, 11)),
        ("COPY", (12, 15)),  # the heredoc's body and marker belong to it
        ("RUN", (16, 18)),
        ("COPY", (19, 19)),
    ]
    assert dockerfile.stages[0].lines == (4, 19)
    assert dockerfile.stages[1].lines == (20, 22)


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_template_records_cover_every_instruction_line(template: Path) -> None:
    text = template.read_text()
    dockerfile = parse_dockerfile(text)
    covered = {
        line
        for instruction in (
            *dockerfile.global_args,
            *(i for s in dockerfile.stages for i in (s.start, *s.instructions)),
        )
        for line in range(instruction.lines.first, instruction.lines.last + 1)
    }
    # what no record covers is comments and blank lines
    for number, line in enumerate(text.splitlines(), start=1):
        assert number in covered or not line.strip() or line.lstrip().startswith("#"), line


def test_from_records_its_platform_name_and_image() -> None:
    dockerfile = parse_dockerfile(RECORDS)
    assert dockerfile.syntax == "docker/dockerfile:1"
    assert [a.variables for a in dockerfile.global_args] == [
        (Variable("BASE", "debian:bookworm"),),
        (Variable("TOOLS", None),),
    ]
    build, final = dockerfile.stages
    assert (build.index, build.name, build.base, build.platform) == (
        0, "build", "${BASE}", "$BUILDPLATFORM",
    )  # fmt: skip
    assert (final.index, final.name, final.base, final.platform) == (1, None, "scratch", None)


def test_typed_instructions_carry_their_flags_and_arguments() -> None:
    arg, env, workdir, run, motd, script, copy = parse_dockerfile(RECORDS).stages[0].instructions
    assert isinstance(arg, Arg)
    assert arg.variables == (Variable("TARGETOS", None), Variable("TARGETARCH", "amd64"))
    assert isinstance(env, Env)
    assert env.variables == (Variable("CC", "gcc"), Variable("CFLAGS", "-O2 -g"))
    assert isinstance(workdir, Workdir) and workdir.path == "/src"

    assert isinstance(run, Run)
    assert [m.type for m in run.mounts] == ["cache", "bind"]
    cache, bind = run.mounts
    assert (cache.id, cache.target, cache.option("sharing")) == ("apt", "/var/cache/apt", "locked")
    assert (bind.source, bind.target, bind.from_ref) == ("deps.txt", "/deps.txt", None)
    assert run.command.startswith("apt-get update")

    assert isinstance(motd, Copy)
    assert motd.sources == () and motd.dest == "/etc/motd"
    assert motd.heredocs == (Heredoc("EOF", "FROM not-a-stage\nRUN not a step\n", False, False),)

    assert isinstance(script, Run) and script.heredocs[0].strip_tabs
    assert "make CC=$TARGETARCH-gcc" in script.script

    assert isinstance(copy, Copy) and copy.json_form
    assert copy.flags == (Option("chown", "1:1"), Option("link", ""))
    assert copy.sources == ("src dir", "Makefile") and copy.dest == "/src/"
    assert copy.from_ref is None


def test_stage_references_by_index_and_by_name() -> None:
    dockerfile = parse_dockerfile(RECORDS)
    final = dockerfile.stages[1]
    copy, add = final.instructions
    assert isinstance(copy, Copy) and copy.from_ref == "0"
    assert (
        isinstance(add, Copy)
        and add.keyword == "ADD"
        and add.sources == ("https://example.org/a.tgz",)
    )
    assert dockerfile.stage_index("0", before=1) == 0
    assert dockerfile.stage_index("BUILD", before=1) == 0  # names are case-insensitive
    assert dockerfile.stage_index("build", before=0) is None  # only earlier stages
    assert dockerfile.stage_index("alpine:3") is None  # an image
    assert stage_dependencies(dockerfile, final) == (0,)


@pytest.mark.parametrize(
    ("word", "build_args", "expanded"),
    [
        ("build-${VARIANT}", (), "build-release"),
        ("build-$VARIANT", (("VARIANT", "debug"),), "build-debug"),
        ("${BASE:-debian}:${TAG}", (), "debian:"),  # no value: empty, as in BuildKit
        ("${BASE-debian}", (("BASE", ""),), ""),
        ("${BASE:-debian}", (("BASE", ""),), "debian"),
        ("${VARIANT:+build-}${VARIANT}", (), "build-release"),
        ("${DERIVED}", (), "release-slim"),  # a default reads the ARGs before it
        ("build-${TARGETARCH}", (), None),  # one stage per platform: the build decides
        ("${VARIANT#rel}", (), None),  # a form this reading does not know
        ("${UNDECLARED}x", (("UNDECLARED", "y"),), "x"),  # only declared ARGs take values
        # a default only the build knows leaves the others readable
        ("${PLATFORMED}", (), None),
        ("deps", (), "deps"),
        ("${TARGETSTAGE}", (), None),
        ("build-${NESTED:-${VARIANT}}", (), None),
    ],
)
def test_from_lines_expand_the_global_args(
    word: str, build_args: tuple[tuple[str, str], ...], expanded: str | None
) -> None:
    text = (
        "ARG VARIANT=release\nARG BASE\nARG TAG\nARG DERIVED=${VARIANT}-slim\n"
        # declared again without a value: it keeps the one it had, as in BuildKit
        "ARG PLATFORMED=distroless-${TARGETARCH}\nARG VARIANT\nFROM scratch\n"
    )
    dockerfile = dataclasses.replace(parse_dockerfile(text), build_args=build_args)
    assert dockerfile.expand_global(word) == expanded


def test_heredoc_bodies_are_not_instructions() -> None:
    facts = analyse_dockerfile(RECORDS, "Dockerfile", None)
    assert [s.name for s in facts.stages] == ["build", None]
    # the RUN inside the COPY's heredoc is text, not a step
    assert facts.stages[0].run_steps == 2
    assert facts.context_reads == ("deps.txt", "src dir", "Makefile")
    assert facts.cache_mounts == (CacheMount(id="apt", target="/var/cache/apt"),)


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        # a mount without a type binds, from the context
        ("FROM x\nRUN --mount=target=/src make\n", None),
        ("FROM x\nRUN --mount=source=go.mod,target=/go.mod go mod download\n", ("go.mod",)),
        # `--from` in a command is the command's own option, not a stage reference
        ("FROM x AS a\nRUN true\nFROM y\nRUN pip install --from=a pkg\nCOPY f /\n", ("f",)),
    ],
)
def test_mounts_and_commands_read_as_buildkit_does(
    text: str, reads: tuple[str, ...] | None
) -> None:
    facts = analyse_dockerfile(text, "Dockerfile", None)
    assert facts.context_reads == reads
    assert facts.stages[-1].depends_on == ()


def test_any_declared_target_arg_builds_for_the_target() -> None:
    text = "FROM --platform=$BUILDPLATFORM golang AS build\nARG VERSION TARGETARCH\nRUN go build\n"
    assert analyse_dockerfile(text, "Dockerfile", None).cross_capable


def test_a_heredoc_script_reading_the_target_builds_for_it() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang AS build\n"
        "RUN <<EOF\nGOARCH=$TARGETARCH go build\nEOF\n"
    )
    assert analyse_dockerfile(text, "Dockerfile", None).cross_capable


@pytest.mark.parametrize(
    ("value", "flags", "rest"),
    [
        ("--from=build /out/ /", (Option("from", "build"),), "/out/ /"),
        ("--link --chmod=755 a b", (Option("link", ""), Option("chmod", "755")), "a b"),
        ('--mount="type=cache,target=/x" make', (Option("mount", "type=cache,target=/x"),), "make"),
        ("make --from=x", (), "make --from=x"),
        ('["a", "b"]', (), '["a", "b"]'),
    ],
)
def test_split_flags(value: str, flags: tuple[Option, ...], rest: str) -> None:
    assert split_flags(value) == (flags, rest)


def test_an_unclosed_heredoc_is_read_as_text() -> None:
    dockerfile = parse_dockerfile("FROM x\nRUN cat <<EOF\nRUN true\n")
    assert [i.keyword for i in dockerfile.stages[0].instructions] == ["RUN", "RUN"]


def test_another_frontend_may_read_instructions_docker_does_not() -> None:
    with pytest.raises(ProjectError, match="unknown instruction PRINT"):
        parse_dockerfile("# syntax=docker/dockerfile:1.7\nFROM x\nPRINT hi\n")
    dockerfile = parse_dockerfile("# syntax=example.com/frontend:1\nFROM x\nPRINT hi\n")
    assert [i.keyword for i in dockerfile.stages[0].instructions] == ["PRINT"]


def test_directives_are_read_only_at_the_top() -> None:
    assert parse_dockerfile("# escape=`\n# syntax=a/b:1\nFROM x\n").syntax == "a/b:1"
    assert parse_dockerfile("# a comment\n# syntax=a/b:1\nFROM x\n").syntax is None
    assert parse_dockerfile("FROM x\n# syntax=a/b:1\n").syntax is None


def test_an_empty_line_inside_a_continued_instruction_is_skipped_as_buildkit_does() -> None:
    text = "FROM debian\nRUN apt-get install -y \\\n    gcc \\\n\n  \n    make\nRUN echo hi\n"
    run, echo = parse_dockerfile(text).stages[0].instructions
    assert isinstance(run, Run) and run.script.split() == [
        "apt-get",
        "install",
        "-y",
        "gcc",
        "make",
    ]
    assert run.lines == (2, 6) and run.text.endswith("\n\n  \n    make\n")
    assert isinstance(echo, Run) and echo.lines == (7, 7)
    # with the escape character a directive names
    other = parse_dockerfile("# escape=`\nFROM debian\nRUN echo a `\n\n  b\n")
    (run,) = other.stages[0].instructions
    assert isinstance(run, Run) and run.script.split() == ["echo", "a", "b"]


def test_lines_are_counted_at_newlines_only() -> None:
    # a form feed inside a line is no line break for Docker (nor for dockerfile-parse)
    dockerfile = parse_dockerfile("FROM x\nRUN echo \f done\nCOPY a /\n")
    run, copy = dockerfile.stages[0].instructions
    assert run.lines == (2, 2) and run.text == "RUN echo \f done\n"
    assert copy.lines == (3, 3) and copy.text == "COPY a /\n"
