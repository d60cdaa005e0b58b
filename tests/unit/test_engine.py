"""The engine layer's command lines, written from a request without running docker."""

from __future__ import annotations

from dataclasses import fields, replace
from types import SimpleNamespace

import pytest

from buildorch import engine
from buildorch.buildx_flags import BuildxFlag, privilege_notes
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


# --- no container with more rights than a container's usual ones ------------------------

# the container options that give a container more than its usual rights; buildorch asks for
# none of them: one that did would need a reason that `plan` shows (see privilege_notes)
_PRIVILEGES = {
    "privileged", "cap_add", "pid", "ipc", "devices", "security_options", "userns",
    "cgroupns", "uts", "network", "device_cgroup_rules", "gpus", "sysctl",
}  # fmt: skip


class _Recorder:
    """Stands in for python-on-whales' client: records what a container is created with."""

    def __init__(self) -> None:
        self.created: dict[str, object] = {}
        self.container = self

    def create(self, image: str, command: list[str], **options: object) -> SimpleNamespace:
        self.created = {"image": image, "command": command, **options}
        return SimpleNamespace(id="c0ffee")


def test_the_engine_layer_creates_containers_without_extra_rights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(engine, "client", lambda env: recorder)
    spec = engine.ContainerSpec(
        image="debian:bookworm", platform="linux/arm64",
        mounts=(engine.ContainerMount("buildorch-p-linux-arm64", "/work"),),
        workdir="/work", command=("make",), name="buildorch-run-1",
        labels=(engine.Label("buildorch.project", "p"),), entrypoint="/bin/sh",
    )  # fmt: skip
    assert engine._create_local(spec, {}) == "c0ffee"
    assert not _PRIVILEGES & set(recorder.created), recorder.created
    # a field added to the spec is a right the engine layer might pass: decide it here
    assert {f.name for f in fields(engine.ContainerSpec)} == {
        "image", "platform", "mounts", "workdir", "command", "name", "labels", "entrypoint",
    }  # fmt: skip


def test_buildx_is_given_extra_rights_only_by_the_users_own_options() -> None:
    request = engine.BuildRequest(
        context="/src", dockerfile="/src/Dockerfile", platforms=("linux/arm64",), load=True
    )
    said = " ".join(engine.build_arguments(request))
    assert "--allow" not in said and "privileged" not in said and "insecure" not in said
    asked = BuildxFlag(flag="--allow", value="security.insecure")
    insecure = replace(request, buildx=asked.argv())
    assert "--allow security.insecure" in " ".join(engine.build_arguments(insecure))
    # and the plan says so, with the consequence
    (note,) = privilege_notes((asked, BuildxFlag(flag="--no-cache")))
    assert note.startswith("--allow security.insecure (yours)") and "privileged" in note
