"""Reading Dockerfiles: the typed records, where each stage runs, what would be emulated,
what collides."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.dockerfile import analyse_dockerfile
from buildorch.errors import ProjectError

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
