"""Bad input, each case on its own: a clear message (what, why, what to do), its exit code,
no traceback, and the project byte-identical afterwards. Recorded hosts stand in for the
engine, so what is refused is refused before anything runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildorch.cli import main

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = str(REPO / "tests" / "snapshots" / "linux-amd64-qemu")
EXAMPLE = REPO / "examples" / "hello-c"


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def prepare(project: Path) -> None:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    return prepare


def nothing(project: Path) -> None:
    return None


PLAN = ["plan", "--snapshot", SNAPSHOT]
BUILD = ["build", "--snapshot", SNAPSHOT, "--dry-run"]

# id: (prepare the project, argv after the command ({p}: the project), exit code, words said)
CASES: dict[str, tuple[Callable[[Path], None], list[str], int, str]] = {
    "unknown target": (nothing, [*PLAN, "--target", "sparc64"], 4, "sparc64"),
    "target list with a typo": (
        nothing,
        [*PLAN, "--target", "arm64,amd46"],
        4,
        "did you mean `amd64`",
    ),
    "Dockerfile a folder": (write("Dockerdir/x", "x"), [*PLAN, "-f", "Dockerdir"], 4, "Dockerdir"),
    "no Dockerfile": (nothing, [*PLAN, "-f", "Nope.Dockerfile"], 4, "Nope.Dockerfile"),
    "Dockerfile without FROM": (write("Dockerfile", "RUN true\n"), PLAN, 4, "FROM"),
    "Dockerfile, instruction before FROM": (
        write("Dockerfile", "COPY . .\nFROM scratch\n"),
        PLAN,
        4,
        "before the first FROM",
    ),
    "Dockerfile with an unknown instruction": (
        write("Dockerfile", "FROM scratch AS build\nCOMPILE main.c\nFROM scratch\n"),
        PLAN,
        4,
        "Dockerfile:2: unknown instruction COMPILE",
    ),
    "Dockerfile with a heredoc never closed": (
        write("Dockerfile", "FROM scratch\nRUN <<EOF\nmake all\n"),
        PLAN,
        4,
        "line 2 opens a heredoc (<<EOF) that no line `EOF` closes",
    ),
    "unknown build stage": (nothing, [*PLAN, "--build-target", "nope"], 4, "nope"),
    "context that is not a folder": (nothing, [*PLAN, "--context", "main.c"], 4, "context"),
    "context that does not exist": (nothing, [*PLAN, "--context", "gone"], 4, "gone"),
    "project that does not exist": (nothing, [*PLAN, "-C", "{p}/gone"], 4, "does not exist"),
    "project that is a file": (nothing, [*PLAN, "-C", "{p}/main.c"], 4, "main.c"),
    "buildorch.yaml not YAML": (
        write("buildorch.yaml", "targets: [arm64\n"),
        PLAN,
        3,
        "buildorch.yaml",
    ),
    "buildorch.yaml unknown key": (
        write("buildorch.yaml", "tragets: [arm64]\n"),
        PLAN,
        3,
        "targets",
    ),
    "buildorch.yaml wrong type": (write("buildorch.yaml", "targets: 5\n"), PLAN, 3, "targets"),
    "buildorch.yaml unknown strategy": (
        write("buildorch.yaml", "strategy: warp\n"),
        PLAN,
        3,
        "warp",
    ),
    "buildorch.yaml is a list": (write("buildorch.yaml", "- a\n- b\n"), PLAN, 3, "mapping"),
    "buildorch.yaml bad buildx option": (
        write("buildorch.yaml", "buildx: {platform: linux/arm64}\n"),
        PLAN,
        3,
        "--target",
    ),
    "unknown strategy flag": (nothing, [*PLAN, "--strategy", "warp"], 2, "warp"),
    "strategy that cannot apply": (
        nothing,
        [*PLAN, "--target", "arm64", "--strategy", "native"],
        6,
        "native",
    ),
    "snapshot that does not exist": (
        nothing,
        ["plan", "--snapshot", "{p}/no-snapshot"],
        8,
        "no-snapshot",
    ),
    "snapshot that is not one": (
        write("snap/notes.txt", "x"),
        ["plan", "--snapshot", "{p}/snap"],
        8,
        "snapshot",
    ),
    "snapshot with broken host.json": (
        write("snap/host.json", "{not json"),
        ["plan", "--snapshot", "{p}/snap"],
        8,
        "host.json",
    ),
    "refused buildx option": (nothing, [*PLAN, "--platform", "linux/arm64"], 3, "--target"),
    "unknown option": (nothing, [*PLAN, "--frobnicate"], 2, "frobnicate"),
    "build arg without =": (nothing, [*PLAN, "--build-arg", "NOEQUALS"], 3, "NOEQUALS"),
    "push without a tag": (nothing, [*BUILD, "--target", "arm64", "--push"], 3, "--tag"),
    "output onto the project": (nothing, [*BUILD, "-o", "{p}"], 3, "project"),
    "output onto a source file": (nothing, [*BUILD, "-o", "{p}/main.c"], 3, "main.c"),
    "output onto the context's parent": (nothing, [*BUILD, "-o", "{p}/.."], 3, "project"),
    "Dockerfile with a BOM and CRLF": (
        write("Dockerfile.crlf", b"\xef\xbb\xbfFROM scratch\r\nCOPY --from=nope /x /x\r\n"),
        [*PLAN, "-f", "Dockerfile.crlf"],
        0,
        "",
    ),
    "collect outside the project": (
        nothing,
        ["run", "--snapshot", SNAPSHOT, "--dry-run", "--collect", "../..", "--", "true"],
        3,
        "collect",
    ),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "hello-c"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out"))
    return dest


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_refused_clearly(
    case: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare, argv, code, said = CASES[case]
    prepare(project)
    before = tree_hash(project)
    args = [a.replace("{p}", str(project)) for a in argv]
    if "-C" not in args:
        args += ["-C", str(project)]
    try:
        got = main(args, {"PATH": "/usr/bin", "HOME": str(project.parent / "home")})
    except SystemExit as exit_:
        got = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err
    if said:
        # the console wraps long lines (paths too) at the terminal's width
        assert said.replace(" ", "") in "".join(err.split()), err
    if code not in (0, 2):
        assert "fix:" in err or "why:" in err, err
    assert tree_hash(project) == before, "the project is byte-identical afterwards"


# Permissions bind no one as root (tests may run as root): there main() runs in a child that
# drops to this uid, so each case is the one a user meets
NOBODY = 65534


def as_a_user(
    args: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    break_it: Callable[[], None],
) -> tuple[int, str]:
    """main()'s exit code and stderr, run by a user whom file modes bind, once `break_it` has
    taken a permission away."""
    if os.geteuid() != 0:
        break_it()
        code = main(args, env)
        return code, capsys.readouterr().err
    # the child may not read Python's own library (under root's home): what main() imports
    # as it runs, a run before is made to import, on the path that succeeds and on an error's
    main(args, env)
    main(["plan", "--snapshot", SNAPSHOT, "--target", "sparc64"], env)
    capsys.readouterr()
    break_it()
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # never returns: the child must not carry on with the test session
        answer = {"code": -1, "err": ""}
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            answer["code"] = main(args, env)
            answer["err"] = capsys.readouterr().err
        except BaseException:
            answer["err"] = traceback.format_exc()
        finally:
            os.write(writing, json.dumps(answer).encode())
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        answer = json.loads(pipe.read())
    os.waitpid(child, 0)
    return int(answer["code"]), str(answer["err"])


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's own are the runner's alone), with
    hello-c in it and a home of that user's."""
    base = Path(tempfile.mkdtemp(prefix="buildorch-perms-"))
    base.chmod(0o755)
    shutil.copytree(EXAMPLE, base / "hello-c", ignore=shutil.ignore_patterns("out"))
    (base / "home").mkdir()
    if os.geteuid() == 0:
        os.chown(base / "home", NOBODY, NOBODY)
    try:
        yield base
    finally:
        for path in (base, *base.rglob("*")):
            if not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(base)


def test_a_source_file_nobody_may_read_is_refused_before_anything_runs(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = shared / "hello-c"
    before = tree_hash(project)
    code, err = as_a_user(
        [*BUILD, "--target", "amd64", "-C", str(project)],
        {"HOME": str(shared / "home")},
        capsys,
        lambda: (project / "main.c").chmod(0o000),
    )
    assert code == 4, err
    said = " ".join(err.split())
    assert "1 path(s) the build reads cannot be read: main.c" in said
    assert "chmod a+r" in said and ".dockerignore" in said
    assert "Traceback" not in err
    assert stat.S_IMODE((project / "main.c").stat().st_mode) == 0
    (project / "main.c").chmod(0o644)
    assert tree_hash(project) == before, "the project is byte-identical afterwards"


def test_an_output_folder_in_a_read_only_folder_is_refused_before_anything_runs(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = shared / "hello-c"
    locked = shared / "locked"
    locked.mkdir()
    before = tree_hash(project)
    code, err = as_a_user(
        [*BUILD, "--target", "amd64", "-C", str(project), "-o", str(locked / "out")],
        {"HOME": str(shared / "home")},
        capsys,
        lambda: locked.chmod(0o555),
    )
    assert code == 3, err
    said = "".join(err.split())
    assert f"cannotwritetheresultto{locked}/out".replace(" ", "") in said
    assert "Permissiondenied" in said
    assert "Traceback" not in err
    assert list(locked.iterdir()) == []
    assert tree_hash(project) == before, "the project is byte-identical afterwards"
