"""Bad input and interruptions: a clear message, a distinct exit code, nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.integration.conftest import TOOLCHAIN, Engine
from tests.integration.helpers import buildorch, started, toolchain_args

# messages on one line each, so a test can look for them whole
WIDE = "10000"


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text


def test_missing_dockerfile(classic: Engine, tmp_path: Path) -> None:
    run = buildorch("build", "-C", str(tmp_path), "--target", "amd64", env=classic.env())
    assert run.code == 4
    assert "Dockerfile" in run.err and "fix:" in run.err
    _no_traceback(run.err)


def test_failing_dockerfile_shows_the_build_error(
    classic: Engine, registry: str, project: Path
) -> None:
    (project / "main.c").write_text("int main(void) { return undeclared_thing; }\n")
    run = buildorch(
        "build", "-C", str(project), "--target", "amd64", *toolchain_args(), env=classic.env()
    )
    assert run.code == 7
    assert "undeclared_thing" in run.err  # the compiler's own words
    _no_traceback(run.err + run.out)


def test_unknown_target(classic: Engine, project: Path) -> None:
    run = buildorch("plan", "-C", str(project), "--target", "linux/arm65", env=classic.env())
    assert run.code == 4
    assert "linux/arm65" in run.err and "did you mean" in run.err
    _no_traceback(run.err)


def test_no_docker_binary(project: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BUILDORCH_"))}
    env["PATH"] = str(Path(sys.executable).parent)  # python, but no docker
    run = buildorch("build", "-C", str(project), "--target", "amd64", env=env)
    assert run.code == 5
    assert "no docker CLI" in run.err
    _no_traceback(run.err)


def test_daemon_down(project: Path, tmp_path: Path) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/nothing-listens.sock")
    run = buildorch("build", "-C", str(project), "--target", "amd64", env=env)
    assert run.code == 5
    assert "does not answer" in run.err and "Cannot connect" in run.err
    _no_traceback(run.err)


def test_malformed_buildorch_yaml(classic: Engine, project: Path) -> None:
    (project / "buildorch.yaml").write_text("targets: [arm64]\ndockerflie: Dockerfile\n")
    run = buildorch("plan", "-C", str(project), env=classic.env())
    assert run.code == 3
    assert "dockerflie" in run.err and "dockerfile" in run.err
    _no_traceback(run.err)


def test_malformed_snapshot(project: Path, tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "host.json").write_text("{not json")
    run = buildorch("plan", "-C", str(project), "--snapshot", str(snap), env=dict(os.environ))
    assert run.code == 8
    _no_traceback(run.err)


def test_ctrl_c_stops_the_build_and_leaves_nothing(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    # a fresh marker each run, so BuildKit has nothing cached to skip the step with
    marker = f"sleeping-{uuid.uuid4().hex[:8]}"
    (project / "Dockerfile.slow").write_text(
        f"FROM {registry}/buildorch/debian-gcc:bookworm\nRUN echo {marker}-now && sleep 120\n"
    )
    out = tmp_path / "out"
    # a terminal's Ctrl-C reaches the whole foreground process group: do the same
    proc = started("build", "-C", str(project), "-f", "Dockerfile.slow", "--target", "amd64",
                   "-o", str(out), env=classic.env())  # fmt: skip
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if f"{marker}-now" in line and "echo" not in line:
            break
        assert time.monotonic() < deadline, "".join(seen)
    interrupted_at = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    assert time.monotonic() - interrupted_at < 30  # stopped, not run to the end
    assert "interrupted" in rest
    _no_traceback(rest)
    # no staging folder, no output, and no buildx process left running
    assert list(tmp_path.iterdir()) == [project]
    leftover = subprocess.run(
        ["pgrep", "-f", "Dockerfile.slow"], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == ""


def test_a_run_killed_outright_is_cleared_by_the_next(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    marker = f"killed-{uuid.uuid4().hex[:8]}"
    (project / "Dockerfile.slow").write_text(
        f"FROM {registry}/buildorch/busybox:1 AS build\n"
        f"RUN echo {marker}-now && sleep 120\n"
        "FROM scratch\nCOPY --from=build /etc/hostname /\n"
    )
    out = tmp_path / "out"
    proc = started("build", "-C", str(project), "-f", "Dockerfile.slow", "--target", "amd64",
                   "-o", str(out), env=classic.env())  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if f"{marker}-now" in line and "echo" not in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)  # no handler runs: its staging folder stays
    proc.wait(timeout=30)
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.buildorch-")]
    assert left, "the killed run left its staging folder (and its owner's pid) behind"
    (project / "Dockerfile.slow").write_text(
        f"FROM {registry}/buildorch/busybox:1 AS build\nRUN echo {marker} > /done\n"
        "FROM scratch\nCOPY --from=build /done /\n"
    )
    again = buildorch(
        "build", "-C", str(project), "-f", "Dockerfile.slow", "--target", "amd64",
        "-o", str(out), env=classic.env(),
    )  # fmt: skip
    assert again.code == 0, again.err
    assert (out / "done").read_text().strip() == marker
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([project.name, "out"])


def test_two_runs_at_once_do_not_clobber_each_other(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["build", "-C", str(project), "-o", str(out),
            "--build-arg", f"TOOLCHAIN_IMAGE={registry}/buildorch/debian-gcc:bookworm"]  # fmt: skip
    runs = [started(*args, "--target", target, env=classic.env()) for target in ("arm64", "amd64")]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    # one of the two won the folder, whole: a complete binary, and no staging left over
    assert (out / "hello").read_bytes()[:4] == b"\x7fELF"
    assert sorted(p.name for p in out.iterdir()) == ["hello"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello-c", "out"]


def test_a_registry_refusing_the_manifest_join_lists_what_was_pushed(
    classic: Engine, registry: str, project: Path, image_name: str
) -> None:
    # a port bound on loopback but never listening: every connection to it is refused
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{closed.getsockname()[1]}/buildorch-test/refused:join"
        # the classic store pushes each platform to the first tag's registry, then joins
        # them into every tag: the second one refuses
        run = buildorch(
            "build", "-C", str(project), "--target", "arm64", "--target", "amd64", "--push",
            "--tag", f"{image_name}:join", "--tag", nowhere, *toolchain_args(),
            env=classic.env(COLUMNS=WIDE),
        )  # fmt: skip
    assert run.code == 10, run.err
    assert f"could not join the pushed images into {image_name}:join, {nowhere}" in run.err
    assert "connection refused" in run.err
    for platform in ("linux-arm64", "linux-amd64"):
        assert re.search(rf"{re.escape(image_name)}:join-{platform}@sha256:[0-9a-f]{{64}}", run.err)
    assert "docker buildx imagetools create" in run.err
    _no_traceback(run.err)


def test_run_with_an_image_that_does_not_exist(
    classic: Engine, registry: str, project: Path
) -> None:
    # the toolchain is one of the engine's own images: the misspelt name is close to it
    subprocess.run(["docker", "pull", "-q", TOOLCHAIN], env=classic.env(), check=True)
    misspelt = TOOLCHAIN.replace("bookworm", "bookwrm")
    try:
        run = buildorch("run", "-C", str(project), "--image", misspelt, "--", "true",
                        env=classic.env(COLUMNS=WIDE))  # fmt: skip
    finally:
        buildorch("clean", "-C", str(project), env=classic.env())
    assert run.code == 3, run.err
    assert f"image {misspelt} was not found" in run.err
    assert "manifest unknown" in run.err
    assert f"did you mean {TOOLCHAIN}" in run.err
    _no_traceback(run.err)


def test_run_with_a_volume_that_cannot_be_created(
    classic: Engine, registry: str, project: Path
) -> None:
    # a kept folder's name goes into its volume's, and the engine's disk takes 255 bytes
    kept = "k" * 250
    try:
        run = buildorch("run", "-C", str(project), "--image", TOOLCHAIN, "--keep", kept,
                        "--", "true", env=classic.env(COLUMNS=WIDE))  # fmt: skip
    finally:
        buildorch("clean", "-C", str(project), env=classic.env())
    assert run.code == 11, run.err
    assert "could not create volume buildorch-" in run.err
    assert "file name too long" in run.err
    assert "docker volume create" in run.err
    _no_traceback(run.err)
