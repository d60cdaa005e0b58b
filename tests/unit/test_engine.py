"""The engine layer's command lines, written from a request without running docker."""

from __future__ import annotations

from buildorch import engine
from buildorch.plan import BuildArg


def test_a_request_becomes_buildx_arguments_with_the_context_last() -> None:
    request = engine.BuildRequest(
        context="/src/app",
        dockerfile="/src/app/Dockerfile",
        platforms=("linux/arm64", "linux/amd64"),
        build_target="dist",
        build_args=(BuildArg("VERSION", "1=2"), BuildArg("EMPTY", "")),
        output=(engine.OutputOption("type", "local"), engine.OutputOption("dest", "/out")),
        buildx=("--network", "host"),
    )
    assert engine.build_arguments(request) == [
        "--progress", "plain", "--file", "/src/app/Dockerfile",
        "--platform", "linux/arm64,linux/amd64",
        "--target", "dist",
        "--build-arg", "VERSION=1=2", "--build-arg", "EMPTY=",
        "--output", "type=local,dest=/out",
        "--network", "host",
        "/src/app",
    ]  # fmt: skip
