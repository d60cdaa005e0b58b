"""docker's failures leave engine.py as errors a user can act on, each with its exit code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from python_on_whales.exceptions import DockerException

from buildorch import engine, executor
from buildorch.errors import (
    BuildFailedError,
    ConfigError,
    EngineError,
    EngineUnavailableError,
    RegistryError,
)
from buildorch.plan import Invocation, Merge, Output, Plan, PlatformStep, Sources, Strategy
from buildorch.platforms import parse_platform

DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)

CREATED = type("Created", (), {"id": "c0ffee"})()
"""What creating a container returns: something with its id."""


class FakeDocker:
    """Stands in for python-on-whales' client: a call named in `fails` raises what docker
    raises (its stderr each time, or one after the other when given a list); any other call
    returns what `answers` says, or None. Every call is recorded."""

    def __init__(
        self,
        fails: Mapping[str, str | list[str | None]],
        answers: Mapping[str, object] | None = None,
    ) -> None:
        self.fails = {k: [v] if isinstance(v, str) else list(v) for k, v in fails.items()}
        self.answers = dict(answers or {})
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> _Call:
        return _Call(self, name)


class _Call:
    def __init__(self, root: FakeDocker, path: str) -> None:
        self.root, self.path = root, path

    def __getattr__(self, name: str) -> _Call:
        return _Call(self.root, f"{self.path}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.root.calls.append(self.path)
        pending = self.root.fails.get(self.path)
        stderr = pending.pop(0) if pending else None
        if pending is not None and not pending and stderr is not None:
            pending.append(stderr)  # the last failure repeats
        if stderr is not None:
            command = ["docker", *self.path.split(".")]
            raise DockerException(command, 1, stderr=stderr.encode())
        return self.root.answers.get(self.path)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(
        fails: Mapping[str, str | list[str | None]], answers: Mapping[str, object] | None = None
    ) -> FakeDocker:
        docker = FakeDocker(fails, answers)
        monkeypatch.setattr(engine, "client", lambda env: docker)
        return docker

    # retries without the waits between them
    monkeypatch.setattr(engine._imagetools_create.retry, "sleep", lambda seconds: None)
    monkeypatch.setattr(engine._pull.retry, "sleep", lambda seconds: None)
    # no `docker image ls` for the "did you mean" either
    monkeypatch.setattr(engine, "_capture", lambda cmd, env: (None, None))
    return install


def _spec(image: str = "localhost:5000/app:1") -> engine.ContainerSpec:
    return engine.ContainerSpec(
        image=image,
        platform="linux/arm64",
        mounts=(engine.ContainerMount("buildorch-p-linux-arm64", "/src"),),
        workdir="/src",
        command=("make",),
        name="buildorch-run-p-1",
    )


def test_a_volume_the_engine_refuses_is_an_engine_error(fake: Any) -> None:
    refusal = "Error response from daemon: create buildorch-x: mkdir /var/lib/x: file name too long"
    fake({"volume.create": refusal}, {"volume.exists": False})
    with pytest.raises(EngineError) as caught:
        engine.ensure_volume("buildorch-x", {}, {})
    assert caught.value.exit_code == 11
    assert caught.value.what == "could not create volume buildorch-x"
    assert caught.value.why == refusal
    assert "docker volume create buildorch-x" in caught.value.fix


def test_no_daemon_is_engine_unavailable_whatever_the_call(fake: Any) -> None:
    fake({"volume.exists": DAEMON_DOWN})
    with pytest.raises(EngineUnavailableError) as caught:
        engine.ensure_volume("buildorch-x", {}, {})
    assert caught.value.exit_code == 5
    assert "Is the docker daemon running?" in caught.value.why
    assert "buildorch doctor" in caught.value.fix


def test_a_docker_cli_that_cannot_start_is_engine_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Missing:
        def __getattr__(self, name: str) -> Any:
            raise FileNotFoundError(2, "No such file or directory", "/opt/docker")

    monkeypatch.setattr(engine, "client", lambda env: Missing())
    with pytest.raises(EngineUnavailableError) as caught:
        engine.project_volumes("org.buildorch.project", "p-1", {})
    assert caught.value.exit_code == 5
    assert "/opt/docker" in caught.value.why


def test_volumes_in_use_are_an_engine_error_naming_the_container_check(fake: Any) -> None:
    refusal = "Error response from daemon: remove buildorch-p: volume is in use - [3f2a1b]"
    fake({"volume.remove": refusal})
    with pytest.raises(EngineError) as caught:
        engine.remove_volumes(["buildorch-p", "buildorch-p-target"], {})
    assert caught.value.what == "could not remove volumes buildorch-p, buildorch-p-target"
    assert "volume is in use" in caught.value.why
    assert "docker ps -a --filter volume=buildorch-p" in caught.value.fix


def test_an_image_that_does_not_exist_is_a_config_error_with_a_guess(
    fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake(
        {
            "container.create": "Error response from daemon: No such image: "
            "localhost:5000/buildorch/debian-gcc:bookwrm",
            "image.pull": "Error response from daemon: Get ... : context deadline\n"
            "Error response from daemon: manifest for localhost:5000/"
            "buildorch/debian-gcc:bookwrm not found: manifest unknown: manifest unknown",
        }
    )
    monkeypatch.setattr(
        engine,
        "_capture",
        lambda cmd, env: (
            "localhost:5000/buildorch/debian-gcc:bookworm\nalpine:3.19\n<none>:<none>",
            None,
        ),
    )
    with pytest.raises(ConfigError) as caught:
        engine.run_container(_spec("localhost:5000/buildorch/debian-gcc:bookwrm"), {}, print)
    error = caught.value
    assert error.exit_code == 3
    assert error.what == "image localhost:5000/buildorch/debian-gcc:bookwrm was not found"
    assert error.why.endswith("manifest unknown: manifest unknown")  # docker's last line
    assert "context deadline" in error.why  # the lines before it too
    assert error.fix.startswith("did you mean localhost:5000/buildorch/debian-gcc:bookworm?")
    assert "--image" in error.fix and "docker pull --platform linux/arm64" in error.fix


def test_an_image_without_the_platform_says_so(fake: Any) -> None:
    fake(
        {
            "container.create": "Error response from daemon: No such image: localhost:5000/app:1",
            "image.pull": "no matching manifest for linux/arm64 in the manifest list entries",
        }
    )
    with pytest.raises(ConfigError) as caught:
        engine.copy_into(_spec(), Path("/nowhere"), "/src", {})
    assert caught.value.what == "image localhost:5000/app:1 has no linux/arm64 variant"


def test_an_unreachable_registry_when_pulling_is_a_registry_error_after_retries(
    fake: Any,
) -> None:
    refusal = (
        'Error response from daemon: Get "http://localhost:5999/v2/": dial tcp '
        "127.0.0.1:5999: connect: connection refused"
    )
    docker = fake(
        {"container.create": "No such image: localhost:5000/app:1", "image.pull": refusal}
    )
    with pytest.raises(RegistryError) as caught:
        engine.run_container(_spec(), {}, print)
    assert caught.value.exit_code == 10
    assert caught.value.what == "could not pull image localhost:5000/app:1"
    assert caught.value.why == refusal
    assert docker.calls == ["container.create", *["image.pull"] * 4]  # transient: tried again


def test_an_image_here_for_another_platform_is_pulled_for_this_one(fake: Any) -> None:
    other = (
        "Error response from daemon: image with reference localhost:5000/app:1 was found but "
        "does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
    )
    docker = fake(
        {"container.create": [other, None], "container.start": "stop here: not a test of it"},
        {
            "image.pull": iter([("stdout", b"1: Pulling from app\n")]),
            "container.create": CREATED,
        },
    )
    notes: list[str] = []
    with pytest.raises(EngineError):
        engine.run_container(_spec(), {}, print, notes=notes.append)
    assert docker.calls[:3] == ["container.create", "image.pull", "container.create"]
    assert notes == ["pulling localhost:5000/app:1 for linux/arm64", "1: Pulling from app"]


def test_a_command_the_image_lacks_is_a_failed_run(fake: Any) -> None:
    fake(
        {
            "container.start": "Error response from daemon: failed to create shim task: OCI "
            'runtime create failed: exec: "make": executable file not found in $PATH: unknown'
        },
        {"container.create": CREATED},
    )
    with pytest.raises(BuildFailedError) as caught:
        engine.run_container(_spec(), {}, print)
    assert caught.value.exit_code == 7
    assert caught.value.what == "`make` could not start in localhost:5000/app:1"


def test_copy_out_failures_other_than_a_missing_path_are_engine_errors(fake: Any) -> None:
    fake({"copy": "Error response from daemon: No such container: c0ffee"})
    with pytest.raises(EngineError) as caught:
        engine.copy_out("c0ffee", "/src/hello", Path("/tmp/out"), {})
    assert caught.value.what == "could not copy /src/hello out of the container"

    fake({"copy": "Error: Could not find the file /src/hello in container c0ffee"})
    with pytest.raises(BuildFailedError) as missing:
        engine.copy_out("c0ffee", "/src/hello", Path("/tmp/out"), {})
    assert missing.value.what == "the command left nothing at /src/hello to collect"


def test_a_refused_manifest_join_lists_what_was_pushed(fake: Any) -> None:
    docker = fake(
        {
            "buildx.imagetools.create": "ERROR: failed to push localhost:5000/app:1: "
            "unexpected status from PUT request: 401 Unauthorized"
        }
    )
    pushed = (
        "localhost:5000/app:1-linux-arm64@sha256:" + "a" * 64,
        "localhost:5000/app:1-linux-amd64@sha256:" + "b" * 64,
    )
    with pytest.raises(RegistryError) as caught:
        engine.join_manifest(
            ("localhost:5000/app:1",),
            ("localhost:5000/app:1-linux-arm64", "localhost:5000/app:1-linux-amd64"),
            {},
            pushed=pushed,
        )
    error = caught.value
    assert error.exit_code == 10
    assert error.what == "could not join the pushed images into localhost:5000/app:1"
    assert "401 Unauthorized" in error.why
    assert all(f"\n  {image}" in error.fix for image in pushed)
    assert error.fix.endswith(
        f"docker buildx imagetools create -t localhost:5000/app:1 {pushed[0]} {pushed[1]}"
    )
    assert docker.calls == ["buildx.imagetools.create"]  # a refusal is not tried again


@pytest.mark.parametrize(
    "transient",
    [
        "ERROR: dial tcp 127.0.0.1:5000: connect: connection refused",
        "ERROR: unexpected status: 503 Service Unavailable",
        "ERROR: read tcp 127.0.0.1:5000: read: connection reset by peer",
    ],
)
def test_a_transient_join_failure_is_tried_again(fake: Any, transient: str) -> None:
    docker = fake({"buildx.imagetools.create": [transient, None]})
    engine.join_manifest(("r/app:1",), ("r/app:1-linux-arm64",), {})
    assert docker.calls == ["buildx.imagetools.create"] * 2


def test_what_docker_said_is_its_last_lines() -> None:
    stderr = "\n".join(f"line {n}" for n in range(20)) + "\n\n"
    failure = DockerException(["docker", "volume", "create"], 1, stderr=stderr.encode())
    assert engine.said(failure) == "\n".join(f"line {n}" for n in range(14, 20))
    silent = DockerException(["docker", "volume", "create"], 3, stderr=b"")
    assert engine.said(silent) == "`docker volume create` exited with 3"


SOURCES = ("r/app:1-linux-arm64", "r/app:1-linux-amd64")


def _two_pushes() -> Plan:
    """Two platforms pushed one by one, then joined into r/app:1."""
    arm, amd = parse_platform("linux/arm64"), parse_platform("linux/amd64")
    invocations = tuple(
        Invocation(
            platforms=(platform,),
            context="/p",
            dockerfile="/p/Dockerfile",
            build_target=None,
            build_args=(),
            builder=None,
            output=Output(kind="push", tags=(tag,)),
            label=platform.slug,
        )
        for platform, tag in zip((arm, amd), SOURCES, strict=True)
    )
    return Plan(
        steps=tuple(
            PlatformStep(
                platform=platform,
                strategy=Strategy.NATIVE,
                sources=Sources.DIRECT,
                reasons=(),
                rejected=(),
                cost=1.0,
            )
            for platform in (arm, amd)
        ),
        invocations=invocations,
        merge=Merge(tags=("r/app:1",), sources=SOURCES),
        output=Output(kind="push", tags=("r/app:1",)),
    )


class Quiet:
    """Progress that shows nothing."""

    def note(self, text: str) -> None: ...
    def started(self, invocation: Invocation, strategies: str) -> None: ...
    def line(self, invocation: Invocation, text: str) -> None: ...
    def finished(self, invocation: Invocation, result: object) -> None: ...


def test_the_executor_hands_the_join_the_pushed_digests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan, sources = _two_pushes(), SOURCES
    digests = iter(("sha256:" + "a" * 64, "sha256:" + "b" * 64))
    monkeypatch.setattr(
        engine,
        "build",
        lambda request, env, on_line: engine.BuildOutcome(
            ok=True, log_tail=(), steps=1, cached=0, digest=next(digests)
        ),
    )
    joined: dict[str, object] = {}

    def join(tags: object, srcs: object, env: object, *, pushed: object = ()) -> None:
        joined.update(tags=tags, sources=srcs, pushed=pushed)

    monkeypatch.setattr(engine, "join_manifest", join)

    report = executor.execute(plan, {}, Quiet())
    assert report.merge is not None and report.merge.sources == sources
    assert joined["sources"] == sources
    assert joined["pushed"] == (
        "r/app:1-linux-arm64@sha256:" + "a" * 64,
        "r/app:1-linux-amd64@sha256:" + "b" * 64,
    )


def test_a_push_that_fails_after_another_lists_the_pushed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def build(request: engine.BuildRequest, env: object, on_line: object) -> engine.BuildOutcome:
        if request.tags == (SOURCES[1],):
            raise RegistryError(f"could not push {SOURCES[1]}", why="connection refused", fix="")
        return engine.BuildOutcome(ok=True, log_tail=(), steps=1, cached=0, digest="sha256:a")

    monkeypatch.setattr(engine, "build", build)
    with pytest.raises(RegistryError) as caught:
        executor.execute(_two_pushes(), {}, Quiet())
    assert caught.value.what == f"could not push {SOURCES[1]}"
    assert caught.value.fix.endswith(f"pushed already:\n  {SOURCES[0]}@sha256:a")


def _failed_build(
    monkeypatch: pytest.MonkeyPatch,
    said: list[str],
    *,
    push: bool = True,
    runs: list[str] | None = None,
) -> engine.BuildOutcome:
    """engine.build over a buildx that printed `said`, then failed (each time, unless it
    succeeded once `runs` holds three); `runs` hears of each run."""
    from python_on_whales.components.buildx import cli_wrapper

    def stream(cmd: list[str], env: object) -> Iterator[str]:
        if runs is not None:
            runs.append("build")
            if len(runs) == 3:
                return
        yield from (f"{line}\n" for line in said)
        raise DockerException(cmd, 1, stderr=b"")

    monkeypatch.setattr(cli_wrapper, "stream_buildx_logs", stream)
    monkeypatch.setattr(engine.build.retry, "sleep", lambda seconds: None)
    buildx = SimpleNamespace(buildx=SimpleNamespace(docker_cmd=["docker"]))
    monkeypatch.setattr(engine, "client", lambda env: buildx)
    request = engine.BuildRequest(
        context=".", dockerfile="Dockerfile", platforms=("linux/amd64",), tags=("r/app:1",),
        push=push,
    )  # fmt: skip
    return engine.build(request, {}, lambda text: None)


def test_a_build_that_lost_the_engine_is_the_engines_error(monkeypatch: pytest.MonkeyPatch) -> None:
    lost = (
        "ERROR: failed to receive status: rpc error: code = Unavailable desc = error reading "
        "from server: EOF"
    )
    with pytest.raises(EngineUnavailableError) as caught:
        _failed_build(monkeypatch, ["#5 [build 2/2] RUN sleep 60", lost], push=False)
    assert caught.value.exit_code == 5
    assert caught.value.what == "lost the engine during the build for linux/amd64"
    assert lost in caught.value.why


def test_a_push_the_registry_failed_is_the_registrys_error(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = 'ERROR: Get "http://r/v2/": dial tcp 127.0.0.1:5000: connect: connection refused'
    said = ["#12 pushing r/app:1 with docker", f"#12 {refused}", "------",
            " > pushing r/app:1 with docker:", "------", refused]  # fmt: skip
    runs: list[str] = []
    assert _failed_build(monkeypatch, said, runs=runs).ok  # the registry was back
    assert runs == ["build"] * 3
    with pytest.raises(RegistryError) as caught:
        _failed_build(monkeypatch, said)
    assert caught.value.exit_code == 10
    assert caught.value.what == "could not push r/app:1"
    assert "connection refused" in caught.value.why


def test_a_push_the_registry_refused_is_not_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    denied = "ERROR: failed to push r/app:1: unexpected status: 401 Unauthorized"
    runs: list[str] = []
    with pytest.raises(RegistryError) as caught:
        _failed_build(monkeypatch, ["#11 exporting to image", denied], runs=runs)
    assert "401 Unauthorized" in caught.value.why
    assert runs == ["build"]


def test_a_step_that_fails_is_the_builds_even_when_it_says_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = [
        "#5 [build 2/2] RUN curl localhost:1",
        "#5 0.1 curl: (7) Connection refused",
        " > [build 2/2] RUN curl localhost:1:",
        'ERROR: failed to solve: process "sh -c curl" did not complete: exit code 7',
    ]
    outcome = _failed_build(monkeypatch, said)
    assert not outcome.ok
    assert outcome.log_tail[-1] == said[-1]


def test_leftover_containers_already_gone_are_no_failure(fake: Any) -> None:
    from python_on_whales import utils

    gone = "Error response from daemon: No such container: buildorch-run-p-1"
    docker = fake({"container.remove": gone})
    docker.client_config = SimpleNamespace(docker_cmd=["docker"])
    listed = ["buildorch-run-p-1\n"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils, "run", lambda cmd: listed.pop())
        assert engine.remove_containers("org.buildorch.project", "p", {}) == ["buildorch-run-p-1"]
    assert docker.calls == ["container.remove"]
