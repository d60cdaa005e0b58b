"""Which machine an ELF file is built for, read from its header: the check that a cross build
made the target's programs and libraries, not the build machine's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, NamedTuple

from buildorch.platforms import Platform

# e_machine of each architecture buildorch cross-compiles for, and its ELF class (1: 32-bit)
MACHINES: dict[str, tuple[int, int]] = {
    "amd64": (62, 2),
    "arm64": (183, 2),
    "arm": (40, 1),
    "386": (3, 1),
    "riscv64": (243, 2),
    "ppc64le": (21, 2),
    "s390x": (22, 2),
}
_NAMES = {62: "x86-64", 183: "aarch64", 40: "arm", 3: "i386", 243: "riscv", 21: "ppc64", 22: "s390"}
# processors' machines: an ELF file of another kind (an eBPF object, 247) runs on none of them
_PROCESSORS = frozenset({2, 3, 8, 20, 21, 22, 40, 62, 183, 243, 258})


class ElfHeader(NamedTuple):
    machine: int
    elf_class: int

    @property
    def name(self) -> str:
        bits = "64" if self.elf_class == 2 else "32"
        return f"{_NAMES.get(self.machine, f'machine {self.machine}')} ({bits}-bit)"


class WrongFile(NamedTuple):
    path: str
    """Relative to the folder checked."""
    found: ElfHeader


def read_header(path: Path) -> ElfHeader | None:
    """The header of an ELF file; None for any other file."""
    try:
        with path.open("rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
    return ElfHeader(machine=int.from_bytes(head[18:20], order), elf_class=head[4])


def wrong_files(root: Path, platform: Platform) -> tuple[tuple[WrongFile, ...], int]:
    """The ELF files under `root` not built for `platform`, and how many ELF files there are.
    Symbolic links are not followed (they point into the same tree, or outside it)."""
    expected = MACHINES.get(platform.arch)
    if expected is None:
        return (), 0
    wrong: list[WrongFile] = []
    count = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            header = read_header(path)
            if header is None:
                continue
            count += 1
            if header.machine in _PROCESSORS and (header.machine, header.elf_class) != expected:
                wrong.append(WrongFile(str(path.relative_to(root)), header))
    return tuple(wrong), count
