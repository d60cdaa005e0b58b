"""The command line over recorded hosts: what each host class gets, and every refusal."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from buildorch.cli import main
from buildorch.cross_derive import CACHE_MOUNT
from tests.unit.test_cross_derive import VARIANTS

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / "tests" / "snapshots"
EXAMPLE = REPO / "examples" / "hello-c"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "hello-c"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out"))
    return dest


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    code = main(list(argv), env or {"PATH": "/usr/bin"})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def plan_json(
    capsys: pytest.CaptureFixture[str], snapshot: str, project: Path, *extra: str
) -> dict[str, object]:
    code, out, err = run(
        capsys, "plan", "--snapshot", str(SNAPSHOTS / snapshot), "-C", str(project), "--json",
        *extra,
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def strategies(data: dict[str, object]) -> dict[str, str]:
    steps = data["steps"]
    assert isinstance(steps, list)
    return {s["platform"]: s["strategy"] for s in steps}


def only_step(data: dict[str, object]) -> dict[str, Any]:
    """The plan's one platform step (the plan must have exactly one)."""
    steps = data["steps"]
    assert isinstance(steps, list)
    (step,) = steps
    assert isinstance(step, dict)
    return step


def unmovable(project: Path) -> None:
    """A compile stage that cannot move: it needs an emulator or a native builder."""
    text = (project / "Dockerfile.plain").read_text().replace("RUN make", "RUN uname -m; make")
    (project / "Dockerfile.plain").write_text(text)


# host class -> strategy for arm64 and amd64: with the cross-capable Dockerfile, the plain one
# (buildorch moves its compile stage to the build machine), and one whose compile stage runs
# `pip install` (it stays on the target: emulated, or no way at all without an emulator)
@pytest.mark.parametrize(
    ("snapshot", "cross_capable", "plain", "unmovable"),
    [
        ("wsl2-mnt-c-9p", {"linux/arm64": "cross", "linux/amd64": "native"},
         {"linux/arm64": "cross", "linux/amd64": "native"},
         {"linux/arm64": "qemu", "linux/amd64": "native"}),
        ("macos-arm64-desktop-virtiofs-rosetta", {"linux/arm64": "native", "linux/amd64": "cross"},
         {"linux/arm64": "native", "linux/amd64": "cross"},
         {"linux/arm64": "native", "linux/amd64": "qemu"}),
        ("macos-intel-desktop", {"linux/arm64": "cross", "linux/amd64": "native"},
         {"linux/arm64": "cross", "linux/amd64": "native"},
         {"linux/arm64": "qemu", "linux/amd64": "native"}),
        ("linux-arm64", {"linux/arm64": "native", "linux/amd64": "cross"},
         {"linux/arm64": "native", "linux/amd64": "cross"},
         {"linux/arm64": "native", "linux/amd64": "qemu"}),
        ("linux-amd64-no-qemu", {"linux/arm64": "cross", "linux/amd64": "native"},
         {"linux/arm64": "cross", "linux/amd64": "native"}, None),
        ("github-actions-ubuntu", {"linux/arm64": "cross", "linux/amd64": "native"},
         {"linux/arm64": "cross", "linux/amd64": "native"}, None),
    ],
)  # fmt: skip
def test_strategy_per_host_class(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    snapshot: str,
    cross_capable: dict[str, str],
    plain: dict[str, str],
    unmovable: dict[str, str] | None,
) -> None:
    targets = ("--target", "arm64,amd64")
    assert strategies(plan_json(capsys, snapshot, project, *targets)) == cross_capable
    data = plan_json(capsys, snapshot, project, "-f", "Dockerfile.plain", *targets)
    assert strategies(data) == plain
    builds = data["builds"]
    assert isinstance(builds, list)
    derived = [b for b in builds if b["derived"]]
    assert derived, "the foreign platform is built from the derived Dockerfile"
    pip = (
        (project / "Dockerfile.plain")
        .read_text()
        .replace("RUN make && strip hello", "RUN pip install -e . && make && strip hello")
    )
    (project / "Dockerfile.pip").write_text(pip)
    if unmovable is None:
        code, _, err = run(
            capsys, "plan", "--snapshot", str(SNAPSHOTS / snapshot), "-C", str(project),
            "-f", "Dockerfile.pip", *targets,
        )  # fmt: skip
        assert code == 6
        assert "no way to build linux/arm64" in err
        said = " ".join(err.split())
        assert "`build` stays because line" in said and "Python installers" in said
    else:
        data = plan_json(capsys, snapshot, project, "-f", "Dockerfile.pip", *targets)
        assert strategies(data) == unmovable


def test_containerd_store_plans_one_build(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    data = plan_json(
        capsys, "macos-arm64-desktop-virtiofs-rosetta", project, "--target", "arm64,amd64",
        "--push", "--tag", "registry.test/app:1",
    )  # fmt: skip
    assert len(data["builds"]) == 1  # type: ignore[arg-type]
    assert data["merge"] is None


def test_slow_share_is_reported_in_the_plan(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    data = plan_json(capsys, "wsl2-mnt-c-9p", project, "--target", "arm64")
    notes = data["notes"]
    assert isinstance(notes, list)
    assert any("slow share (9p, 142 us per stat)" in note for note in notes)


def test_build_dry_run_replays_a_snapshot(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    argv = ("--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C", str(project), "-t", "arm64")
    code, out, _ = run(capsys, "build", "--dry-run", *argv)
    assert code == 0
    assert "cross" in out and "dry run: nothing was built" in out
    code, out, _ = run(capsys, "build", "--dry-run", *argv, "--json")
    assert code == 0  # the plan, as `plan --json` gives it
    assert json.loads(out) == plan_json(capsys, "linux-amd64-qemu", project, "-t", "arm64")


def test_run_dry_run_json_is_the_run_plan(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    snapshot = str(SNAPSHOTS / "linux-amd64-qemu")
    argv = ("run", "--dry-run", "--snapshot", snapshot, "-C", str(project), "--image", "gcc")
    code, out, err = run(capsys, *argv, "--json", "--", "make")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["image"], plan["command"], plan["sources"]) == ("gcc", ["make"], "volume")


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["plan", "--target", "linux/arm65"], 4, "did you mean `linux/arm64`"),
        (["plan", "-f", "Nope.Dockerfile"], 4, "no Dockerfile at"),
        (["plan", "--build-target", "nope"], 4, "no stage `nope`"),
        (["plan", "--strategy", "qemu", "--target", "arm64"], 6, "--strategy qemu"),
        (["plan", "--push"], 3, "--push needs a tag"),
        (["plan", "--profile", "macos-arm46"], 3, "did you mean `macos-arm64`"),
        (["build", "--target", "arm64"], 3, "add --dry-run"),
    ],
)
def test_bad_input_is_refused_clearly(
    capsys: pytest.CaptureFixture[str], project: Path, argv: list[str], code: int, words: str
) -> None:
    result, out, err = run(
        capsys, *argv, "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C", str(project)
    )
    assert result == code, err
    assert words in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize(
    ("snapshot", "words"),
    [
        ("no-docker", "no docker CLI was found"),
        ("daemon-down", "Cannot connect to the Docker daemon"),
    ],
)
def test_engine_problems_stop_a_build(
    capsys: pytest.CaptureFixture[str], project: Path, snapshot: str, words: str
) -> None:
    from buildorch.detect import detect_host, load_snapshot
    from buildorch.errors import EngineUnavailableError
    from buildorch.pipeline import require_engine

    facts = detect_host(load_snapshot(SNAPSHOTS / snapshot))
    with pytest.raises(EngineUnavailableError) as failure:
        require_engine(facts, {})
    assert failure.value.exit_code == 5
    assert words in str(failure.value)


def test_buildx_missing_stops_a_build(tmp_path: Path) -> None:
    from buildorch.detect import detect_host, load_snapshot
    from buildorch.errors import EngineUnavailableError
    from buildorch.pipeline import require_engine

    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOTS / "linux-amd64-qemu", snap)
    (snap / "docker" / "buildx-ls.json").unlink()
    facts = detect_host(load_snapshot(snap))
    with pytest.raises(EngineUnavailableError) as failure:
        require_engine(facts, {})
    assert "buildx is missing" in failure.value.what


def test_environment_and_yaml_feed_the_plan(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    (project / "buildorch.yaml").write_text("targets: [linux/amd64]\n")
    snapshot = ("--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"))
    code, out, _ = run(capsys, "plan", *snapshot, "-C", str(project), "--json")
    assert code == 0 and strategies(json.loads(out)) == {"linux/amd64": "native"}
    env = {"PATH": "/usr/bin", "BUILDORCH_TARGETS": "arm64"}
    code, out, _ = run(capsys, "plan", *snapshot, "-C", str(project), "--json", env=env)
    assert code == 0 and strategies(json.loads(out)) == {"linux/arm64": "cross"}
    code, out, _ = run(
        capsys, "plan", *snapshot, "-C", str(project), "--json", "--target", "amd64", env=env
    )
    assert code == 0 and strategies(json.loads(out)) == {"linux/amd64": "native"}


def test_unknown_environment_variable_is_refused(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    env = {"PATH": "/usr/bin", "BUILDORCH_TARGET": "arm64"}
    code, _, err = run(
        capsys, "plan", "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C", str(project),
        env=env,
    )  # fmt: skip
    assert code == 3
    assert "BUILDORCH_TARGET" in err and "did you mean `BUILDORCH_TARGETS`" in err


def test_use_template_turns_an_emulated_build_into_a_cross_build(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    # a compile stage buildorch cannot move (pip installs the project) stays emulated
    pip = (project / "Dockerfile.plain").read_text().replace("RUN make", "RUN pip install .; make")
    (project / "Dockerfile.plain").write_text(pip)
    emulated = plan_json(
        capsys, "linux-amd64-qemu", project, "-f", "Dockerfile.plain", "--target", "arm64"
    )
    step = only_step(emulated)
    assert step["strategy"] == "qemu"
    why_not_cross = {r["strategy"]: r["why"] for r in step["rejected"]}["cross"]
    assert "--use-template would build it with the c-make.Dockerfile template" in why_not_cross
    crossed = plan_json(
        capsys, "linux-amd64-qemu", project, "-f", "Dockerfile.plain", "--target", "arm64",
        "--use-template",
    )  # fmt: skip
    assert strategies(crossed) == {"linux/arm64": "cross"}
    notes = crossed["notes"]
    assert isinstance(notes, list)
    assert any("building with the c-make.Dockerfile template instead" in n for n in notes)


def test_a_platform_the_cross_kit_has_no_toolchain_for_is_emulated(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    data = plan_json(
        capsys, "linux-amd64-qemu", project, "-f", "Dockerfile.plain", "--target", "linux/arm/v6"
    )
    step = only_step(data)
    assert step["strategy"] == "qemu"
    why = {r["strategy"]: r["why"] for r in step["rejected"]}["cross"]
    assert "no toolchain for linux/arm/v6" in why


def test_a_derived_cross_build_without_an_emulator_says_what_would_need_one(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    data = plan_json(
        capsys, "linux-amd64-no-qemu", project, "-f", "Dockerfile.plain", "--target", "arm64"
    )
    step = only_step(data)
    assert step["strategy"] == "cross"
    assert "would need an emulator, and none is registered" in step["reasons"][1]


def test_a_crashing_emulator_is_not_planned_and_the_plan_says_why(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    # a compile stage that cannot move: without a working emulator there is no way at all
    unmovable(project)
    code, _, err = run(
        capsys, "plan", "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu-crashing"), "-C",
        str(project), "-f", "Dockerfile.plain", "--target", "arm64",
    )  # fmt: skip
    assert code == 6
    said = " ".join(err.split())
    assert "could not run a tiny linux/arm64 program" in said


KNOWN_BAD = str(SNAPSHOTS / "linux-amd64-qemu-known-bad")


def test_a_known_bad_emulator_is_not_planned_and_the_plan_gives_the_way_around(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    unmovable(project)
    code, _, err = run(
        capsys, "plan", "--snapshot", KNOWN_BAD, "-C", str(project), "-f", "Dockerfile.plain",
        "--target", "arm64",
    )  # fmt: skip
    assert code == 6
    said = " ".join(err.split())
    assert "the emulator registered for linux/arm64 is not used" in said
    assert "QEMU 9.2.x segfaults in ldconfig" in said and "tonistiigi/binfmt#240" in said
    assert "docker run --privileged --rm tonistiigi/binfmt:qemu-v7.0.0-28 --install arm64" in said
    assert "Traceback" not in err
    # forced, the same: the fix pins a release rather than "register QEMU"
    code, _, err = run(
        capsys, "plan", "--snapshot", KNOWN_BAD, "-C", str(project), "-f", "Dockerfile.plain",
        "--target", "arm64", "--strategy", "qemu",
    )  # fmt: skip
    assert code == 6
    assert "tonistiigi/binfmt:qemu-v7.0.0-28" in " ".join(err.split())
    # arm/v7 runs on the same release, which the reports do not name: emulated as usual
    data = plan_json(
        capsys, "linux-amd64-qemu-known-bad", project, "-f", "Dockerfile.plain",
        "--target", "linux/arm/v7",
    )  # fmt: skip
    assert strategies(data) == {"linux/arm/v7": "qemu"}


@pytest.mark.parametrize("where", ["env", "buildorch.yaml"])
def test_a_known_bad_emulator_the_user_trusts_is_planned(
    capsys: pytest.CaptureFixture[str], project: Path, where: str
) -> None:
    unmovable(project)
    env = {"PATH": "/usr/bin"}
    if where == "env":
        env["BUILDORCH_TRUST_EMULATOR"] = "1"
    else:
        (project / "buildorch.yaml").write_text("trust_emulator: true\n")
    code, out, err = run(
        capsys, "plan", "--snapshot", KNOWN_BAD, "-C", str(project), "-f", "Dockerfile.plain",
        "--target", "arm64", "--json", env=env,
    )  # fmt: skip
    assert code == 0, err
    assert strategies(json.loads(out)) == {"linux/arm64": "qemu"}
    code, out, _ = run(
        capsys, "doctor", "--snapshot", KNOWN_BAD, "-C", str(project), "--json", env=env
    )
    assert code == 0
    doctor = json.loads(out)
    assert doctor["emulation"]["linux/arm64"] == "qemu"
    assert doctor["emulators"]["linux/arm64"]["flagged"] is not None
    assert "known-bad, trusted by trust_emulator" in doctor["reasons"]["emulation"]


def test_a_bad_trust_emulator_value_is_refused_with_its_layer(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    env = {"PATH": "/usr/bin", "BUILDORCH_TRUST_EMULATOR": "maybe"}
    code, _, err = run(capsys, "doctor", "--snapshot", KNOWN_BAD, "-C", str(project), env=env)
    assert code == 3
    said = " ".join(err.split())
    assert "trust_emulator" in said and "BUILDORCH_TRUST_EMULATOR" in said
    assert "Traceback" not in err


def test_doctor_shows_a_known_bad_emulator_flagged(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, out, _ = run(capsys, "doctor", "--snapshot", KNOWN_BAD, "-C", str(project))
    assert code == 0
    said = " ".join(out.split())
    assert "not used" in said and "known-bad" in said and "QEMU 9.2.x" in said
    code, out, _ = run(capsys, "doctor", "--snapshot", KNOWN_BAD, "-C", str(project), "--json")
    assert code == 0
    arm64 = json.loads(out)["emulators"]["linux/arm64"]
    assert arm64["works"] is True and "tonistiigi/binfmt#240" in arm64["flagged"]
    assert json.loads(out)["emulation"]["linux/arm64"] is None


def test_special_files_in_the_context_are_reported_once_with_a_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "p"
    (project / "run").mkdir(parents=True)
    (project / "Dockerfile").write_text("FROM debian:bookworm\nCOPY . /src\n")
    (project / "main.c").write_text("int main(void) { return 0; }\n")
    for number in range(5):
        os.mkfifo(project / "run" / f"pipe{number}")
    monkeypatch.chdir(project / "run")  # a socket's path must be short: bind it relative
    agent = socket.socket(socket.AF_UNIX)
    agent.bind("agent.sock")
    try:
        data = plan_json(capsys, "linux-amd64-qemu", project, "--target", "amd64")
        code, out, _ = run(
            capsys, "plan", "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C",
            str(project), "--target", "amd64",
        )  # fmt: skip
    finally:
        agent.close()
    skipped = data["skipped"]
    assert isinstance(skipped, dict)
    assert skipped["count"] == 6
    assert skipped["first"] == [
        {"path": "run/agent.sock", "kind": "socket"},
        {"path": "run/pipe0", "kind": "fifo"},
        {"path": "run/pipe1", "kind": "fifo"},
    ]
    notes = data["notes"]
    assert isinstance(notes, list)
    (note,) = [n for n in notes if "special file" in n]
    assert note.startswith("6 special file(s) in the context are skipped: run/agent.sock")
    assert "and 3 more" in note and "not sent by `docker build`" in note
    assert code == 0
    said = " ".join(out.split())
    assert said.count("special file(s) in the context are skipped") == 1
    assert "pipe4" not in said


def test_the_plan_says_when_the_users_options_let_steps_run_privileged(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    plain = plan_json(capsys, "linux-amd64-qemu", project, "--target", "amd64")
    notes = plain["notes"]
    assert isinstance(notes, list) and not [n for n in notes if "privileged" in n]
    data = plan_json(
        capsys, "linux-amd64-qemu", project, "--target", "amd64", "--allow", "security.insecure"
    )
    notes = data["notes"]
    assert isinstance(notes, list)
    (note,) = [n for n in notes if "privileged" in n]
    assert note.startswith("--allow security.insecure (yours): RUN --security=insecure steps")


def test_no_credential_reaches_json_or_a_snapshot(
    capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path
) -> None:
    secrets = {
        "GITHUB_TOKEN": "ghp_TOPSECRET1",
        "NPM_TOKEN": "npm_TOPSECRET2",
        "DOCKER_AUTH_CONFIG": '{"auths":{"r":{"auth":"TOPSECRET3"}}}',
        "AWS_SECRET_ACCESS_KEY": "TOPSECRET4",
    }
    env = {"PATH": "/usr/bin", **secrets}
    code = main(
        ["plan", "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C", str(project), "--json",
         "--target", "arm64", "--secret", "id=npm,env=NPM_TOKEN"],
        env,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "TOPSECRET" not in out
    code = main(
        ["doctor", "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C", str(project),
         "--json"],
        env,
    )  # fmt: skip
    assert code == 0
    assert "TOPSECRET" not in capsys.readouterr().out


def test_an_emulated_platform_is_not_built_from_the_derived_dockerfile(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    # the containerd store builds every platform in one call, from one Dockerfile; the cross
    # kit has no toolchain for arm/v6, whose stages must then run as written, emulated
    data = plan_json(
        capsys, "macos-arm64-desktop-virtiofs-rosetta", project, "-f", "Dockerfile.plain",
        "--target", "arm64,amd64,arm/v6", "--push", "--tag", "registry.test/app:1",
    )  # fmt: skip
    assert strategies(data)["linux/arm/v6"] == "qemu"
    builds = data["builds"]
    assert isinstance(builds, list)
    assert {tuple(b["platforms"]): b["derived"] for b in builds} == {
        ("linux/arm64",): False,
        ("linux/amd64",): True,
        ("linux/arm/v6",): False,
    }
    assert data["merge"] is not None, "the platforms' images are joined under the tag"


FULL_STACK = """\
FROM debian:bookworm AS frontend
RUN apt-get update && apt-get install -y --no-install-recommends npm
WORKDIR /web
COPY web/ .
RUN npm ci && npm run build

FROM debian:bookworm AS backend
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make
WORKDIR /src
COPY . .
RUN make

FROM debian:bookworm-slim
COPY --from=backend /src/server /usr/local/bin/server
COPY --from=frontend /web /srv/web
"""


def test_a_builder_that_stays_leaves_the_others_cross_compiling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the frontend's node_modules, which the image takes, keep it on the target; the
    # backend's compiler still moves: the plan is cross, cheaper than emulating both, and
    # says which stage is emulated and why
    (tmp_path / "Dockerfile").write_text(FULL_STACK)
    data = plan_json(capsys, "linux-amd64-qemu", tmp_path, "--target", "arm64")
    assert strategies(data) == {"linux/arm64": "cross"}
    steps = data["steps"]
    assert isinstance(steps, list)
    (step,) = steps
    assert step["reasons"][1].startswith("buildorch moves `backend` to linux/amd64")
    assert "`frontend` stays on the target because a later stage copies /web" in step["reasons"][1]
    qemu = {r["strategy"]: r["why"] for r in step["rejected"]}["qemu"]
    costs = re.search(r"about ([\d.]+)x native against ([\d.]+)x", qemu)
    assert costs is not None and float(costs[2]) < float(costs[1])
    # half the builders' steps emulated: dearer than a cross build where every builder moves
    plain = FULL_STACK.replace("/web /srv/web", "/web/dist /srv/web")
    (tmp_path / "Dockerfile.moves").write_text(plain)
    moved = plan_json(capsys, "linux-amd64-qemu", tmp_path, "-f", "Dockerfile.moves", "-t", "arm64")
    moved_steps = moved["steps"]
    assert isinstance(moved_steps, list)
    assert moved_steps[0]["cost"] < step["cost"]
    # the plan names the file `init --cross` writes, beside the Dockerfile it derives from
    cross, moved_cross = data["cross"], moved["cross"]
    assert isinstance(cross, dict) and isinstance(moved_cross, dict)
    assert cross["file"] == str(tmp_path / "Dockerfile.cross")
    assert moved_cross["file"] == str(tmp_path / "Dockerfile.moves.cross")
    code, out, err = run(
        capsys, "plan", "--snapshot", str(SNAPSHOTS / "linux-amd64-qemu"), "-C", str(tmp_path),
        "--target", "arm64",
    )  # fmt: skip
    assert code == 0, err
    assert "`buildorch init --cross` writes it to Dockerfile.cross" in " ".join(out.split())
    # with nothing to run the target's programs, the stage that stays cannot be built
    code, _, err = run(
        capsys, "plan", "--snapshot", str(SNAPSHOTS / "linux-amd64-no-qemu"), "-C",
        str(tmp_path), "--target", "arm64",
    )  # fmt: skip
    assert code == 6 and "nothing here can run" in " ".join(err.split()), err
    # init --cross writes it, and says which stage stays emulated
    code, out, err = run(capsys, "init", "--cross", "-C", str(tmp_path), "--json")
    assert code == 0, err
    (written,) = json.loads(out)
    said = " ".join(written["why"].split())
    assert "with `backend` moved to the build machine" in said
    assert "`frontend` stays on the target, emulated, because a later stage copies /web" in said
    derived = Path(cross["file"]).read_text()
    assert "FROM --platform=$BUILDPLATFORM debian:bookworm AS backend" in derived
    assert "FROM debian:bookworm AS frontend" in derived


def test_init_cross_derives_for_the_build_args_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the written file moves the stages the build args pick, and says how to build it so
    (tmp_path / "Dockerfile").write_text(VARIANTS)
    code, out, err = run(
        capsys, "init", "--cross", "-C", str(tmp_path), "--build-arg", "VARIANT=debug", "--json"
    )
    assert code == 0, err
    (written,) = json.loads(out)
    assert "--build-arg VARIANT=debug -f Dockerfile.cross" in written["why"]
    derived = (tmp_path / "Dockerfile.cross").read_text().splitlines()
    assert f"RUN {CACHE_MOUNT} make app CFLAGS=-g" in derived
    assert "RUN make app" in derived, "build-release stays as written"
    # the templates take theirs from buildorch.yaml, which init writes
    code, _, err = run(capsys, "init", "-C", str(tmp_path), "--build-arg", "VARIANT=debug")
    assert code != 0 and "--build-arg is read by `init --cross` only" in err


def test_init_cross_names_the_targets_and_refuses_one_the_kit_cannot_cross(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # one derived file for every target: the command init prints builds the ones named
    (tmp_path / "Dockerfile").write_text(VARIANTS)
    code, out, err = run(
        capsys, "init", "--cross", "-C", str(tmp_path), "-t", "riscv64", "-t", "arm/v7", "--json"
    )
    assert code == 0, err
    (written,) = json.loads(out)
    assert "--platform linux/riscv64,linux/arm/v7 " in written["why"]
    # the kit has no toolchain for arm/v6: refused before anything is written
    (tmp_path / "Dockerfile.cross").unlink()
    code, _, err = run(capsys, "init", "--cross", "-C", str(tmp_path), "--target", "arm/v6")
    said = " ".join(err.split())
    assert code == 6 and "no cross toolchain for linux/arm/v6" in said
    assert "arm/v7, riscv64" in said and "--strategy qemu" in said
    assert not (tmp_path / "Dockerfile.cross").exists()
    # without --cross, init writes a template whose targets live in buildorch.yaml
    code, _, err = run(capsys, "init", "-C", str(tmp_path), "--target", "arm64")
    assert code == 3 and "--target is read by `init --cross` only" in err
