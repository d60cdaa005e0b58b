"""buildx's own options on real builds: passed to buildx as typed, secrets kept out of every
record, and the options buildorch cannot honour refused before anything is built."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import REGISTRY, Engine
from tests.integration.helpers import Run, buildorch

BUSYBOX = f"{REGISTRY}/buildorch/busybox:1"
# messages on one line each, so a test can look for them whole
WIDE = "10000"


def _project(tmp_path: Path, *run_steps: str) -> Path:
    """A busybox project whose RUN steps write into /out/dist, the files `-o` receives."""
    app = tmp_path / "app"
    app.mkdir()
    runs = "".join(f"RUN {step}\n" for step in run_steps)
    (app / "Dockerfile").write_text(
        f"FROM {BUSYBOX} AS build\nRUN mkdir -p /out/dist\n{runs}"
        "FROM scratch\nCOPY --from=build /out/dist/ /\n"
    )
    return app


def _build_amd64(app: Path, out: Path, *flags: str, env: dict[str, str]) -> Run:
    return buildorch("build", "-C", str(app), "--target", "amd64", "-o", str(out), *flags, env=env)


def _nonce() -> str:
    """Makes a RUN step new to every cache, so a passing build really ran it."""
    return uuid.uuid4().hex[:12]


def test_a_secret_reaches_its_run_step_and_no_record(
    engine: Engine, registry: str, tmp_path: Path
) -> None:
    # a secret is no part of a step's cache key: the nonce keeps an earlier run's answer out
    secret = f"tok-{uuid.uuid4().hex}"
    app = _project(
        tmp_path,
        "--mount=type=secret,id=tok,required=true "
        f"sha256sum /run/secrets/tok | cut -d' ' -f1 > /out/dist/secret-sha256 # {_nonce()}",
    )
    cache_home = tmp_path / "xdg"
    env = engine.env(TOK=secret, XDG_CACHE_HOME=str(cache_home), COLUMNS=WIDE)
    out = tmp_path / "out"
    secret_flag = ("--secret", "id=tok,env=TOK")

    as_json = _build_amd64(app, out, *secret_flag, "--json", env=env)
    assert as_json.code == 0, as_json.err
    expected = hashlib.sha256(secret.encode()).hexdigest()
    assert (out / "secret-sha256").read_text().strip() == expected
    report = as_json.json()
    assert report["plan"]["builds"][0]["buildx"] == ["--secret id=tok,..."]
    # --no-cache: the step reads the secret again, this time with buildx's log on stderr
    shutil.rmtree(out)
    logged = _build_amd64(app, out, *secret_flag, "--no-cache", "--debug", env=env)
    assert logged.code == 0, logged.err
    assert (out / "secret-sha256").read_text().strip() == expected
    assert "RUN --mount=type=secret,id=tok" in logged.err  # buildx's log is there

    records = [p for p in cache_home.rglob("*") if p.is_file()]
    assert cache_home / "buildorch" / "history.json" in records
    for text in (as_json.out, as_json.err, logged.out, logged.err):
        assert secret not in text
    for record in records:
        assert secret.encode() not in record.read_bytes(), record
    for written in out.rglob("*"):
        assert secret.encode() not in written.read_bytes(), written


@pytest.fixture
def ssh_agent() -> Iterator[str]:
    """An empty ssh-agent of the test's own; its socket in a short folder (a unix socket's
    path is limited to 108 bytes)."""
    if shutil.which("ssh-agent") is None:
        pytest.fail("ssh-agent is missing: install openssh-client")
    folder = Path(tempfile.mkdtemp(prefix="bo-ssh-"))
    sock = folder / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert agent.poll() is None, "ssh-agent stopped"
            assert time.monotonic() < deadline, "ssh-agent made no socket"
            time.sleep(0.05)
        yield str(sock)
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_ssh_default_forwards_the_agent(
    engine: Engine, registry: str, ssh_agent: str, tmp_path: Path
) -> None:
    app = _project(
        tmp_path,
        f'--mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo ok > /out/dist/ssh # {_nonce()}',
    )
    env = engine.env(SSH_AUTH_SOCK=ssh_agent, COLUMNS=WIDE)
    out = tmp_path / "out"
    run = _build_amd64(app, out, "--ssh", "default", "--json", env=env)
    assert run.code == 0, run.err
    assert (out / "ssh").read_text() == "ok\n"
    assert run.json()["plan"]["builds"][0]["buildx"] == ["--ssh default"]

    # without --ssh the mount has no socket: the same step, run again, fails (an ssh mount
    # is no part of the step's cache key, hence --no-cache)
    without = _build_amd64(app, tmp_path / "out2", "--no-cache", env=env)
    assert without.code == 7, without.err
    assert "test -S" in without.err


def test_network_host_reaches_the_hosts_loopback(
    engine: Engine, registry: str, tmp_path: Path
) -> None:
    # the registry listens on the host's loopback: only a RUN step on the host's network sees it
    host, port = REGISTRY.rsplit(":", 1)
    assert host == "localhost", f"this test needs the registry on loopback, not {REGISTRY}"
    app = _project(
        tmp_path,
        f"wget -q -O- http://127.0.0.1:{port}/v2/ > /out/dist/v2 # {_nonce()}",
    )
    env = engine.env(COLUMNS=WIDE)
    out = tmp_path / "out"
    run = _build_amd64(app, out, "--network", "host", env=env)
    assert run.code == 0, run.err
    assert (out / "v2").read_text().strip() == "{}"  # the registry's answer

    isolated = _build_amd64(app, tmp_path / "out2", "--no-cache", env=env)
    assert isolated.code == 7, isolated.err
    assert "wget" in isolated.err
    assert not (tmp_path / "out2" / "v2").exists()


def test_registry_cache_is_exported_and_imported_after_a_prune(
    containerd: Engine, registry: str, tmp_path: Path
) -> None:
    nonce = _nonce()
    app = _project(
        tmp_path,
        f"echo {nonce} > /out/dist/first",
        "echo second > /out/dist/second",
    )
    ref = f"{REGISTRY}/buildorch-test/cache-{nonce}"
    (app / "buildorch.yaml").write_text(f"cache:\n  ref: {ref}:c\n")
    env = containerd.env(COLUMNS=WIDE)

    first = _build_amd64(app, tmp_path / "out1", "--json", env=env)
    assert first.code == 0, first.err
    buildx = first.json()["plan"]["builds"][0]["buildx"]
    assert f"--cache-from type=registry,ref={ref}:c-linux-amd64" in buildx
    assert any(f.startswith(f"--cache-to type=registry,ref={ref}:c-linux-amd64") for f in buildx)
    exported = first.json()["report"]["builds"][0]
    assert exported["cached"] <= 1  # the base image at most: both RUN steps are new
    inspect = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", f"{ref}:c-linux-amd64"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert inspect.returncode == 0, inspect.stderr

    # nothing of the first build is left in the engine: only the registry can answer
    subprocess.run(
        ["docker", "-H", containerd.host, "builder", "prune", "-af"],
        capture_output=True, check=True, env=env,
    )  # fmt: skip

    out = tmp_path / "out2"
    second = _build_amd64(app, out, "--json", env=env)
    assert second.code == 0, second.err
    imported = second.json()["report"]["builds"][0]
    assert imported["steps"] == exported["steps"]
    assert imported["cached"] >= 2  # both RUN steps, from the registry
    assert (out / "first").read_text().strip() == nonce
    assert (out / "second").read_text().strip() == "second"


@pytest.mark.parametrize("where", ["command line", "buildorch.yaml"])
def test_classic_store_refuses_a_registry_cache(
    classic: Engine, tmp_path: Path, where: str
) -> None:
    app = _project(tmp_path, "echo hi > /out/dist/hi")
    ref = f"{REGISTRY}/buildorch-test/cache-{_nonce()}:c"
    if where == "command line":
        extra: tuple[str, ...] = ("--cache-to", f"type=registry,ref={ref}")
    else:
        extra = ()
        (app / "buildorch.yaml").write_text(f"cache:\n  ref: {ref}\n")
    out = tmp_path / "out"
    for command in ("plan", "build"):
        output = ("-o", str(out)) if command == "build" else ()
        run = buildorch(
            command, "-C", str(app), "--target", "amd64", *output, *extra,
            env=classic.env(COLUMNS=WIDE),
        )  # fmt: skip
        assert run.code == 6, run.err
        assert "the docker driver on the classic image store" in run.err
        assert "fix:" in run.err and "Traceback" not in run.err
    assert not out.exists()


def test_classic_store_takes_an_inline_cache(classic: Engine, tmp_path: Path) -> None:
    app = _project(tmp_path, "echo hi > /out/dist/hi")
    run = buildorch(
        "plan", "-C", str(app), "--target", "amd64", "--cache-to", "type=inline", "--json",
        env=classic.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.json()["builds"][0]["buildx"] == ["--cache-to type=inline"]


@pytest.mark.parametrize("command", ["plan", "build"])
def test_buildx_platform_is_refused_for_target(
    classic: Engine, tmp_path: Path, command: str
) -> None:
    app = _project(tmp_path, "echo hi > /out/dist/hi")
    run = buildorch(
        command, "-C", str(app), "--platform", "linux/arm64", env=classic.env(COLUMNS=WIDE)
    )
    assert run.code == 3, run.err
    assert "--platform" in run.err and "--target" in run.err
    assert "Traceback" not in run.err


def test_unknown_option_is_a_usage_error(classic: Engine, tmp_path: Path) -> None:
    app = _project(tmp_path, "echo hi > /out/dist/hi")
    run = buildorch("build", "-C", str(app), "--frobnicate", env=classic.env())
    assert run.code == 2
    assert "unrecognized arguments: --frobnicate" in run.err


def test_a_split_build_writes_its_files_per_platform(classic: Engine, tmp_path: Path) -> None:
    # the classic store builds one platform per call: one --metadata-file and --iidfile each,
    # where the second build would otherwise overwrite the first's
    nonce = _nonce()
    app = _project(tmp_path, f"echo {nonce} > /out/dist/nonce")
    tag = f"buildorch-test/files:{nonce}"
    env = classic.env(COLUMNS=WIDE)
    run = buildorch(
        "build", "-C", str(app), "--target", "amd64,arm64", "--load", "--tag", tag,
        "--metadata-file", str(tmp_path / "build.json"), "--iidfile", str(tmp_path / "image.iid"),
        env=env,
    )  # fmt: skip
    try:
        assert run.code == 0, run.err
        assert not (tmp_path / "build.json").exists() and not (tmp_path / "image.iid").exists()
        images = set()
        for slug in ("linux-amd64", "linux-arm64"):
            metadata = json.loads((tmp_path / f"build.{slug}.json").read_text())
            image = (tmp_path / f"image.{slug}.iid").read_text().strip()
            # the image ID: `containerimage.digest` on the docker driver, `.config.digest` elsewhere
            assert image.startswith("sha256:") and image in metadata.values(), metadata
            images.add(image)
        assert len(images) == 2  # each platform's own image
    finally:
        subprocess.run(
            ["docker", "image", "rm", "-f", f"{tag}-linux-amd64", f"{tag}-linux-arm64"],
            capture_output=True, check=False, env=env,
        )  # fmt: skip
