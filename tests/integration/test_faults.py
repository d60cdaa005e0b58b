"""Faults injected into real runs: a registry that goes away in the middle of a push and of a
manifest join, an engine restarted under a build, Ctrl-C and SIGKILL at each phase, two
projects built at once. After each: a clear error, nothing buildorch created left behind, the
sources as they were, and the next run succeeds.

A phase is found from buildorch's own output (`--debug` names each: `phase: publish ...`). A
process the phase waits on (the registry, the share's FUSE server) is stopped when the phase
begins, so the signal reaches the run while it is still in that phase, whatever the timing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildorch import workspace
from tests.integration.conftest import BUSYBOX, Engine, _unavailable
from tests.integration.helpers import (
    Run,
    buildorch,
    fingerprint,
    mount_slow,
    read_until,
    started,
    unmount,
)

# messages on one line each, so a test can look for them whole
WIDE = "10000"
# files a slow share holds besides the example's: a sync long enough to be in
EXTRA_FILES = 300


def tiny_dockerfile(project: Path, *, network: bool = False) -> tuple[str, str]:
    """`Dockerfile.tiny`: busybox reads the whole context and writes one file. A fresh marker
    each test (nothing cached to skip the step); build argument NAP makes the step last."""
    marker = f"fault-{uuid.uuid4().hex[:8]}"
    (project / "Dockerfile.tiny").write_text(
        f"FROM {BUSYBOX} AS build\nARG NAP=0\nCOPY . /src\n"
        f"RUN echo {marker}-now && sleep $NAP && echo {marker} > /done && ls /src >> /done\n"
        "FROM scratch\nCOPY --from=build /done /\n"
    )
    return "Dockerfile.tiny", marker


def _leftover(folder: Path) -> list[str]:
    """Staging folders (and what they replaced) of runs that did not finish."""
    return [p.name for p in folder.iterdir() if ".buildorch-" in p.name]


def _lock_is_free(cache: str) -> None:
    for lock in (Path(cache) / "buildorch" / "projects").glob("*/lock"):
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises when still held
            fcntl.flock(handle, fcntl.LOCK_UN)


def _containers_of(project_dir: Path, engine: Engine) -> list[str]:
    label = f"{workspace.LABEL}={workspace.project_id(project_dir)}"
    listed = subprocess.run(
        ["docker", "-H", engine.host, "ps", "-a", "--filter", f"label={label}",
         "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return listed.stdout.split()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _tags(registry: str, repository: str) -> list[str]:
    url = f"http://{registry}/v2/{repository}/tags/list"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return list(json.load(reply).get("tags") or [])


@dataclass
class Held:
    """A process the test can stop and continue. While it is stopped, a run waiting on it (a
    push on the registry, a copy on the share) waits inside that phase."""

    process: subprocess.Popen[bytes]

    def hold(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def release(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)


@dataclass
class OwnRegistry(Held):
    address: str = ""

    def kill(self) -> None:
        self.release()
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def own_registry(
    registry: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OwnRegistry]:
    """A registry of the test's own (the binary provisioning installs) on a free port, with
    its own storage, for the test to stop or kill: never the shared one. The images the test
    tagged for it are removed from the engines afterwards."""
    engines: list[Engine] = [
        request.getfixturevalue(name)
        for name in ("classic", "containerd")
        if name in request.fixturenames
    ]
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        _unavailable("no registry binary (docker-registry) for a registry of the test's own")
    assert binary is not None
    folder = tmp_path / "registry"
    folder.mkdir()
    port = _free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    own = OwnRegistry(process, f"localhost:{port}")
    try:
        for _ in range(100):
            if _answers(f"http://127.0.0.1:{port}/v2/"):
                break
            assert process.poll() is None, "the registry exited as it started"
            time.sleep(0.1)
        yield own
    finally:
        own.kill()
        for engine in engines:
            _remove_images(engine, f"{own.address}/")


def _remove_images(engine: Engine, prefix: str) -> None:
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        env=engine.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    tagged = [line for line in listed.stdout.splitlines() if line.startswith(prefix)]
    if tagged:
        subprocess.run(
            ["docker", "rmi", "-f", *tagged], env=engine.env(), capture_output=True, check=False
        )


# --- the registry goes away --------------------------------------------------------------


def _push_both(project: Path, registry: OwnRegistry) -> tuple[list[str], str]:
    """A build of both platforms, each pushed to `registry`, then joined: its arguments, and
    the tag it joins them into."""
    dockerfile, _ = tiny_dockerfile(project)
    image = f"{registry.address}/faults/app:1"
    args = ["build", "-C", str(project), "-f", dockerfile, "--target", "arm64,amd64", "--push",
            "--tag", image]  # fmt: skip
    return args, image


def test_the_registry_gone_in_the_middle_of_a_push(
    classic: Engine, own_registry: OwnRegistry, project: Path
) -> None:
    args, image = _push_both(project, own_registry)
    proc = started(*args, env=classic.env(COLUMNS=WIDE))
    seen: list[str] = []
    read_until(proc, "done linux-arm64", seen)  # the first platform is in the registry
    read_until(proc, "==> build linux-amd64", seen)
    own_registry.hold()  # the second push starts, and waits on the registry
    read_until(proc, f"pushing {image}-linux-amd64", seen)
    own_registry.kill()
    rest, _ = proc.communicate(timeout=120)
    said = "".join(seen) + rest
    assert proc.returncode == 10, said
    assert f"error: could not push {image}-linux-amd64" in rest, said
    assert "connection re" in rest  # refused or reset: docker's own words
    # not reached (unlike refused): the cached build was run twice more to push it
    pushes = re.findall(rf"#\d+ pushing {re.escape(image)}-linux-amd64 with docker\n", said)
    assert len(pushes) == 3, said
    pushed = rf"pushed already:\n\s+{re.escape(image)}-linux-arm64@sha256:[0-9a-f]{{64}}"
    assert re.search(pushed, rest), rest
    assert "Traceback" not in said


def test_the_registry_gone_in_the_middle_of_the_join(
    classic: Engine, own_registry: OwnRegistry, project: Path
) -> None:
    args, image = _push_both(project, own_registry)
    proc = started(*args, "--debug", env=classic.env(COLUMNS=WIDE))
    seen: list[str] = []
    read_until(proc, "phase: join", seen)
    own_registry.hold()
    time.sleep(0.5)  # the join has connected and waits for an answer
    own_registry.kill()
    rest, _ = proc.communicate(timeout=120)
    said = "".join(seen) + rest
    assert proc.returncode == 10, said
    assert f"error: could not join the pushed images into {image}" in rest
    # transient (refused, reset, or EOF when the kill cut the held request): tried again,
    # then given up
    tries = re.findall(r"try \d of _imagetools_create failed \(.*(?:connection|EOF)", rest)
    assert len(tries) == 3, rest
    for platform in ("linux-arm64", "linux-amd64"):
        assert re.search(rf"{re.escape(image)}-{platform}@sha256:[0-9a-f]{{64}}", rest), rest
    assert "docker buildx imagetools create" in rest


# --- the engine restarted under a build ---------------------------------------------------


@dataclass
class OwnEngine:
    """A dockerd of the test's own (its data under a temporary folder): restarting it
    disturbs no other test. Started and stopped as scripts/provision-engine.sh does its
    daemons: in a session of its own with its log appended, stopped by its pid file (TERM,
    then KILL), and waited for until `docker info` answers."""

    folder: Path
    bridge: str
    """A bridge of its own: with none (`"bridge": "none"`) dockerd deletes docker0, which the
    shared classic engine's containers need."""
    daemon: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.folder}/docker.sock"

    def start(self) -> None:
        config = self.folder / "daemon.json"
        config.write_text(
            json.dumps(
                {
                    "registry-mirrors": ["http://localhost:5000"],
                    "iptables": False,
                    "ip-forward": False,
                    "ip-masq": False,
                    "bridge": self.bridge,
                }
            )
        )
        with (self.folder / "dockerd.log").open("ab") as log:
            self.daemon = subprocess.Popen(
                ["dockerd", "--config-file", str(config), "-H", self.host,
                 "--data-root", str(self.folder / "data"), "--exec-root", str(self.folder / "exec"),
                 "--pidfile", str(self.folder / "dockerd.pid")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        for _ in range(300):
            answered = subprocess.run(
                ["docker", "-H", self.host, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True, check=False,
            )  # fmt: skip
            if answered.returncode == 0:
                return
            assert self.daemon.poll() is None, (self.folder / "dockerd.log").read_text()[-2000:]
            time.sleep(0.1)
        raise AssertionError("the test's own engine did not answer within 30 s")

    def stop(self) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        self.daemon.terminate()
        try:
            self.daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def own_engine(registry: str) -> Iterator[OwnEngine]:
    if shutil.which("dockerd") is None:
        _unavailable("no dockerd for an engine of the test's own")
    # a short path: the daemon's sockets live under it, and a socket's path is short
    engine = OwnEngine(Path(tempfile.mkdtemp(prefix="bo-engine-")), f"bo-{os.getpid() % 10**6}")
    subprocess.run(["ip", "link", "add", engine.bridge, "type", "bridge"], check=True)
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
        subprocess.run(["ip", "link", "delete", engine.bridge], check=False)
        shutil.rmtree(engine.folder, ignore_errors=True)


def test_the_engine_restarted_under_a_build(
    own_engine: OwnEngine, project: Path, tmp_path: Path
) -> None:
    engine = Engine("own", own_engine.host, str(tmp_path / "cache"))
    env = engine.env(COLUMNS=WIDE)
    dockerfile, marker = tiny_dockerfile(project)
    out = tmp_path / "out"
    args = ["build", "-C", str(project), "-f", dockerfile, "--target", "amd64",
            "--sources", "mirror", "-o", str(out)]  # fmt: skip
    builders = subprocess.run(
        ["docker", "-H", own_engine.host, "buildx", "ls"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    proc = started(*args, "--build-arg", "NAP=120", env=env)
    seen: list[str] = []
    read_until(proc, f"{marker}-now\n", seen)
    own_engine.restart()
    rest, _ = proc.communicate(timeout=120)
    said = "".join(seen) + rest
    assert proc.returncode == 5, said
    assert "error: lost the engine during the build for linux/amd64" in rest, said
    assert "fix: check that the engine answers" in rest
    assert "Traceback" not in said
    # nothing left: no staging folder, no lock held, nothing made in the engine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", project.name]
    _lock_is_free(engine.cache)
    docker = ["docker", "-H", own_engine.host]
    for listing in (["ps", "-aq"], ["volume", "ls", "-q"]):
        made = subprocess.run([*docker, *listing], capture_output=True, text=True, check=True)
        assert made.stdout.strip() == "", listing
    after = subprocess.run([*docker, "buildx", "ls"], capture_output=True, text=True, check=True)
    assert after.stdout == builders
    again = buildorch(*args, env=env)
    assert again.code == 0, again.err
    assert (out / "done").read_text().startswith(marker)


# --- Ctrl-C and SIGKILL in each phase ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fault:
    args: list[str]
    """The run to stop (it is given --debug, so it names its phases)."""
    waits_for: str
    """The line that says the run is in the phase."""
    held: Held | None = None
    """Stopped when `hold_at` is printed, continued after the signal: the run stays in the
    phase until then."""
    hold_at: str = ""
    again: list[str]
    """The next run, which must succeed."""
    check: Callable[[Run], None]
    """What the next run must have made."""
    source: Path
    """The project as the runs see it (its containers are looked for)."""
    staged_in: tuple[Path, ...] = ()
    """Folders where a staging folder would be."""
    kill_leaves_a_container: bool = False
    """SIGKILL leaves the run's container, stopped: the next run must remove it."""


@dataclass(frozen=True)
class Setting:
    classic: Engine
    project: Path
    tmp: Path
    request: pytest.FixtureRequest
    stack: contextlib.ExitStack

    def share(self, source: Path, name: str) -> tuple[Path, Held]:
        """`source` behind a slow share at tmp/`name`, unmounted when the test ends."""
        mount = self.tmp / name
        served = mount_slow(self.request.getfixturevalue("slowfs"), source, mount)
        self.stack.callback(unmount, mount, served)
        held = Held(served)
        self.stack.callback(held.release)
        return mount, held

    def output_share(self) -> tuple[Path, Path, Held]:
        """An output folder on a slow share: (the path given to -o, the same seen directly,
        the share's server)."""
        backing = self.tmp / "outback"
        backing.mkdir()
        mount, held = self.share(backing, "outshare")
        return mount / "out", backing / "out", held

    def registry(self) -> OwnRegistry:
        own: OwnRegistry = self.request.getfixturevalue("own_registry")
        return own

    def cleaned(self, project_dir: Path) -> None:
        """`buildorch clean` when the test ends: `run` keeps volumes between runs."""
        env = self.classic.env()
        self.stack.callback(lambda: buildorch("clean", "-C", str(project_dir), env=env))


def _many_files(project: Path) -> None:
    for n in range(EXTRA_FILES):
        folder = project / "docs" / f"part{n // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note{n:04d}.txt").write_text(f"note {n}\n")


def _in_sync(s: Setting) -> Fault:
    _many_files(s.project)
    share, held = s.share(s.project, "share")
    dockerfile, marker = tiny_dockerfile(s.project)
    out = s.tmp / "out"
    args = ["build", "-C", str(share), "-f", dockerfile, "--sources", "mirror",
            "--target", "amd64", "-o", str(out)]  # fmt: skip

    def check(again: Run) -> None:
        mirror = Path(again.json()["plan"]["mirror"]["path"])
        assert fingerprint(mirror) == fingerprint(s.project)  # repaired, whole
        assert (out / "done").read_text().startswith(marker)

    return Fault(args=args, hold_at="phase: sync", waits_for="phase: sync", held=held,
                 again=[*args, "--json"], check=check, source=share,
                 staged_in=(s.tmp,))  # fmt: skip


def _in_fill(s: Setting) -> Fault:
    _many_files(s.project)
    share, held = s.share(s.project, "share")
    s.cleaned(share)
    args = ["run", "-C", str(share), "--image", BUSYBOX, "--", "md5sum", "main.c",
            "docs/part02/note0299.txt"]  # fmt: skip

    def check(again: Run) -> None:
        for name in ("main.c", "docs/part02/note0299.txt"):
            digest = hashlib.md5((s.project / name).read_bytes()).hexdigest()
            assert f"{digest}  {name}" in again.out, again.out  # the volume holds the sources

    return Fault(args=args, hold_at="phase: fill", waits_for="phase: fill", held=held,
                 again=args, check=check, source=share)  # fmt: skip


def _in_build(s: Setting) -> Fault:
    dockerfile, marker = tiny_dockerfile(s.project)
    out = s.tmp / "out"
    args = ["build", "-C", str(s.project), "-f", dockerfile, "--target", "amd64", "-o", str(out)]

    def check(again: Run) -> None:
        assert (out / "done").read_text().startswith(marker)

    return Fault(args=[*args, "--build-arg", "NAP=120"], waits_for=f"{marker}-now\n",
                 again=args, check=check, source=s.project, staged_in=(s.tmp,))  # fmt: skip


def _in_publish(s: Setting) -> Fault:
    dockerfile, marker = tiny_dockerfile(s.project)
    out, seen_out, held = s.output_share()
    # an earlier result: each entry is replaced in turn, and what the build did not make stays
    seen_out.mkdir()
    (seen_out / "done").write_text("old\n")
    (seen_out / "kept").write_text("kept\n")
    args = ["build", "-C", str(s.project), "-f", dockerfile, "--target", "amd64", "-o", str(out)]

    def check(again: Run) -> None:
        assert (seen_out / "done").read_text().startswith(marker)
        assert (seen_out / "kept").read_text() == "kept\n"

    return Fault(args=args, hold_at="phase: publish", waits_for="phase: publish", held=held,
                 again=args, check=check, source=s.project,
                 staged_in=(seen_out.parent, seen_out))  # fmt: skip


def _in_push(s: Setting) -> Fault:
    dockerfile, _ = tiny_dockerfile(s.project)
    registry = s.registry()
    image = f"{registry.address}/faults/app:1"
    args = ["build", "-C", str(s.project), "-f", dockerfile, "--target", "amd64", "--push",
            "--tag", image]  # fmt: skip

    def check(again: Run) -> None:
        assert _tags(registry.address, "faults/app") == ["1"]

    # held as the build begins: the push that follows waits on it
    return Fault(args=args, hold_at="phase: build", waits_for=f"pushing {image}",
                 held=registry, again=args, check=check, source=s.project)  # fmt: skip


def _in_join(s: Setting) -> Fault:
    registry = s.registry()
    args, _ = _push_both(s.project, registry)

    def check(again: Run) -> None:
        asked = urllib.request.Request(
            f"http://{registry.address}/v2/faults/app/manifests/1",
            headers={"Accept": "application/vnd.oci.image.index.v1+json, "
                     "application/vnd.docker.distribution.manifest.list.v2+json"},
        )  # fmt: skip
        with urllib.request.urlopen(asked, timeout=10) as reply:
            assert len(json.load(reply)["manifests"]) == 2

    return Fault(args=args, hold_at="phase: join", waits_for="phase: join", held=registry,
                 again=args, check=check, source=s.project)  # fmt: skip


def _in_collect(s: Setting) -> Fault:
    out, seen_out, held = s.output_share()
    s.cleaned(s.project)
    args = ["run", "-C", str(s.project), "--image", BUSYBOX, "--collect", "big", "-o", str(out),
            "--", "sh", "-c", "head -c 1048576 /dev/zero > big"]  # fmt: skip

    def check(again: Run) -> None:
        assert (seen_out / "big").stat().st_size == 1 << 20

    return Fault(args=args, hold_at="phase: collect", waits_for="phase: collect", held=held,
                 again=args, check=check, source=s.project, staged_in=(seen_out.parent,),
                 kill_leaves_a_container=True)  # fmt: skip


PHASES: dict[str, Callable[[Setting], Fault]] = {
    "sync": _in_sync,
    "fill": _in_fill,
    "build": _in_build,
    "publish": _in_publish,
    "push": _in_push,
    "join": _in_join,
    "collect": _in_collect,
}


def _ended(proc: subprocess.Popen[str]) -> None:
    """A run the test left behind (it failed half way) is killed, with what it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_run_stopped_in_each_phase_leaves_nothing_and_the_next_succeeds(
    phase: str,
    how: signal.Signals,
    classic: Engine,
    registry: str,
    project: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    env = classic.env(COLUMNS=WIDE)
    with contextlib.ExitStack() as stack:
        fault = PHASES[phase](Setting(classic, project, tmp_path, request, stack))
        before = fingerprint(project)
        proc = started(fault.args[0], "--debug", *fault.args[1:], env=env)
        stack.callback(_ended, proc)
        seen: list[str] = []
        if fault.held is not None:
            read_until(proc, fault.hold_at, seen)
            fault.held.hold()
        if fault.waits_for != fault.hold_at:
            read_until(proc, fault.waits_for, seen)
        os.killpg(proc.pid, how)
        if fault.held is not None:
            fault.held.release()
        rest, _ = proc.communicate(timeout=120)
        said = "".join(seen) + rest
        if how is signal.SIGINT:
            assert proc.returncode == 130, said
            assert "error: interrupted" in rest and "Traceback" not in said, said
            for folder in fault.staged_in:
                assert _leftover(folder) == [], said
        else:
            assert proc.returncode == -signal.SIGKILL, said
        _lock_is_free(classic.cache)
        left = _containers_of(fault.source, classic)
        assert bool(left) == (fault.kill_leaves_a_container and how is signal.SIGKILL), left
        again = buildorch(*fault.again, env=env)
        assert again.code == 0, again.out + again.err
        fault.check(again)
        # whatever the stopped run left, the next one cleared
        for folder in fault.staged_in:
            assert _leftover(folder) == []
        assert _containers_of(fault.source, classic) == []
        if left:
            assert "removed containers an earlier run left" in again.err, again.err
        assert fingerprint(project) == before


# --- two projects at once ------------------------------------------------------------------


def test_two_projects_build_at_once_not_in_turn(
    classic: Engine, registry: str, project: Path, tmp_path: Path
) -> None:
    """Each project's lock is its own: the builds of two projects overlap. Each build's step
    waits (at most 30 s) until the test has seen both steps start, so builds taking turns
    would show the first step ending before the second began."""
    other = tmp_path / "other"
    shutil.copytree(project, other)
    gate = socket.socket()  # bound, not listening yet: a connection to it is refused
    gate.bind(("127.0.0.1", 0))
    port = gate.getsockname()[1]
    fresh = uuid.uuid4().hex  # nothing cached to skip the steps with
    runs = []
    for n, folder in enumerate((project, other)):
        # `$((1+1))`: the step's output says `run0-2-start`, its command line does not
        (folder / "Dockerfile.gate").write_text(
            f"FROM {BUSYBOX} AS build\nCOPY main.c /src/\n"
            f"RUN echo run{n}-$((1+1))-start {fresh} && i=0 && "
            f"until nc 127.0.0.1 {port} </dev/null; do i=$((i+1)); [ $i -ge 300 ] && break; "
            f"sleep 0.1; done && echo run{n}-$((1+1))-end > /done && cat /done\n"
            "FROM scratch\nCOPY --from=build /done /\n"
        )
        out = tmp_path / f"out{n}"
        args = ["build", "-C", str(folder), "-f", "Dockerfile.gate", "--sources", "mirror",
                "--target", "amd64", "-o", str(out), "--network", "host"]  # fmt: skip
        runs.append(started(*args, env=classic.env(COLUMNS=WIDE)))
    events: list[str] = []
    both_started = threading.Event()
    outputs: list[list[str]] = [[], []]

    def read(n: int) -> None:
        stdout = runs[n].stdout
        assert stdout is not None
        for line in stdout:
            outputs[n].append(line)
            # the step's own output (`#7 0.05 run0-2-start`), not its command line
            if said := re.search(r"#\d+ [\d.]+ (run\d-2-(?:start|end))\b", line):
                events.append(said.group(1))
                if sum(e.endswith("start") for e in events) == 2:
                    both_started.set()

    readers = [threading.Thread(target=read, args=(n,)) for n in range(2)]
    for reader in readers:
        reader.start()
    opened = both_started.wait(timeout=120)
    gate.listen()
    accepting = threading.Thread(target=_accept_and_close, args=(gate,), daemon=True)
    accepting.start()
    for reader in readers:
        reader.join(timeout=120)
    codes = [run.wait(timeout=60) for run in runs]
    gate.close()
    said = ["".join(lines) for lines in outputs]
    assert codes == [0, 0], said
    assert opened, events
    assert sorted(events[:2]) == ["run0-2-start", "run1-2-start"], events  # both, then ends
    assert sorted(events[2:]) == ["run0-2-end", "run1-2-end"], events
    for n in range(2):
        assert (tmp_path / f"out{n}" / "done").read_text() == f"run{n}-2-end\n"


def _accept_and_close(gate: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            connection, _ = gate.accept()
            connection.close()
