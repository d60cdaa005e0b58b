"""The project's own Dockerfile, cross-compiled: a plain two-stage Dockerfile (the -dev
package installed by apt-get, found through pkg-config, a runtime stage on debian:bookworm-slim)
built for arm64 on this amd64 engine at native speed, on both image stores, and checked by
running the program under QEMU against the amd64 build's output."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from buildorch.cross_derive import CACHE_DIR, KIT, KIT_DIR, kit_text
from tests.integration.conftest import BUSYBOX, REPO, Engine
from tests.integration.helpers import buildorch, elf_machine

pytestmark = pytest.mark.usefixtures("registry", "qemu_aarch64")
# tests that run side by side (scripts/test.sh) stay on one worker where they share work (the
# module's decisions) or a cache (the Rust project's builds take the sccache folder's lock,
# and a build of the same stage beside them would find it taken)
DECISIONS = pytest.mark.xdist_group("decisions")
RUST_PROJECT = pytest.mark.xdist_group("rust-project")

PROGRAM = """\
#include <stdio.h>
#include <string.h>
#include <zstd.h>
int main(void) {
    const char *s = "buildorch buildorch buildorch buildorch";
    char out[256];
    size_t n = ZSTD_compress(out, sizeof out, s, strlen(s), 3);
    printf("zstd %s: %zu -> %zu\\n", ZSTD_versionString(), strlen(s), n);
    return 0;
}
"""
DOCKERFILE = """\
FROM debian:bookworm AS build
RUN apt-get update && \\
    apt-get install -y --no-install-recommends gcc libc6-dev make pkg-config libzstd-dev
WORKDIR /src
COPY . .
RUN make zs

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libzstd1 && \\
    rm -rf /var/lib/apt/lists/*
COPY --from=build /src/zs /usr/local/bin/zs
ENTRYPOINT ["zs"]
"""


def zstd_project(
    root: Path, compile_line: str = "$(CC) -O2 -o zs zs.c $$(pkg-config --cflags --libs libzstd)"
) -> Path:
    root.mkdir()
    (root / "zs.c").write_text(PROGRAM)
    (root / "Makefile").write_text(f"zs: zs.c\n\t{compile_line}\n")
    (root / "Dockerfile").write_text(DOCKERFILE)
    return root


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def built_cross(engine: Engine, project: Path, out: Path) -> None:
    """`buildorch build --target arm64` of the project into `out`, planned and built cross."""
    built = buildorch(
        "build", "-C", str(project), "--target", "arm64", "--network", "host", "-o", str(out),
        "--json", env=engine.env(),
    )  # fmt: skip
    assert built.code == 0, built.err
    (done,) = built.json()["report"]["builds"]
    assert done["strategy"] == "cross"


def docker(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        env=engine.env(),
        check=False,
        timeout=300,
    )


def test_own_dockerfile_cross_compiles_and_runs_the_same(engine: Engine, tmp_path: Path) -> None:
    project = zstd_project(tmp_path / "zs")
    before = tree_hash(project)
    plan = buildorch("plan", "-C", str(project), "--target", "arm64", "--json", env=engine.env())
    assert plan.code == 0, plan.err
    (step,) = plan.json()["steps"]
    assert step["strategy"] == "cross"
    stages = {s["name"]: s for s in plan.json()["cross"]["stages"]}
    assert stages["build"]["moves"] and not stages[None]["moves"]
    # the image's own apt-get update runs on the build machine; its install on the target
    assert any("apt-get update runs on the build machine" in c for c in stages[None]["changes"])

    tag = f"buildorch-test/zs:{uuid.uuid4().hex[:8]}"
    # the native build to compare with on one store: both run the same native path
    arches = ("arm64", "amd64") if engine.name == "classic" else ("arm64",)
    try:
        built = {}
        for arch in arches:
            result = buildorch(
                "build", "-C", str(project), "--target", arch, "--network", "host",
                "--load", "--tag", f"{tag}-{arch}", "--json", env=engine.env(),
            )  # fmt: skip
            assert result.code == 0, result.err
            (done,) = result.json()["report"]["builds"]
            assert done["strategy"] == ("cross" if arch == "arm64" else "native")
            ran = docker(engine, "run", "--rm", "--platform", f"linux/{arch}", f"{tag}-{arch}")
            assert ran.returncode == 0, ran.stderr
            built[arch] = ran.stdout
            inspect = docker(
                engine, "image", "inspect", "--format", "{{.Architecture}}", f"{tag}-{arch}"
            )
            assert inspect.stdout.strip() == arch
            # what stood in for apt-get during the step is gone with the step's mounts
            left = docker(
                engine, "run", "--rm", "--platform", f"linux/{arch}", "--entrypoint", "/bin/sh",
                f"{tag}-{arch}", "-c", "ls -A /mnt /var/lib/apt/lists; head -c 4 /usr/bin/apt-get",
            )  # fmt: skip
            assert left.returncode == 0, left.stderr
            assert left.stdout.split() == ["/mnt:", "/var/lib/apt/lists:", "\x7fELF"], left.stdout
        # the arm64 program, run under QEMU, says what the amd64 one says
        if "amd64" in built:
            assert built["arm64"] == built["amd64"]
        assert built["arm64"].startswith("zstd 1.5")
    finally:
        docker(engine, "rmi", "-f", f"{tag}-arm64", f"{tag}-amd64")
    assert tree_hash(project) == before, "the sources are byte-identical afterwards"


def test_a_builder_on_the_images_own_base_cross_compiles_on_a_copy_of_it(
    classic: Engine, tmp_path: Path
) -> None:
    # one base stage for the runtime libraries, on one for the user, the builder and the image
    # both built on it: the builder moves to a copy of the base, the image keeps the base
    # itself, whose apt-get update runs on the build machine with what `os` left
    project = zstd_project(tmp_path / "zs")
    (project / "Dockerfile").write_text(
        "FROM debian:bookworm-slim AS os\n"
        "RUN useradd -m app\n"
        "FROM os AS base\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends libzstd1 && \\\n"
        "    rm -rf /var/lib/apt/lists/*\n"
        "FROM base AS build\n"
        "RUN apt-get update && \\\n"
        "    apt-get install -y --no-install-recommends gcc libc6-dev make pkg-config libzstd-dev\n"
        "WORKDIR /src\nCOPY . .\nRUN make zs\n"
        'FROM base\nCOPY --from=build /src/zs /usr/local/bin/zs\nUSER app\nENTRYPOINT ["zs"]\n'
    )
    plan = buildorch("plan", "-C", str(project), "--target", "arm64", "--json", env=classic.env())
    assert plan.code == 0, plan.err
    assert plan.json()["steps"][0]["strategy"] == "cross"
    stages = {s["name"]: s for s in plan.json()["cross"]["stages"]}
    assert stages["build"]["moves"] and not stages["base"]["moves"]
    assert any("apt-get update runs on the build machine" in c for c in stages["base"]["changes"])
    tag = f"buildorch-test/zs-base:{uuid.uuid4().hex[:8]}"
    try:
        said = {}
        for arch in ("arm64", "amd64"):
            result = buildorch(
                "build", "-C", str(project), "--target", arch, "--network", "host",
                "--load", "--tag", f"{tag}-{arch}", env=classic.env(),
            )  # fmt: skip
            assert result.code == 0, result.err
            ran = docker(
                classic, "run", "--rm", "--platform", f"linux/{arch}", "--entrypoint", "/bin/sh",
                f"{tag}-{arch}", "-c", "id -un && zs",
            )  # fmt: skip
            assert ran.returncode == 0, ran.stderr
            said[arch] = ran.stdout
        assert said["arm64"] == said["amd64"]
        assert said["arm64"].startswith("app\nzstd 1.5")
    finally:
        docker(classic, "rmi", "-f", f"{tag}-arm64", f"{tag}-amd64")


def test_a_step_that_compiles_for_the_build_machine_fails_with_the_file_named(
    classic: Engine, tmp_path: Path
) -> None:
    project = zstd_project(tmp_path / "zs", compile_line="/usr/bin/gcc -O2 -o zs hello.c")
    (project / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
    assert "WRONG ARCHITECTURE: /src/zs is x86-64" in refused_cross(classic, project, tmp_path)


def refused_cross(engine: Engine, project: Path, tmp_path: Path) -> str:
    """What `buildorch build --target arm64` of a project the check stops says (exit 12,
    nothing written), its lines joined."""
    out = tmp_path / "out"
    result = buildorch(
        "build", "-C", str(project), "--target", "arm64", "--network", "host", "-o", str(out),
        env=engine.env(),
    )  # fmt: skip
    assert result.code == 12, result.err
    assert "Traceback" not in result.err
    assert not out.exists(), "nothing was written"
    return " ".join(result.err.split())


def test_a_compiler_named_by_its_version_compiles_for_the_target(
    classic: Engine, tmp_path: Path
) -> None:
    # `gcc-12` (the version Debian's gcc depends on) is a wrapper as `gcc` is; so is a tool
    # the stage's ENV names by its path
    libs = "$$(pkg-config --cflags --libs libzstd)"
    project = zstd_project(
        tmp_path / "zs",
        compile_line=f"gcc-12 -O2 -o zs zs.c {libs} && $(CC) -O2 -o zs2 zs.c {libs}"
        " && $(STRIP) zs2",
    )
    (project / "Dockerfile").write_text(
        DOCKERFILE.partition("FROM debian:bookworm-slim")[0].replace(
            "RUN make zs", "ENV CC=/usr/bin/gcc STRIP=/usr/bin/strip\nRUN make zs"
        )
        + "FROM scratch\nCOPY --from=build /src/zs /src/zs2 /\n"
    )
    out = tmp_path / "out"
    built_cross(classic, project, out)
    assert elf_machine(out / "zs") == "aarch64"
    assert elf_machine(out / "zs2") == "aarch64"


def test_a_builder_image_whose_user_is_not_root_is_set_up_as_root(
    classic: Engine, tmp_path: Path
) -> None:
    # an image that runs as its own user, with a compiler (the kit adds its cross twin): the
    # stage says `USER root` for its apt-get, and the kit is set up after it
    image = f"buildorch-test-nonroot:{uuid.uuid4().hex[:8]}"
    base = tmp_path / "base"
    base.mkdir()
    (base / "Dockerfile").write_text(
        "FROM debian:bookworm\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && "
        "useradd -m builder\nUSER builder\n"
    )
    made = docker(classic, "build", "-q", "--network", "host", "-t", image, str(base))
    assert made.returncode == 0, made.stderr
    try:
        project = tmp_path / "project"
        project.mkdir()
        (project / "a.c").write_text("int main(void) { return 0; }\n")
        (project / "Dockerfile").write_text(
            f"FROM {image} AS build\nUSER root\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends make\n"
            "USER builder\nWORKDIR /home/builder\nCOPY a.c .\nRUN make a && id -un > who\n"
            "FROM scratch\nCOPY --from=build /home/builder/a /home/builder/who /\n"
        )
        out = tmp_path / "out"
        built_cross(classic, project, out)
        assert elf_machine(out / "a") == "aarch64"
        assert (out / "who").read_text() == "builder\n"
        # without it, the image's user cannot set the kit up, and the build says what to do
        (project / "Dockerfile").write_text(
            f"FROM {image} AS build\nWORKDIR /home/builder\nCOPY a.c .\nRUN make a\n"
            "FROM scratch\nCOPY --from=build /home/builder/a /\n"
        )
        failed = buildorch(
            "build", "-C", str(project), "--target", "arm64", "--network", "host",
            "-o", str(tmp_path / "out2"), env=classic.env(),
        )  # fmt: skip
        assert failed.code != 0
        assert "cannot set up the cross kit: add USER root after FROM" in failed.err, failed.err
    finally:
        docker(classic, "rmi", "-f", image)


def test_a_path_named_with_an_arg_is_checked_in_the_build_of_an_image(
    classic: Engine, tmp_path: Path
) -> None:
    # no folder output to check afterwards: the build itself must refuse the file
    project = zstd_project(tmp_path / "zs", compile_line="/usr/bin/gcc -O2 -o zs hello.c")
    (project / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
    (project / "Dockerfile").write_text(
        DOCKERFILE.replace(
            "COPY --from=build /src/zs /usr/local/bin/zs",
            "ARG APP=zs\nCOPY --from=build /src/${APP} /usr/local/bin/zs",
        )
    )
    tag = f"buildorch-test/zs-arg:{uuid.uuid4().hex[:8]}"
    result = buildorch(
        "build", "-C", str(project), "--target", "arm64", "--network", "host", "--load",
        "--tag", tag, env=classic.env(),
    )  # fmt: skip
    assert result.code == 12, result.err
    assert "WRONG ARCHITECTURE: /src/zs is x86-64" in " ".join(result.err.split())
    assert docker(classic, "image", "inspect", tag).returncode != 0, "no image was loaded"


def test_init_cross_writes_a_dockerfile_plain_buildx_builds(
    classic: Engine, tmp_path: Path
) -> None:
    project = zstd_project(tmp_path / "zs")
    files_only = DOCKERFILE[: DOCKERFILE.index("FROM debian:bookworm-slim")]
    (project / "Dockerfile").write_text(
        files_only + "FROM scratch\nCOPY --from=build /src/zs /usr/local/bin/zs\n"
    )
    original = (project / "Dockerfile").read_bytes()
    result = buildorch("init", "--cross", "-C", str(project), env=classic.env())
    assert result.code == 0, result.err
    derived = project / "Dockerfile.cross"
    assert (project / "Dockerfile").read_bytes() == original
    out = tmp_path / "out"
    built = subprocess.run(
        ["docker", "buildx", "build", "--platform", "linux/arm64",
         "--network", "host", "-f", str(derived), "-o", f"type=local,dest={out}", str(project)],
        capture_output=True, text=True, env=classic.env(), check=False, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    # (its steps may come from the build cache of an earlier build of the same stage)
    assert elf_machine(out / "usr" / "local" / "bin" / "zs") == "aarch64"


LUA_SMOKE = (
    "lua -v && lua -e 'local t = {} for i = 1, 10 do t[i] = i * i end "
    'print(table.concat(t, ","))\''
)


def corpus_project(root: Path, corpus: str, source: str) -> Path:
    """A project of the benchmark's corpus: its upstream sources from Debian's archive, as
    bench/fetch-sources.sh fetches them (real code none of this project wrote), and the
    corpus's Dockerfile for it."""
    fetched = REPO / "bench" / ".sources" / source
    if not fetched.is_dir():
        subprocess.run(
            ["bash", str(REPO / "bench" / "fetch-sources.sh"), source], check=True, timeout=600
        )
    copy = root / source
    shutil.copytree(fetched, copy)
    shutil.copyfile(REPO / "bench" / "corpus" / corpus / "Dockerfile", copy / "Dockerfile")
    return copy


def built_for(
    engine: Engine, project: Path, tmp_path: Path, program: str, smoke: str, arch: str
) -> str:
    """PROJECT built into a folder for ARCH (cross for arm64, native for amd64), PROGRAM
    checked for that machine, and what SMOKE prints with the result on PATH, under QEMU for
    arm64."""
    out = tmp_path / arch
    built = buildorch(
        "build", "-C", str(project), "--target", arch, "--network", "host",
        "-o", str(out), "--json", env=engine.env(),
    )  # fmt: skip
    assert built.code == 0, built.err
    (done,) = built.json()["report"]["builds"]
    assert done["strategy"] == ("cross" if arch == "arm64" else "native")
    assert elf_machine(out / program) == ("aarch64" if arch == "arm64" else "x86_64")
    ran = docker(
        engine, "run", "--rm", "--platform", f"linux/{arch}", "-v", f"{out}:/opt/out:ro",
        "-e", "PATH=/opt/out:/usr/bin:/bin", "debian:bookworm", "sh", "-c", smoke,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_a_real_projects_own_dockerfile_cross_compiles_to_the_same_program(
    classic: Engine, tmp_path: Path
) -> None:
    # on one store: test_own_dockerfile_cross_compiles_and_runs_the_same builds on both, and
    # compares with the amd64 build there (the program's whole answer is known here)
    lua_sources = corpus_project(tmp_path, "lua", "lua5.4")
    before = tree_hash(lua_sources)
    said = built_for(classic, lua_sources, tmp_path, "lua", LUA_SMOKE, "arm64")
    assert said.splitlines() == [
        "Lua 5.4.4  Copyright (C) 1994-2022 Lua.org, PUC-Rio",
        "1,4,9,16,25,36,49,64,81,100",
    ]
    assert tree_hash(lua_sources) == before


FRIBIDI_SMOKE = "fribidi --version | head -n 1 && echo 'car is THE CAR' | fribidi --charset CapRTL"


def test_a_meson_projects_own_dockerfile_cross_compiles_with_its_generators_native(
    classic: Engine, tmp_path: Path
) -> None:
    # GNU FriBidi: meson compiles table generators for the build machine (native: true) and
    # runs them during the build; the library and its program for the target
    # (the program's whole answer is known: no native build to compare it with)
    project = corpus_project(tmp_path, "fribidi", "fribidi")
    said = built_for(classic, project, tmp_path, "fribidi", FRIBIDI_SMOKE, "arm64")
    assert said == "fribidi (GNU FriBidi) 1.0.8\ncar is RAC EHT\n"


def with_kit(
    engine: Engine, tmp_path: Path, script: str, mounts: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """SCRIPT in a debian:bookworm container of the build machine holding the kit, its target
    arm64. The platform is named: a smoke test's arm64 run leaves the arm64 image under the tag."""
    kit = tmp_path / "kit"
    kit.write_text(kit_text())
    kit.chmod(0o755)
    volumes = [flag for mount in mounts for flag in ("-v", mount)]
    return docker(
        engine, "run", "--rm", "--platform", "linux/amd64", "--network", "host",
        "-e", "TARGETARCH=arm64",
        "-v", f"{kit}:{KIT}:ro", *volumes, "debian:bookworm", "/bin/sh", "-c", script,
    )  # fmt: skip


def kit_apt(
    engine: Engine, tmp_path: Path, install: str, setup: str = "setup"
) -> subprocess.CompletedProcess[str]:
    """The kit's apt-get set up for arm64, installing nothing (`-s`): what it decides for
    each package, from the archive's own metadata."""
    return with_kit(
        engine,
        tmp_path,
        f"{KIT} {setup} && {KIT} run /bin/sh -c "
        f"'apt-get update -qq && apt-get install -s --no-install-recommends {install}'",
    )


# the kit's apt-get decisions the tests below read, each `apt-get install -s` of one list in
# one container (set up as `kit setup` or `kit setup rust`, its lists fetched once): a
# simulation installs nothing, so those of one setup run side by side, from the same state
DECIDED = (
    ("setup", "gcc libc6-dev make libzstd-dev clang libclang-dev zlib1g-dev:arm64"),
    ("setup", "gcc libz-dev"),
    ("setup", "libc6-dev"),
    ("setup", "gcc libc6-dev-i386"),
    ("setup", "gcc default-libmysqlclient-dev golang-go librust-libc-dev"),
    ("setup", "cargo libclang-dev"),
    ("setup", "gcc libclang-dev"),
    ("setup rust", "gcc libclang-dev"),
)
_MARK = "@@ buildorch-test decision"
# (setup, install list) -> the kit's apt-get run for it
Decisions = dict[tuple[str, str], subprocess.CompletedProcess[str]]


# for the session (once a worker): a worker that runs the templates' tests between this
# module's would set a module's fixture up again
@pytest.fixture(scope="session")
def decisions(classic: Engine, tmp_path_factory: pytest.TempPathFactory) -> Decisions:
    """What the kit's apt-get said and did for each of DECIDED: its exit status, output
    (apt-get's simulation) and messages."""
    script = [f"{KIT} run /bin/sh -c 'apt-get update -qq' || exit 1"]
    for setup in dict.fromkeys(wanted for wanted, _ in DECIDED):
        script.append(f"{KIT} {setup} || exit 1")
        for n, (wanted, install) in enumerate(DECIDED):
            if wanted == setup:
                script.append(
                    f"({KIT} run /bin/sh -c 'apt-get install -s --no-install-recommends "
                    f"{install}' > /tmp/{n}.out 2> /tmp/{n}.err; echo $? >> /tmp/{n}.out) &"
                )
        script.append("wait")
    for n in range(len(DECIDED)):
        script.append(f"echo '{_MARK}'; cat /tmp/{n}.out; echo '{_MARK}' >&2; cat /tmp/{n}.err >&2")
    ran = with_kit(
        classic, tmp_path_factory.mktemp("decisions"), f"{KIT} setup && " + "\n".join(script)
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    outs = ran.stdout.split(f"{_MARK}\n")[1:]
    errs = ran.stderr.split(f"{_MARK}\n")[1:]
    assert len(outs) == len(errs) == len(DECIDED), ran.stderr[-3000:]
    decided: Decisions = {}
    for case, out, err in zip(DECIDED, outs, errs, strict=True):
        *printed, status = out.rstrip("\n").split("\n")
        decided[case] = subprocess.CompletedProcess([case[1]], int(status), "\n".join(printed), err)
    return decided


@DECISIONS
def test_apt_get_installs_libraries_for_the_target_and_tools_for_the_build_machine(
    decisions: Decisions,
) -> None:
    ran = decisions["setup", "gcc libc6-dev make libzstd-dev clang libclang-dev zlib1g-dev:arm64"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = ran.stderr
    assert "gcc -> gcc, native (a tool for the build machine)" in said
    assert "make -> make, native (Multi-Arch: allowed)" in said
    assert "libzstd-dev -> libzstd-dev:arm64 (Multi-Arch: same, Section: libdevel)" in said
    assert "libclang-dev -> libclang-dev, native (Section: libdevel, built from" in said
    # with a compiler, the target's C library is the cross compiler's own
    assert "libc6-dev -> libc6-dev, native (the arm64 C library comes with" in said
    assert "adding the arm64 toolchain: gcc-aarch64-linux-gnu libc6-dev-arm64-cross" in said
    simulated = ran.stdout
    assert "Inst gcc-aarch64-linux-gnu " in simulated
    assert "Inst libzstd-dev:arm64 " in simulated
    assert "Inst zlib1g-dev:arm64 " in simulated, "an architecture written in the Dockerfile stays"


@DECISIONS
def test_apt_get_decides_a_virtual_name_as_the_package_that_provides_it(
    decisions: Decisions,
) -> None:
    ran = decisions["setup", "gcc libz-dev"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = ran.stderr
    assert "libz-dev -> zlib1g-dev:arm64 (it provides libz-dev; Multi-Arch: same" in said
    assert "Inst zlib1g-dev:arm64 " in ran.stdout


# run as the stage's own user, through the kit: each sudo's output on a line
AS_BUILDER = r"""
sudo apt-get install -s --no-install-recommends libzstd-dev | grep '^Inst libzstd-dev'
sudo -n -u root printenv CC
sudo -uroot -- printenv CC
sudo LC_ALL=C printenv CC
sudo -k printenv CC
sudo sh -c 'id -un; echo $PKG_CONFIG'
"""

# a user whom sudoers allows apt-get only: the kit may not run, so apt-get runs as written
AS_LIMITED = r"""
sudo apt-get install -s --no-install-recommends libzstd-dev | grep '^Inst libzstd-dev'
"""


def test_sudo_runs_its_command_with_the_targets_environment(
    classic: Engine, tmp_path: Path
) -> None:
    # a stage that builds as its own user and installs with sudo: sudo's fresh environment
    # and secure_path would go around the kit, and install the build machine's library
    (tmp_path / "as-builder.sh").write_text(AS_BUILDER)
    (tmp_path / "as-limited.sh").write_text(AS_LIMITED)
    ran = with_kit(
        classic,
        tmp_path,
        f"{KIT} setup && {KIT} run /bin/sh -c 'apt-get update -qq && apt-get install -y -qq "
        "--no-install-recommends sudo >/dev/null' && useradd -m builder && useradd -m limited "
        "&& echo 'builder ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/builder && "
        "echo 'limited ALL=(root) NOPASSWD: /usr/bin/apt-get' > /etc/sudoers.d/limited && "
        "install -m 644 /project/as-builder.sh /project/as-limited.sh /tmp/ && "
        f"su builder -c '{KIT} run /bin/sh -e /tmp/as-builder.sh' && "
        f"su limited -c '{KIT} run /bin/sh -e /tmp/as-limited.sh'",
        mounts=(f"{tmp_path}:/project:ro",),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "libzstd-dev -> libzstd-dev:arm64 (Multi-Arch: same" in ran.stderr
    installs, *compilers, user, pkg_config, limited = ran.stdout.splitlines()[-8:]
    assert installs.startswith("Inst libzstd-dev:arm64 ")
    # sudo's options and settings, before the command, stay sudo's; -k runs the command too
    assert compilers == ["aarch64-linux-gnu-gcc"] * 4
    assert (user, pkg_config) == ("root", f"{KIT_DIR}/bin/aarch64-linux-gnu-pkg-config")
    # the limited user's apt-get ran as written, and the log says why
    assert limited.startswith("Inst libzstd-dev ")
    assert "sudo lets this user run its command only as written" in ran.stderr


def test_apt_get_in_a_moved_stage_unpacks_without_syncing_each_file(
    classic: Engine, tmp_path: Path
) -> None:
    # a step's files reach the image when it ends: dpkg's sync of each file buys nothing there
    ran = with_kit(
        classic,
        tmp_path,
        f"{KIT} setup && {KIT} run /bin/sh -c 'apt-get update -qq && "
        "apt-get install -y --no-install-recommends -o Debug::pkgDPkgPM=1 make'",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    # apt's debugging option prints dpkg's command lines instead of running them
    dpkg = [line for line in ran.stderr.splitlines() if line.startswith("/usr/bin/dpkg ")]
    assert dpkg and all("--force-unsafe-io" in line for line in dpkg), ran.stderr[-3000:]


@DECISIONS
def test_apt_get_without_a_compiler_installs_the_c_library_for_the_target(
    decisions: Decisions,
) -> None:
    ran = decisions["setup", "libc6-dev"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "libc6-dev -> libc6-dev:arm64 (Multi-Arch: same, Section: libdevel)" in ran.stderr
    assert "adding the arm64 toolchain" not in ran.stderr


@DECISIONS
def test_a_package_the_target_has_no_build_of_stops_apt_get(
    decisions: Decisions,
) -> None:
    # libc6-dev-i386 is Multi-Arch: none, Section: libdevel, built for amd64 alone
    ran = decisions["setup", "gcc libc6-dev-i386"]
    assert ran.returncode != 0
    assert "NO TARGET BUILD: libc6-dev-i386 has no arm64 build" in ran.stderr


@DECISIONS
def test_apt_get_reads_a_library_from_its_debian_name_in_any_section(
    decisions: Decisions,
) -> None:
    # all three are Multi-Arch: same: a library's -dev in Section database, a compiler in
    # Section golang, a crate's sources for Debian's cargo registry (librust-*-dev need the
    # build machine's tools: librust-clang-sys-dev, its libclang)
    ran = decisions["setup", "gcc default-libmysqlclient-dev golang-go librust-libc-dev"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = ran.stderr
    assert (
        "default-libmysqlclient-dev -> default-libmysqlclient-dev:arm64 (Multi-Arch: same" in said
    )
    assert "golang-go -> golang-go, native (a tool for the build machine)" in said
    assert "librust-libc-dev -> librust-libc-dev, native (a tool for the build machine)" in said
    assert "Inst libmariadb-dev:arm64 " in ran.stdout


def test_the_compiler_caches_live_in_the_cache_mount_unless_the_stage_chose_its_own(
    classic: Engine, tmp_path: Path
) -> None:
    ran = with_kit(
        classic,
        tmp_path,
        f"mkdir -p {CACHE_DIR} && {KIT} setup && "
        f"{KIT} run /bin/sh -c 'echo \"$CCACHE_DIR $GOCACHE $CC_aarch64_unknown_linux_gnu\"' && "
        f"GOCACHE=/go-cache {KIT} run /bin/sh -c 'echo \"$GOCACHE\"'",
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        # cargo's cc crate reaches ccache through the kit's compiler, by path: cargo runs
        # with the stage's own PATH
        "/root/.cache/buildorch-cross/ccache-arm64 /root/.cache/buildorch-cross/go-build "
        f"{KIT_DIR}/bin/aarch64-linux-gnu-gcc",
        "/go-cache",
    ]


RUST_DOCKERFILE = """\
FROM debian:bookworm AS build
# Debian's official images clean apt's downloads after each update (docker-clean): here its
# hook counts them, and the kit's own apt (the target's standard library) must not run it
RUN echo 'APT::Update::Post-Invoke { "echo update >> /var/log/apt-updates"; };' \\
    > /etc/apt/apt.conf.d/docker-clean
RUN apt-get update && apt-get install -y --no-install-recommends cargo && \\
    rm -rf /var/lib/apt/lists/* && test "$(cat /var/log/apt-updates)" = update
WORKDIR /src
COPY . .
RUN cargo build --release --offline

FROM debian:bookworm-slim
COPY --from=build /src/target/release/hello-rust-vendored /usr/local/bin/hello
ENTRYPOINT ["hello"]
"""


@RUST_PROJECT
def test_a_rust_projects_own_dockerfile_cross_compiles_and_rebuilds_through_sccache(
    classic: Engine, tmp_path: Path
) -> None:
    # Debian's cargo, a vendored dependency, the binary copied from where a native build
    # puts it (target/release/), a runtime stage
    project = tmp_path / "hello-rust-vendored"
    shutil.copytree(REPO / "tests" / "integration" / "projects" / "hello-rust-vendored", project)
    (project / "Dockerfile").write_text(RUST_DOCKERFILE)
    tag = f"buildorch-test/hello-rust:{uuid.uuid4().hex[:8]}"
    try:
        rates = []
        # an edit of its own for each build: BuildKit would reuse an earlier run's steps
        for _build in ("build", "rebuild"):
            edit = f"// an edit, {uuid.uuid4()}: only this crate compiles again\n"
            with (project / "src" / "main.rs").open("a") as main:
                main.write(edit)
            built = buildorch(
                "build", "-C", str(project), "--target", "arm64", "--network", "host",
                "--load", "--tag", tag, "--json", env=classic.env(),
            )  # fmt: skip
            assert built.code == 0, built.err
            (done,) = built.json()["report"]["builds"]
            assert done["strategy"] == "cross"
            rates.append({c["step"]: c for c in done["compiler_cache"]})
            ran = docker(classic, "run", "--rm", "--platform", "linux/arm64", tag)
            assert ran.returncode == 0, ran.stderr
            assert ran.stdout == "hello-rust-vendored on aarch64: 500500\n"
        # the rebuild's cargo step found the dependency (triangle) in sccache's folder
        cargo = [c for step, c in rates[1].items() if "cargo build" in step]
        assert len(cargo) == 1 and cargo[0]["hits"] >= 1, rates
    finally:
        docker(classic, "rmi", "-f", tag)


@contextmanager
def rust_stage(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """The Rust project's moved stage, built from its derived Dockerfile and loaded as an
    image (its kit and toolchain in place): the image's tag, removed afterwards."""
    project = tmp_path / "hello-rust-vendored"
    shutil.copytree(REPO / "tests" / "integration" / "projects" / "hello-rust-vendored", project)
    (project / "Dockerfile").write_text(RUST_DOCKERFILE)
    assert buildorch("init", "--cross", "-C", str(project), env=engine.env()).code == 0
    tag = f"buildorch-test/hello-rust-stage:{uuid.uuid4().hex[:8]}"
    try:
        built = docker(
            engine, "buildx", "build", "--platform", "linux/arm64", "--network", "host",
            "-f", str(project / "Dockerfile.cross"), "--target", "build", "--load", "-t", tag,
            str(project),
        )  # fmt: skip
        assert built.returncode == 0, built.stderr[-3000:]
        yield tag
    finally:
        docker(engine, "rmi", "-f", tag)


def cargo_in_rust_stage(
    engine: Engine, tmp_path: Path, prepare: str, cargo: str, then: str = "", through: str = ""
) -> subprocess.CompletedProcess[str]:
    """In the Rust project's moved stage (rust_stage), PREPARE, then CARGO (a command line)
    through the kit from a clean target folder (run by THROUGH, a command that runs another),
    then THEN: the program's ELF machine first."""
    with rust_stage(engine, tmp_path) as tag:
        return docker(
            engine, "run", "--rm", "--network", "host", "-e", "TARGETARCH=arm64", tag,
            "/bin/sh", "-c",
            f"{prepare} && rm -rf target && {through} {KIT} run {cargo} && "
            f"od -An -tu1 -j18 -N1 target/release/hello-rust-vendored {then}",
        )  # fmt: skip


@RUST_PROJECT
def test_a_cargo_step_that_finds_the_sccache_folder_in_use_compiles_without_it(
    classic: Engine, tmp_path: Path
) -> None:
    # sccache's disk cache takes one server at a time: the moved stage's cargo step, run while
    # the folder's lock is held (as by a concurrent build of the same target), still builds
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        f"test -x {KIT} && mkdir -p {CACHE_DIR}",
        "cargo build --release --offline",
        through=f"flock {CACHE_DIR}/sccache-arm64.lock",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "another step is using the arm64 sccache folder" in ran.stderr
    assert "sccache: Cache" not in ran.stderr
    assert ran.stdout.split() == ["183"], "an aarch64 program where a native build puts it"


@RUST_PROJECT
def test_a_cargo_step_whose_sccache_server_cannot_start_compiles_without_it(
    classic: Engine, tmp_path: Path
) -> None:
    # a server that does not come up (here sccache's config file is broken; on a loaded machine,
    # one slower than sccache's 10 s) would fail the first rustc: the step builds without sccache
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        f"mkdir -p {CACHE_DIR} /root/.config/sccache && "
        "echo '[cache.disk' >/root/.config/sccache/config",
        "cargo build --release --offline",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "sccache's server did not start: this step compiles without it" in ran.stderr
    assert "sccache: Cache" not in ran.stderr
    assert ran.stdout.split() == ["183"], "an aarch64 program where a native build puts it"


@RUST_PROJECT
def test_cargo_runs_again_on_the_target_folder_it_built_in(classic: Engine, tmp_path: Path) -> None:
    # a second cargo step, or the next build on a cache mount of target/: cargo locks
    # .cargo-lock in target/<triple>/release and in target/release, which must stay two files
    # (one folder an older kit linked them in is mended); bounded, as a wait would be endless
    again = f"timeout 120 {KIT} run cargo build --release --offline"
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        f"mkdir -p {CACHE_DIR}",
        "cargo build --release --offline",
        then=f"&& {again} && ln -f target/aarch64-unknown-linux-gnu/release/.cargo-lock "
        f"target/release/.cargo-lock && {again} && echo built-again",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == ["183", "built-again"]


@RUST_PROJECT
def test_cargo_test_runs_the_tests_on_the_target(classic: Engine, tmp_path: Path) -> None:
    # as a build on the target runs them (a test that holds on one machine only fails there),
    # through the emulator; the program the tests run is where a native build puts it
    arch_test = '#[test]\nfn arch() { assert_eq!(std::env::consts::ARCH, "aarch64"); }\n'
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        f"mkdir -p {CACHE_DIR} tests && printf '%s' '{arch_test}' > tests/arch.rs",
        "cargo test --release --offline",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "test arch ... ok" in ran.stdout
    assert ran.stdout.split()[-1] == "183"


@RUST_PROJECT
def test_a_rustc_wrapper_the_project_chose_is_left_alone(classic: Engine, tmp_path: Path) -> None:
    # a wrapper named in the project's cargo config is the project's choice: no sccache
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        "printf '[build]\\nrustc-wrapper = \"/usr/bin/env\"\\n' >> .cargo/config.toml && "
        f"mkdir -p {CACHE_DIR}",
        "cargo build --release --offline",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "sccache: Cache" not in ran.stderr
    assert ran.stdout.split() == ["183"]


@RUST_PROJECT
def test_cargo_auditable_build_builds_for_the_target(classic: Engine, tmp_path: Path) -> None:
    # `cargo auditable build` (cargo-auditable, a cargo subcommand that runs cargo build with
    # the dependency list embedded) gets the target's triple after `build`, as cargo build does;
    # a stand-in for it here runs the cargo it is given, as the real one does
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        "printf '#!/bin/sh\\nshift\\nexec cargo \"$@\"\\n' > /usr/local/bin/cargo-auditable && "
        "chmod 755 /usr/local/bin/cargo-auditable",
        "cargo auditable -v build --release --offline",
        "&& ls target/aarch64-unknown-linux-gnu/release/hello-rust-vendored",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == [
        "183",
        "target/aarch64-unknown-linux-gnu/release/hello-rust-vendored",
    ], "an aarch64 program where a native build puts it"


@RUST_PROJECT
def test_rustups_cargo_reached_through_its_env_file_builds_for_the_target(
    classic: Engine, tmp_path: Path
) -> None:
    # rustup installs cargo in ~/.cargo/bin and a file that puts that folder first in PATH
    # unless PATH has it (`. "$HOME/.cargo/env"`, rustup's own advice): the kit's steps have
    # it after the wrappers, so cargo is still the kit's. Debian's cargo, moved there, stands
    # in for rustup's toolchain, which this test bed cannot download
    env_file = (
        'case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac'
    )
    ran = cargo_in_rust_stage(
        classic,
        tmp_path,
        f"mkdir -p /root/.cargo/bin && mv /usr/bin/cargo /root/.cargo/bin/ && "
        f"echo '{env_file}' > /root/.cargo/env",
        '/bin/sh -c \'. "$HOME/.cargo/env" && command -v cargo && '
        "cargo build --release --offline'",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == [f"{KIT_DIR}/bin/cargo", "183"]


RUNS_WHAT_IT_BUILT = """\
FROM debian:bookworm AS build
RUN apt-get update && \\
    apt-get install -y --no-install-recommends g++ cmake make meson ninja-build dpkg-dev && \\
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B out -DCMAKE_BUILD_TYPE=Release && cmake --build out && \\
    ./out/hello-cmake > out/said.txt && cmake --install out --prefix /usr/local && \\
    qemu-aarch64 -L /usr/aarch64-linux-gnu ./out/hello-cmake > out/qemu-said.txt && \\
    (cd out && QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64-static hello-cmake) \\
        >> out/qemu-said.txt
RUN meson setup m-out m && meson --buildtype=release m-old m

FROM scratch
COPY --from=build /src/out/said.txt /src/out/qemu-said.txt /src/out/probe.txt /src/m-out/probe.h /
COPY --from=build /src/m-old/probe.h /old/
COPY --from=build /usr/local /usr/local
"""
# what each build system runs on the target while it configures: the machine uname gives
PROBE = """\
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
int main(void) {
    struct utsname u;
    uname(&u);
    puts(u.machine);
    return strcmp(u.machine, "aarch64");
}
"""
CMAKE_PROBE = f"""\
include(CheckCXXSourceRuns)
check_cxx_source_runs([[{PROBE}]] RUNS_ON_AARCH64)
file(WRITE ${{CMAKE_BINARY_DIR}}/probe.txt "RUNS_ON_AARCH64=${{RUNS_ON_AARCH64}}\\n")
"""
MESON_PROJECT = f"""\
project('probe', 'c')
ran = meson.get_compiler('c').run(\'\'\'{PROBE}\'\'\')
conf = configuration_data()
conf.set_quoted('MACHINE', ran.stdout().strip())
conf.set_quoted('LIBDIR', get_option('libdir'))
configure_file(output: 'probe.h', configuration: conf)
"""


def test_a_moved_stage_runs_the_target_program_it_built_through_the_emulator(
    classic: Engine, tmp_path: Path
) -> None:
    # a C++ project built with CMake (its compilers from CC and CXX), and a step that runs
    # the program it just built, as a test or a generator would (also by QEMU's name, as
    # cross-aware tests do): under QEMU, with the cross
    # compiler's loader and C library (the stage installed no target C library). CMake's
    # try_run and meson's compiler.run() run their probes there too, as on the target
    project = tmp_path / "hello-cmake"
    shutil.copytree(REPO / "tests" / "integration" / "projects" / "hello-cmake", project)
    (project / "CMakeLists.txt").write_text(
        (project / "CMakeLists.txt")
        .read_text()
        .replace("target_link_options(hello-cmake PRIVATE -static)\n", CMAKE_PROBE)
    )
    (project / "m").mkdir()
    (project / "m" / "meson.build").write_text(MESON_PROJECT)
    (project / "Dockerfile").write_text(RUNS_WHAT_IT_BUILT)
    out = tmp_path / "out"
    built_cross(classic, project, out)
    assert elf_machine(out / "usr" / "local" / "bin" / "hello-cmake") == "aarch64"
    said = (out / "said.txt").read_text()
    assert "aarch64" in said, said
    # as a cross-aware build runs its tests (brotli's `qemu-aarch64 PROGRAM`): the stage has
    # no QEMU of its own, the kit's stand-in runs it through the registered emulator
    assert (out / "qemu-said.txt").read_text() == said * 2
    assert (out / "probe.txt").read_text() == "RUNS_ON_AARCH64=1\n"
    assert '#define MACHINE "aarch64"' in (out / "probe.h").read_text()
    # meson's older form, options before the build folder, is a setup with the cross file too
    assert '#define MACHINE "aarch64"' in (out / "old" / "probe.h").read_text()
    # meson's libdir where dpkg-architecture names one, as a native build on the target has
    # it (cross, meson would make it plain lib)
    assert '#define LIBDIR "lib/aarch64-linux-gnu"' in (out / "probe.h").read_text()
    # /usr/local copied whole holds what the project installed, not the kit
    installed = sorted(str(p.relative_to(out)) for p in (out / "usr").rglob("*") if not p.is_dir())
    assert installed == ["usr/local/bin/hello-cmake"]


def test_cmake_installs_where_a_native_build_does_and_the_check_names_what_it_did_not_build(
    classic: Engine, tmp_path: Path
) -> None:
    # GNUInstallDirs' libdir for prefix /usr, Debian's lib/<multiarch> natively, plain lib in a
    # cross build: the target's, as there; -march=native, this machine's processor, builds for
    # the target's baseline
    project = tmp_path / "hello-cmake"
    shutil.copytree(REPO / "tests" / "integration" / "projects" / "hello-cmake", project)
    with (project / "CMakeLists.txt").open("a") as cmake:
        cmake.write(
            "include(GNUInstallDirs)\nadd_compile_options(-march=native)\n"
            "add_library(probe SHARED main.cpp)\ninstall(TARGETS probe)\n"
            "if(NOT CMAKE_CROSSCOMPILING)\n  add_executable(extra main.cpp)\nendif()\n"
        )
    dockerfile = (
        "FROM debian:bookworm AS build\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends g++ cmake make\n"
        "WORKDIR /src\nCOPY . .\n"
        "RUN cmake -S . -B out -DCMAKE_INSTALL_PREFIX=/usr && cmake --build out && \\\n"
        "    DESTDIR=/dest cmake --install out\n"
        "FROM scratch\nCOPY --from=build /src/out/hello-cmake /\n"
        "COPY --from=build /dest/usr/lib /lib\n"
    )
    (project / "Dockerfile").write_text(dockerfile)
    out = tmp_path / "out"
    built_cross(classic, project, out)
    assert elf_machine(out / "hello-cmake") == "aarch64"
    assert elf_machine(out / "lib" / "aarch64-linux-gnu" / "libprobe.so") == "aarch64"
    # a project that builds less when it cross-compiles: the COPY of what it left out would
    # stop on "not found"; the check names the file and why first
    (project / "Dockerfile").write_text(
        dockerfile.replace("/src/out/hello-cmake /", "/src/out/hello-cmake /src/out/extra /")
    )
    (tmp_path / "refused").mkdir()
    said = refused_cross(classic, project, tmp_path / "refused")
    assert "NOT BUILT: /src/out/extra, which a later stage copies, is not there" in said
    assert "CMAKE_CROSSCOMPILING" in said


CONFIGURE_AC = """\
AC_INIT([probe], [1])
AC_CANONICAL_HOST
AC_PROG_CC
AS_ECHO(["$build_cpu $build_vendor $build_os $host"]) > triples.txt
AC_MSG_CHECKING([the machine a test program runs on])
AC_RUN_IFELSE([AC_LANG_PROGRAM([[#include <stdio.h>
#include <sys/utsname.h>]], [[struct utsname u; FILE *f = fopen("machine.txt", "w");
uname(&u); fputs(u.machine, f); return fclose(f);]])], [AC_MSG_RESULT([ran])])
AC_OUTPUT
"""


def test_configure_runs_its_test_programs_as_on_the_target(classic: Engine, tmp_path: Path) -> None:
    # AC_RUN_IFELSE without an answer for a cross build: configure would stop ("cannot run
    # test program while cross compiling"); with the host alone, it finds it runs them. The
    # compiler is installed only where the image lacks one: no wrapper answers for it before
    project = tmp_path / "probe"
    project.mkdir()
    (project / "configure.ac").write_text(CONFIGURE_AC)
    (project / "Dockerfile").write_text(
        "FROM debian:bookworm AS build\n"
        "RUN command -v gcc >/dev/null || (apt-get update && "
        "apt-get install -y --no-install-recommends gcc libc6-dev autoconf automake)\n"
        "WORKDIR /src\nCOPY configure.ac .\nRUN autoreconf -fi && ./configure\n"
        "FROM scratch\nCOPY --from=build /src/machine.txt /src/triples.txt /\n"
    )
    out = tmp_path / "out"
    built_cross(classic, project, out)
    assert (out / "machine.txt").read_text() == "aarch64"
    # the build machine's triple as config.sub writes it, its vendor in its own field (it
    # read "linux" and the system "gnu" from Debian's short form)
    build_cpu, build_vendor, build_os, host = (out / "triples.txt").read_text().split()
    assert (build_vendor, build_os) == ("pc" if build_cpu == "x86_64" else "unknown", "linux-gnu")
    assert host == "aarch64-unknown-linux-gnu"


def test_node_and_python_installers_run_for_the_build_machine(
    classic: Engine, tmp_path: Path
) -> None:
    # npm, pip and `python3 -m pip` (stand-ins that say what they are given: this checks the
    # environment, not the installers) run without the target's compilers, which node-gyp and
    # setuptools would otherwise build the build machine's native modules with; no wrapper
    # stands for a tool the stage lacks, so `command -v npm` says so until the stage installs it
    stand_in = '#!/bin/sh\\necho "CC=${CC:-none} PATH=$PATH"\\n'
    ran = with_kit(
        classic,
        tmp_path,
        f"{KIT} setup && {KIT} run /bin/sh -c 'command -v npm || echo no npm' && "
        "for t in npm pip python3; do "
        f"printf '{stand_in}' > /usr/local/bin/$t && chmod 755 /usr/local/bin/$t; done && "
        f"{KIT} run /bin/sh -c 'command -v npm && npm ci && pip install -r r.txt && "
        "python3 -m pip install meson && python3 -c pass && "
        'echo "step CC=$CC"\'',
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = ran.stdout.splitlines()
    assert lines[0] == "no npm"
    assert lines[1] == f"{KIT_DIR}/bin/npm"
    for line in lines[2:5]:
        assert line.startswith("CC=none PATH=") and f"{KIT_DIR}/bin" not in line, line
    # Python run otherwise (a generator) keeps the step's environment
    assert lines[5].startswith("CC=aarch64-linux-gnu-gcc PATH=") and f"{KIT_DIR}/bin" in lines[5]
    assert lines[6] == "step CC=aarch64-linux-gnu-gcc", "the step's own commands keep it"


def test_pkg_config_names_a_library_the_image_has_for_the_build_machine_only(
    classic: Engine, tmp_path: Path
) -> None:
    # rust:1 and gcc:12 come with -dev packages for their own machine (libssl-dev, zlib1g-dev)
    # that a Dockerfile never installs: the target has none, and pkg-config says which to add
    ran = with_kit(
        classic,
        tmp_path,
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends pkg-config "
        f"libzstd-dev >/dev/null && {KIT} setup && {KIT} run pkg-config --libs libzstd",
    )
    assert ran.returncode != 0
    said = " ".join(ran.stderr.split())
    assert (
        "libzstd is installed for the build machine only (libzstd-dev): name libzstd-dev in "
        "this stage's apt-get install, which installs it for arm64 too" in said
    ), said


def test_a_library_of_a_tool_installed_in_an_earlier_step_stays_the_build_machines(
    classic: Engine, tmp_path: Path
) -> None:
    # libclang-dev (Multi-Arch: none) beside the clang an earlier step installed: bindgen
    # loads it on the build machine. Go alone brings no C cross compiler: without a C
    # compiler, Go builds static programs natively, and so must its cross build
    ran = with_kit(
        classic,
        tmp_path,
        f"{KIT} setup && apt-get update -qq && apt-get install -y -qq --no-install-recommends "
        f"clang >/dev/null && {KIT} run /bin/sh -c "
        "'apt-get install -s --no-install-recommends libclang-dev golang-go'",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = ran.stderr
    assert "libclang-dev -> libclang-dev, native (Section: libdevel, built from" in said, said
    assert "adding the arm64 toolchain" not in said
    assert "Inst libclang-dev " in ran.stdout and "Inst libclang-dev:arm64" not in ran.stdout


@DECISIONS
def test_a_rust_stages_libclang_is_the_build_machines_for_bindgen(
    decisions: Decisions,
) -> None:
    # `apt-get install cargo libclang-dev` without clang: bindgen, in a -sys crate's build
    # script, loads libclang on the build machine
    ran = decisions["setup", "cargo libclang-dev"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = " ".join(ran.stderr.split())
    assert "libclang-dev -> libclang-dev, native (bindgen loads it on the build machine" in said
    assert "Inst libclang-dev " in ran.stdout and "Inst libclang-dev:arm64" not in ran.stdout
    # a simulation installs nothing, the target's Rust standard library included
    assert "unpacked the arm64 Rust standard library" not in said


def test_a_stage_of_tools_fetches_the_targets_lists_only_when_a_package_needs_them(
    classic: Engine, tmp_path: Path
) -> None:
    # `kit setup tools` (the planner saw a compiler and make only): the target's package
    # lists are left out, and fetched once a package turns out to be the target's
    ran = kit_apt(classic, tmp_path, "gcc make", setup="setup tools")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "fetching the arm64 package lists" not in ran.stderr
    assert "Inst gcc-aarch64-linux-gnu " in ran.stdout
    ran = kit_apt(classic, tmp_path, "gcc libzstd-dev", setup="setup tools")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "fetching the arm64 package lists: a package is the target's" in ran.stderr
    assert "Inst libzstd-dev:arm64 " in ran.stdout
    # an architecture the step names itself
    ran = kit_apt(classic, tmp_path, "make zlib1g-dev:arm64", setup="setup tools")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "Inst zlib1g-dev:arm64 " in ran.stdout


@DECISIONS
def test_libclang_is_bindgens_where_the_planner_says_the_stage_builds_rust(
    decisions: Decisions,
) -> None:
    # a stage that installs its C compiler and libclang before rustup's installer brings
    # cargo: the derived Dockerfile's `kit setup rust` says what apt-get cannot yet see
    ran = decisions["setup rust", "gcc libclang-dev"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "Inst libclang-dev " in ran.stdout and "Inst libclang-dev:arm64" not in ran.stdout
    # without it, a C stage's libclang-dev is a library it links: the target's
    ran = decisions["setup", "gcc libclang-dev"]
    assert "libclang-dev -> libclang-dev:arm64 (Section: libdevel" in ran.stderr, ran.stderr


CGO_PROGRAM = """\
package main

// #ifdef __aarch64__
// static const char *machine(void) { return "aarch64"; }
// #else
// static const char *machine(void) { return "another machine"; }
// #endif
import "C"
import "fmt"

func main() { fmt.Println("cgo on", C.GoString(C.machine())) }
"""


def test_a_cgo_program_cross_compiles_with_its_c_cached_by_go_alone(
    classic: Engine, tmp_path: Path
) -> None:
    # Go's build cache keeps cgo's compiles with the package: ccache would store them twice.
    # A C compile outside Go still goes through ccache
    (tmp_path / "main.go").write_text(CGO_PROGRAM)
    ccache_files = f"find {CACHE_DIR}/ccache-arm64 -type f 2>/dev/null | wc -l"
    ran = with_kit(
        classic,
        tmp_path,
        f"mkdir -p {CACHE_DIR} /src && {KIT} setup && {KIT} run /bin/sh -c "
        "'apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go gcc "
        "libc6-dev >/dev/null' && cd /src && cp /project/main.go . && "
        f"echo 'module probe' > go.mod && {KIT} run go build -o probe . && {KIT} run ./probe && "
        f"{ccache_files} && "
        f"echo 'int f(void) {{ return 1; }}' > f.c && {KIT} run gcc -c f.c && {ccache_files} && "
        f"{KIT} verify probe f.o && {KIT} run go install . && {KIT} verify /root/go/bin/probe && "
        "ls -A /root/go/bin | tr '\\n' ' '",
        mounts=(f"{tmp_path}:/project:ro",),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    *_, printed, under_go, outside_go, installed = ran.stdout.splitlines()
    assert printed == "cgo on aarch64"
    assert under_go == "0", "cgo's compiles went through ccache"
    assert int(outside_go) > 0, "a plain C compile went around ccache"
    # `go install` puts the target's program where a native one would, and only there
    assert installed.split() == ["probe"]


def test_every_compile_is_cached_without_a_preprocessor_run(
    classic: Engine, tmp_path: Path
) -> None:
    # ccache's depend mode: a compile is keyed by the headers the compiler reports, from the
    # dependency file the build asks for (-MD: automake's, CMake's, meson's) or, where it asks
    # for none (a plain Makefile, the cc crate), from one the kit has written and throws away
    stats = (
        "ccache --print-stats | "
        'grep -E "^(cache_miss|direct_cache_hit|preprocessed_cache_miss)\\s" | '
        'tr "\\t\\n" "= "; echo'
    )
    ran = with_kit(
        classic,
        tmp_path,
        f"mkdir -p {CACHE_DIR} && {KIT} setup && {KIT} run /bin/sh -c "
        "'apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev "
        ">/dev/null' && mkdir /tmp/p && cd /tmp/p && echo '#include <stdio.h>' > f.c && "
        f"cp f.c g.c && {KIT} run gcc -c -MD f.c && rm f.o f.d && {KIT} run gcc -c -MD f.c && "
        f"{KIT} run gcc -c g.c && rm g.o && {KIT} run gcc -c g.c -o g.o && "
        f"{KIT} run /bin/sh -c '{stats}' && {KIT} verify f.o g.o && "
        "grep -c '^f.o: f.c ' f.d && grep -c /aarch64-linux-gnu/include/stdio.h f.d && "
        "ls /tmp/p | tr '\\n' ' ' && { ls /tmp | grep -c buildorch-cross || true; } && "
        # assembler, which GCC writes no dependency file for: cached as before, once a miss
        f"printf '.text\\n' > a.s && {KIT} run gcc -c a.s && rm a.o && {KIT} run gcc -c a.s && "
        f"{KIT} run /bin/sh -c '{stats}' && rm a.o && "
        # a TMPDIR that is not there: the compile goes on, without a dependency file
        f"TMPDIR=/nowhere {KIT} run gcc -c g.c -o h.o && {KIT} verify h.o",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    *_, counted, rule, header, files, assembled = ran.stdout.splitlines()
    # each file a miss then a hit, never preprocessed
    assert counted.split() == [
        "cache_miss=2",
        "direct_cache_hit=2",
        "preprocessed_cache_miss=0",
    ]
    assert assembled.split()[:2] == ["cache_miss=3", "direct_cache_hit=3"]
    # the hit wrote the dependency file back, naming the target's header
    assert (rule, header) == ("1", "1")
    # the dependency file g.c's build did not ask for is gone, beside it and in /tmp
    assert files.split() == ["f.c", "f.d", "f.o", "g.c", "g.o", "0"]


LIBRARY_MAKEFILE = """\
PREFIX ?= /usr/local
libgreet.so: greet.c
\t$(CC) -shared -fPIC -o $@ $<
install: libgreet.so
\tmkdir -p $(PREFIX)/lib/pkgconfig $(PREFIX)/include
\tcp libgreet.so $(PREFIX)/lib/ && cp greet.h $(PREFIX)/include/
\tprintf 'prefix=$(PREFIX)\\nName: greet\\nDescription: greet\\nVersion: 1\\n\
Libs: -L$${prefix}/lib -lgreet\\nCflags: -I$${prefix}/include\\n' > $(PREFIX)/lib/pkgconfig/greet.pc
app: app.c
\t$(CC) -o $@ $< $$(pkg-config --cflags --libs greet)
"""


@pytest.mark.parametrize("prefix", ["/usr", "/usr/local"])
def test_a_library_the_stage_builds_and_installs_is_found_through_pkg_config(
    classic: Engine, tmp_path: Path, prefix: str
) -> None:
    # a newer library than the distribution's, built from source and installed where a
    # Makefile's PREFIX says, then linked by the project: a native build's pkg-config reads
    # <prefix>/lib/pkgconfig, and so must the cross build's
    project = tmp_path / "project"
    project.mkdir()
    (project / "greet.h").write_text("const char *greet(void);\n")
    (project / "greet.c").write_text('const char *greet(void) { return "hello"; }\n')
    (project / "app.c").write_text(
        "#include <stdio.h>\n#include <greet.h>\nint main(void) { puts(greet()); return 0; }\n"
    )
    (project / "Makefile").write_text(LIBRARY_MAKEFILE)
    (project / "Dockerfile").write_text(
        # the zstd project's apt-get step, whose layer the builds before this one made
        DOCKERFILE.partition("WORKDIR")[0] + "WORKDIR /src\nCOPY . .\n"
        f"RUN make install PREFIX={prefix} && make app\n"
        "FROM scratch\nCOPY --from=build /src/app /src/libgreet.so /\n"
    )
    out = tmp_path / "out"
    built_cross(classic, project, out)
    assert elf_machine(out / "app") == "aarch64"
    assert elf_machine(out / "libgreet.so") == "aarch64"


def test_an_image_without_apt_sets_up_for_go_and_refuses_a_c_compiler(
    classic: Engine, tmp_path: Path
) -> None:
    # Alpine, busybox: no cross compiler or target libraries to install; Go needs neither
    kit = tmp_path / "kit"
    kit.write_text(kit_text())
    kit.chmod(0o755)

    def set_up_with(tool: str) -> subprocess.CompletedProcess[str]:
        script = (
            f"mkdir -p /usr/local/bin && printf '#!/bin/sh\\n' > /usr/local/bin/{tool} && "
            f"chmod 755 /usr/local/bin/{tool} && {KIT} setup"
        )
        return docker(
            classic, "run", "--rm", "--platform", "linux/amd64", "-e", "TARGETARCH=arm64",
            "-v", f"{kit}:{KIT}:ro", BUSYBOX,
            "/bin/sh", "-c", script,
        )  # fmt: skip

    ran = {tool: set_up_with(tool) for tool in ("go", "gcc")}
    assert ran["go"].returncode == 0, ran["go"].stderr
    assert ran["gcc"].returncode != 0
    assert "this image has gcc but not Debian's apt-get" in ran["gcc"].stderr
