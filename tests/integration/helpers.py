"""Running the real CLI and checking what it built."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.conftest import TOOLCHAIN

# e_machine values from the ELF header
ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "arm"}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def buildorch(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: int = 600) -> Run:
    """The CLI as users run it: a separate process, its own exit code and streams."""
    result = subprocess.run(
        [sys.executable, "-m", "buildorch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr)


def toolchain_args() -> list[str]:
    return ["--build-arg", f"TOOLCHAIN_IMAGE={TOOLCHAIN}"]


def elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    machine = int.from_bytes(header[18:20], "little")
    return ELF_MACHINES.get(machine, str(machine))


def unmovable_dockerfile(project: Path) -> str:
    """Dockerfile.plain with a compile-stage step that asks which machine it runs on: a
    stage buildorch cannot move to the build machine, so arm64 is built under QEMU."""
    plain = (project / "Dockerfile.plain").read_text()
    marked = plain.replace(
        "RUN make && strip hello", "RUN uname -m > built-on && make && strip hello"
    )
    assert marked != plain
    (project / "Dockerfile.native-only").write_text(marked)
    return "Dockerfile.native-only"
