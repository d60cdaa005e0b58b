"""Running the real CLI and checking what it built."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
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


def started(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """The CLI in a session of its own (a terminal's Ctrl-C reaches the whole group), its
    output and errors in one stream."""
    return subprocess.Popen(
        [sys.executable, "-m", "buildorch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def read_until(proc: subprocess.Popen[str], wanted: str, seen: list[str]) -> str:
    """Read `proc`'s lines into `seen` until one holds `wanted`; returns that line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if wanted in line:
            return line
    raise AssertionError(f"never printed {wanted!r}:\n{''.join(seen)}")


def mount_slow(
    slowfs: Path, source: Path, mount: Path, delay_us: int = 100
) -> subprocess.Popen[bytes]:
    """`source` seen through slowfs at `mount`; returns the process serving it (stopping it
    holds every request on the share until it is continued)."""
    mount.mkdir()
    served = subprocess.Popen(
        [str(slowfs), str(source), str(mount), "-f", "-o", f"delay_us={delay_us},fsname=slowfs"]
    )
    for _ in range(100):
        if mount.is_mount():
            return served
        assert served.poll() is None, "slowfs exited before it mounted"
        time.sleep(0.05)
    raise AssertionError(f"slowfs did not mount {mount}")


def unmount(mount: Path, served: subprocess.Popen[bytes]) -> None:
    for _ in range(50):
        if subprocess.run(["fusermount3", "-u", str(mount)], check=False).returncode == 0:
            break
        time.sleep(0.2)
    served.wait(timeout=30)


def fingerprint(root: Path) -> dict[str, str]:
    """Mode, content and (for a file) mtime of every entry."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_file():
            body = f"{st.st_mtime_ns} {hashlib.sha256(path.read_bytes()).hexdigest()}"
        else:
            body = "-"
        found[path.relative_to(root).as_posix()] = f"{st.st_mode:o} {body}"
    return found
