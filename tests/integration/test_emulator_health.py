"""A faulty emulator in the test bed: the s390x entry of binfmt_misc is replaced, for one
test, by a static program that runs doctor's tiny probe but dies under anything else as a
faulty QEMU does (`qemu: uncaught target signal 11`, tonistiigi/binfmt#240). doctor still
finds it working (the fault shows only under real steps), and the build that meets it is
reported as the emulator's failure, exit 13, not the project's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildorch.detect import emulator_probe
from buildorch.detect.emulator_probe import program
from tests.integration.conftest import Engine
from tests.integration.helpers import buildorch

BINFMT = Path("/proc/sys/fs/binfmt_misc")
ENTRY = "qemu-s390x"
CRASHING_C = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    /* binfmt_misc with the P flag passes: interpreter, full path, argv[0], args */
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (n >= 6 && strcmp(argv[i] + n - 6, "/probe") == 0) return 42;
    }
    fputs("qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n", stderr);
    return 139;
}
"""


def _field(text: str, name: str) -> str:
    return next(
        line.split(name, 1)[1].strip() for line in text.splitlines() if line.startswith(name)
    )


def _register(text: str, interpreter: str, flags: str) -> None:
    def escaped(hex_text: str) -> str:
        return "".join(f"\\x{hex_text[i : i + 2]}" for i in range(0, len(hex_text), 2))

    magic, mask = escaped(_field(text, "magic ")), escaped(_field(text, "mask "))
    line = f":{ENTRY}:M:{_field(text, 'offset ')}:{magic}:{mask}:{interpreter}:{flags}"
    (BINFMT / "register").write_text(line)


@pytest.fixture
def faulty_s390x(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    entry = BINFMT / ENTRY
    if not entry.exists():
        pytest.fail(f"{entry} is not registered: scripts/provision-engine.sh registers QEMU")
    original = entry.read_text()
    folder = tmp_path_factory.mktemp("emulator")
    (folder / "faulty.c").write_text(CRASHING_C)
    subprocess.run(
        ["gcc", "-static", "-O1", "-o", str(folder / "faulty"), str(folder / "faulty.c")],
        check=True,
    )
    entry.write_text("-1")
    try:
        _register(original, str(folder / "faulty"), "PF")
        yield
    finally:
        if entry.exists():
            entry.write_text("-1")
        _register(original, _field(original, "interpreter "), _field(original, "flags:"))


def test_a_faulty_emulator_is_named_as_the_cause_of_the_failure(
    faulty_s390x: None, classic: Engine, tmp_path: Path
) -> None:
    env = classic.env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    doctor = buildorch("doctor", "--json", env=env)
    assert doctor.code == 0, doctor.err
    emulators = json.loads(doctor.out)["emulators"]
    assert emulators["linux/s390x"]["works"] is True
    # an s390x image whose shell is a tiny s390x program: every RUN goes through the emulator
    project = tmp_path / "p"
    project.mkdir()
    shell = program(ENTRY)
    assert shell is not None
    (project / "sh").write_bytes(shell)
    (project / "sh").chmod(0o755)
    (project / "Dockerfile").write_text("FROM scratch\nCOPY sh /bin/sh\nRUN ldconfig\n")
    built = buildorch(
        "build", "-C", str(project), "--target", "linux/s390x", "-o", str(tmp_path / "out"),
        env=env,
    )  # fmt: skip
    assert built.code == 13, built.err
    said = " ".join(built.err.split())
    assert "failed in the emulator, not in the project" in said
    assert "qemu: uncaught target signal 11" in said and "RUN ldconfig" in said
    assert "Traceback" not in built.err
    assert not (tmp_path / "out").exists()


def test_the_real_emulator_is_back_afterwards() -> None:
    text = (BINFMT / ENTRY).read_text()
    assert "qemu" in _field(text, "interpreter ") and "F" in _field(text, "flags:")


def test_the_version_is_asked_of_the_registered_emulator_not_of_a_path(tmp_path: Path) -> None:
    entry = BINFMT / "qemu-aarch64"
    if not entry.exists():
        pytest.fail(f"{entry} is not registered: scripts/provision-engine.sh registers QEMU")
    # a path that does not exist, as tonistiigi/binfmt's image registers (/usr/bin inside it)
    record = emulator_probe.probe("qemu-aarch64", str(tmp_path / "qemu-aarch64"), None)
    version, works, _ = emulator_probe.parse(record)
    assert works is True
    assert version is not None and version.startswith("qemu-aarch64 version ")
