"""Does the emulator registered for a platform work? A program of that architecture, a few
instructions that exit with 42, is run through binfmt_misc as any RUN step's would be.

A registered QEMU is no proof of a working one: versions that crash in `ldconfig` (uncaught
target signal 11: tonistiigi/binfmt#240, #245) or a broken interpreter fail every build. The
answer is cached against the interpreter's identity (path, size, mtime) and its registration's,
so `plan` stays fast.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile
from pathlib import Path

# (ELF class 1/2, byte order "<"/">", e_machine, e_flags, code): each program exits with 42
_PROGRAMS: dict[str, tuple[int, str, int, int, bytes]] = {
    # mov x0, #42; mov x8, #93 (exit); svc #0
    "qemu-aarch64": (2, "<", 183, 0, struct.pack("<3I", 0xD2800540, 0xD2800BA8, 0xD4000001)),
    # mov r0, #42; mov r7, #1 (exit); svc #0 (EABI 5)
    "qemu-arm": (1, "<", 40, 0x05000000, struct.pack("<3I", 0xE3A0002A, 0xE3A07001, 0xEF000000)),
    # li a0, 42; li a7, 93 (exit); ecall
    "qemu-riscv64": (2, "<", 243, 0, struct.pack("<3I", 0x02A00513, 0x05D00893, 0x00000073)),
    # li r3, 42; li r0, 1 (exit); sc (ELFv2)
    "qemu-ppc64le": (2, "<", 21, 2, struct.pack("<3I", 0x3860002A, 0x38000001, 0x44000002)),
    # lghi %r2, 42; svc 1 (exit)
    "qemu-s390x": (2, ">", 22, 0, bytes.fromhex("a729002a0a01")),
    # mov edi, 42; mov eax, 60 (exit); syscall
    "qemu-x86_64": (2, "<", 62, 0, bytes.fromhex("bf2a000000b83c0000000f05")),
    "rosetta": (2, "<", 62, 0, bytes.fromhex("bf2a000000b83c0000000f05")),
    # mov ebx, 42; mov eax, 1 (exit); int 0x80
    "qemu-i386": (1, "<", 3, 0, bytes.fromhex("bb2a000000b801000000cd80")),
}
_EXIT = 42
BINFMT_MISC = "/proc/sys/fs/binfmt_misc"
_TIMEOUT_S = 0.8


def program(entry: str) -> bytes | None:
    """A static ELF executable for the entry's architecture that exits with 42."""
    spec = _PROGRAMS.get(entry)
    if spec is None:
        return None
    elf_class, order, machine, flags, code = spec
    # ELF32 and ELF64 differ in the width of addresses and in where a segment's flags sit
    word, base, header_size, phdr_size = (
        ("I", 0x10000, 52, 32) if elf_class == 1 else ("Q", 0x400000, 64, 56)
    )
    entry_point = base + header_size + phdr_size
    header = struct.pack(
        f"{order}4s5B7xHHI{word}{word}{word}IHHHHHH",
        b"\x7fELF", elf_class, 1 if order == "<" else 2, 1, 0, 0,
        2, machine, 1, entry_point, header_size, 0, flags,
        header_size, phdr_size, 1, 0, 0, 0,
    )  # fmt: skip
    size = header_size + phdr_size + len(code)
    if elf_class == 1:  # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
        phdr = struct.pack(f"{order}8I", 1, 0, base, base, size, size, 5, 0x1000)
    else:  # p_type, p_flags, then the 64-bit fields
        phdr = struct.pack(f"{order}IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + phdr + code


def probe(entry: str, interpreter: str, cache: Path | None) -> str:
    """`version=...` and `works=yes|no|unknown` (with `why=...` when it does not): the record a
    snapshot keeps for the entry."""
    identity = _identity(entry, interpreter)
    cached = _cached(cache, entry, identity)
    if cached is not None:
        return cached
    code = program(entry)
    asked = _version_through_binfmt(code) if code is not None and entry != "rosetta" else None
    lines = [f"version={asked or _version(interpreter)}"]
    if code is None:
        lines.append("works=unknown")
    else:
        works, why = _run(code)
        lines.append(f"works={'yes' if works else 'no'}")
        if why:
            lines.append(f"why={why}")
    record = "\n".join(lines) + "\n"
    _remember(cache, entry, identity, record)
    return record


def _identity(entry: str, interpreter: str) -> str:
    """The interpreter's file, and the registration itself: binfmt_misc makes a new inode for
    each, so an emulator registered again (tonistiigi/binfmt's image, whose interpreter path
    exists only inside it) is asked again."""
    found = []
    for path in (interpreter, f"{BINFMT_MISC}/{entry}"):
        try:
            st = Path(path).stat()
        except OSError:
            found.append(f"{path}:missing")
            continue
        found.append(f"{path}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(found)


def _version(interpreter: str) -> str:
    if not interpreter:
        return "unknown"
    # Debian registers a wrapper (aarch64-binfmt-P) that links to the emulator itself
    real = os.path.realpath(interpreter)
    try:
        result = subprocess.run(
            [real, "--version"], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].strip() if first else "unknown"


def _version_through_binfmt(code: bytes) -> str | None:
    """The version of the emulator the kernel runs, asked through binfmt_misc (QEMU reads
    QEMU_VERSION as its -version option). With the F flag the kernel keeps the file it opened
    at registration: tonistiigi/binfmt's image registers a path that exists only inside that
    image, and a distribution's qemu at the same path may be another release altogether."""
    ran = _execute(code, {"QEMU_VERSION": "1"})  # nothing else: no QEMU_* of the user's
    if isinstance(ran, str) or ran.returncode != 0:
        return None
    first = ran.stdout.decode(errors="replace").strip().splitlines()
    return first[0].strip() if first and " version " in first[0] else None


def _execute(code: bytes, env: dict[str, str] | None) -> subprocess.CompletedProcess[bytes] | str:
    """Run the program through binfmt_misc: what it did, or why it could not run."""
    with tempfile.TemporaryDirectory(prefix="buildorch-emulator-") as folder:
        path = Path(folder) / "probe"
        path.write_bytes(code)
        path.chmod(0o755)
        try:
            return subprocess.run(
                [str(path)], capture_output=True, timeout=_TIMEOUT_S, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            return f"no answer within {_TIMEOUT_S} s"
        except OSError as exc:
            return f"cannot run: {exc.strerror}"


def _run(code: bytes) -> tuple[bool, str]:
    """Run the program through binfmt_misc: (it exited with 42, what happened otherwise)."""
    result = _execute(code, None)
    if isinstance(result, str):
        return False, result
    if result.returncode == _EXIT:
        return True, ""
    said = (result.stderr or b"").decode(errors="replace").strip().splitlines()
    code_said = (
        f"killed by signal {-result.returncode}"
        if result.returncode < 0
        else f"exit {result.returncode}"
    )
    return False, code_said + (f": {said[-1]}" if said else "")


def _cached(cache: Path | None, entry: str, identity: str) -> str | None:
    if cache is None:
        return None
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = known.get(entry) if isinstance(known, dict) else None
    if isinstance(found, dict) and found.get("identity") == identity:
        record = found.get("record")
        return record if isinstance(record, str) else None
    return None


def _remember(cache: Path | None, entry: str, identity: str, record: str) -> None:
    # only into a cache folder whose home exists (never create a home that is not there)
    if cache is None or not cache.parent.parent.is_dir():
        return
    from buildorch.fsutil import atomic_write
    from buildorch.workspace import private

    private(cache.parent)
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    known[entry] = {"identity": identity, "record": record}
    try:
        atomic_write(cache, json.dumps(known, indent=1, sort_keys=True))
    except OSError:
        return


def parse(record: str | None) -> tuple[str | None, bool | None, str]:
    """(version, works: None when not checked, why it does not)."""
    if record is None:
        return None, None, ""
    fields = dict(line.split("=", 1) for line in record.splitlines() if "=" in line)
    works = {"yes": True, "no": False}.get(fields.get("works", ""))
    version = fields.get("version")
    return (None if version in (None, "unknown") else version), works, fields.get("why", "")
