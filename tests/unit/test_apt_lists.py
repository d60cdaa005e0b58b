"""Which steps of a stage that stays on the target get their `apt-get update` from a helper
stage on the build machine, and what the derived Dockerfile says for them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from buildorch.apt_lists import (
    _FINGERPRINT,
    _SHIM,
    NativeUpdate,
    helper_stages,
    native_update,
    step_mounts,
)
from buildorch.dockerfile import parse_dockerfile

BUILDER = """\
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y gcc
RUN gcc -o /out/a a.c
"""


def update_of(image_stage: str) -> NativeUpdate | None:
    dockerfile = parse_dockerfile(BUILDER + image_stage)
    return native_update(dockerfile, dockerfile.stages[-1])


def test_the_first_step_of_an_image_stage_gets_the_helpers_lists() -> None:
    update = update_of(
        "FROM debian:bookworm-slim\n"
        "ENV DEBIAN_FRONTEND=noninteractive\n"
        "RUN apt-get update && apt-get install -y libzstd1 && apt-get clean\n"
        "COPY --from=build /out/a /a\n"
    )
    assert update is not None
    assert update.programs == ("apt-get",)
    dockerfile = parse_dockerfile(BUILDER + "FROM debian:bookworm-slim\nRUN apt update\n")
    stage = dockerfile.stages[-1]
    apt = native_update(dockerfile, stage)
    assert apt is not None and apt.programs == ("apt",)
    helpers = "".join(helper_stages(apt, stage, dockerfile))
    # the image on the target (its configuration), the helper on the build machine
    assert "FROM debian:bookworm-slim AS buildorch-apt-target-1\n" in helpers
    assert "FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS buildorch-apt-1\n" in helpers
    assert "from=buildorch-apt-target-1,source=/etc/apt,target=/etc/apt" in helpers
    assert "cp -L /target/usr/bin/$p" in helpers and "for p in apt;" in helpers
    # the step's own mounts: the helper's files where the image has an empty folder, and the
    # stand-in where the program the step runs is
    assert step_mounts(apt) == (
        "--mount=type=bind,from=buildorch-apt-1,source=/buildorch-apt,target=/mnt "
        "--mount=type=bind,from=buildorch-apt-1,source=/buildorch-apt/shim,target=/usr/bin/apt"
    )


def test_a_stage_built_on_stages_gets_the_lists_of_what_they_left() -> None:
    # a runtime base: the first stage sets a proxy and a source, the image's stage updates
    dockerfile = parse_dockerfile(
        BUILDER + "FROM debian:bookworm-slim AS os\n"
        "ARG MIRROR=deb.example\n"
        "ENV http_proxy=http://proxy.example:3128\n"
        "RUN echo 'deb http://$MIRROR/debian bookworm-backports main' "
        "> /etc/apt/sources.list.d/b.list\n"
        "FROM os AS base\n"
        "RUN apt-get update && apt-get install -y libonig5\n"
        "FROM base\nCOPY --from=build /out/a /a\n"
    )
    stage = dockerfile.stages[2]
    update = native_update(dockerfile, stage)
    assert update is not None
    assert update.image == "debian:bookworm-slim" and update.chain == (1,)
    helpers = "".join(helper_stages(update, stage, dockerfile))
    # the sources and status the stage before left, read on the target; apt-get from the
    # first stage's image, on the build machine, with that stage's ARGs and ENVs
    assert "FROM os AS buildorch-apt-target-2\n" in helpers
    assert "FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS buildorch-apt-2\n" in helpers
    assert "ARG MIRROR=deb.example\nENV http_proxy=http://proxy.example:3128\n" in helpers
    # an update the helper cannot make leaves the step its own (nothing matches `none`)
    assert "else echo none > /buildorch-apt/read; fi" in helpers


@pytest.mark.parametrize(
    "image_stage",
    [
        # something before the step may have changed the sources apt reads
        "FROM debian:bookworm-slim\nCOPY sources.list /etc/apt/\nRUN apt-get update\n",
        "FROM debian:bookworm-slim\nRUN echo hi\nRUN apt-get update\n",
        "FROM debian:bookworm-slim\nUSER app\nRUN apt-get update\n",
        # flags of its own: a secret or a mount the helper would not have
        "FROM debian:bookworm-slim\n"
        "RUN --mount=type=secret,id=auth,target=/etc/apt/auth.conf apt-get update\n",
        # not on the target: the stage, or one it is built on, pinned to a platform
        "FROM --platform=linux/amd64 debian:bookworm-slim\nRUN apt-get update\n",
        "FROM --platform=linux/amd64 debian:bookworm-slim AS os\n"
        "FROM os AS base\nRUN apt-get update\n",
        # no update (an install from lists the step does not fetch), or the exec form
        "FROM debian:bookworm-slim\nRUN apt-get install -y libzstd1\n",
        'FROM debian:bookworm-slim\nRUN ["apt-get", "update"]\n',
        "FROM debian:bookworm-slim\nRUN echo apt-get-update > /note\n",
        # an update with options of its own, which the helper's would not have
        "FROM debian:bookworm-slim\nRUN apt-get update --allow-releaseinfo-change\n",
        "FROM debian:bookworm-slim\nRUN apt-get -o Acquire::Check-Valid-Until=false update\n",
        # apt's own programs replaced while they stand in the step's mounts
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get -y upgrade\n",
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y apt\n",
        # apt-utils needs apt's own version: an image older than the archive upgrades apt
        "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y apt-utils curl\n",
        "FROM debian:bookworm-slim\nRUN apt update && apt install -y apt-transport-https\n",
        # a step that writes where the helper's files are
        "FROM debian:bookworm-slim\nRUN apt-get update && mkdir -p /mnt/data\n",
    ],
)
def test_a_step_whose_lists_may_not_be_the_targets_runs_as_written(image_stage: str) -> None:
    assert update_of(image_stage) is None


@pytest.mark.subprocesses
@pytest.mark.parametrize(
    ("args", "copies"),
    [
        (["update"], True),
        (["-qq", "update"], True),
        (["install", "-y", "libzstd1"], False),
        # options the helper's update did not have: the real apt-get's
        (["-o", "Acquire::Retries=3", "update"], False),
        (["update", "--allow-releaseinfo-change"], False),
        # a source the step added before its update
        (["update", "(a new source)"], False),
    ],
)
def test_the_stand_in_copies_the_lists_for_a_plain_update_of_the_same_sources(
    tmp_path: Path, args: list[str], copies: bool
) -> None:
    # the helper's files, the image's folders and its root, under tmp_path
    root = tmp_path / "root"
    shim = (
        "\n".join(_SHIM)
        .replace("/mnt/", f"{tmp_path}/mnt/")
        .replace("/var/", f"{tmp_path}/")
        .replace("cd / &&", f"cd {root} &&")
    )
    (root / "etc" / "apt").mkdir(parents=True)
    (root / "etc" / "apt" / "sources.list").write_text(
        "deb http://deb.example/debian bookworm main\n"
    )
    read = subprocess.run(
        ["sh", "-c", _FINGERPRINT], cwd=root, capture_output=True, text=True, check=True
    )
    (tmp_path / "mnt" / "lists").mkdir(parents=True)
    (tmp_path / "mnt" / "cache").mkdir()
    (tmp_path / "mnt" / "read").write_text(read.stdout)
    (tmp_path / "mnt" / "lists" / "Packages").write_text("Package: x\n")
    (tmp_path / "mnt" / "apt-get").write_text('#!/bin/sh\necho "real $*"\n')
    (tmp_path / "mnt" / "apt-get").chmod(0o755)
    (tmp_path / "lib" / "apt" / "lists").mkdir(parents=True)
    (tmp_path / "cache" / "apt").mkdir(parents=True)
    (tmp_path / "apt-get").write_text(shim + "\n")
    if "(a new source)" in args:
        args = ["update"]
        (root / "etc" / "apt" / "vendor.list").write_text("deb http://vendor.example/ ./\n")
    ran = subprocess.run(
        ["sh", str(tmp_path / "apt-get"), *args], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "lib" / "apt" / "lists" / "Packages").exists() == copies
    assert ran.stdout == ("" if copies else f"real {' '.join(args)}\n")


def test_the_helper_names_an_image_a_global_arg_picks_as_written() -> None:
    # a build arg given to the build later picks the same image for the helper as for the stage
    dockerfile = parse_dockerfile(
        "ARG RUNTIME=debian:bookworm-slim\n"
        + BUILDER
        + "FROM ${RUNTIME} AS os\nRUN useradd app\n"
        + "FROM os\nRUN apt-get update && apt-get install -y libzstd1\n"
    )
    stage = dockerfile.stages[-1]
    update = native_update(dockerfile, stage)
    assert update is not None
    helpers = "".join(helper_stages(update, stage, dockerfile))
    assert "FROM --platform=$BUILDPLATFORM ${RUNTIME} AS buildorch-apt-2\n" in helpers


def test_an_image_a_global_arg_names_gets_the_helpers_lists() -> None:
    dockerfile = parse_dockerfile(
        "ARG DEBIAN=bookworm\n" + BUILDER + "FROM debian:${DEBIAN}-slim\n"
        "RUN apt-get update && apt-get install -y libzstd1\n"
    )
    update = native_update(dockerfile, dockerfile.stages[-1])
    assert update is not None and update.image == "debian:${DEBIAN}-slim"


def test_a_stage_a_build_arg_picks_keeps_its_update() -> None:
    # another value of the arg would build it on another stage than the helper read
    dockerfile = parse_dockerfile(
        "ARG FLAVOUR=build\n" + BUILDER + "FROM ${FLAVOUR}\nRUN apt-get update\n"
    )
    assert native_update(dockerfile, dockerfile.stages[-1]) is None
