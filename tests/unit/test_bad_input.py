"""Bad input, each case on its own: a clear message (what, why, what to do), its exit code,
no traceback, and the project byte-identical afterwards. Recorded hosts stand in for the
engine, so what is refused is refused before anything runs."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
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
