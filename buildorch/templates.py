"""Cross-capable Dockerfile templates (dockerfiles/): which fits a project, and `init`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from buildorch.errors import ProjectError
from buildorch.fsutil import atomic_write
from buildorch.profiles import shipped

# first match wins: a Rust crate with a Makefile is still built by cargo
_BY_LANGUAGE = (
    ("rust", "rust.Dockerfile", "Cargo.toml: cargo cross-compiles with the target's linker"),
    ("go", "go.Dockerfile", "go.mod: Go cross-compiles with GOOS/GOARCH"),
    ("cmake", "c-cmake.Dockerfile", "CMakeLists.txt: CMake with a cross toolchain file"),
    ("autotools", "c-autotools.Dockerfile", "configure: ./configure --host=<target triple>"),
    ("make", "c-make.Dockerfile", "Makefile: make with the target's cross compilers"),
)

INIT_DOCKERFILE = "Dockerfile.buildorch"
INIT_CONFIG = "buildorch.yaml"


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    path: Path
    why: str
    text: str
    """The Dockerfile it is (a few kB, shipped with buildorch)."""


def template_for(languages: tuple[str, ...]) -> Template | None:
    """The template that builds a project written in these languages, if one does."""
    for language, name, why in _BY_LANGUAGE:
        if language in languages:
            path = Path(str(shipped("dockerfiles") / name))
            return Template(name=name, path=path, why=why, text=path.read_text(encoding="utf-8"))
    return None


def init_files(project_dir: Path, languages: tuple[str, ...]) -> list[tuple[Path, str, str]]:
    """What `buildorch init` would write: (path, text, why) for each file."""
    template = template_for(languages)
    if template is None:
        raise ProjectError(
            f"no template fits the project in {project_dir}",
            why="found none of Cargo.toml, go.mod, CMakeLists.txt, configure(.ac), Makefile",
            fix="write a Dockerfile with a `FROM --platform=$BUILDPLATFORM` compile stage "
            "(see dockerfiles/ for examples)",
        )
    header = (
        f"# Written by `buildorch init` from the {template.name} template, because of\n"
        f"# {template.why}. Edit it freely: buildorch init will not overwrite it without "
        "--force.\n"
    )
    dockerfile = header + template.text
    config = (
        "# buildorch's settings for this project (see `buildorch plan`)\n"
        f"dockerfile: {INIT_DOCKERFILE}\n"
        "targets: [linux/amd64, linux/arm64]\n"
        "output: {dir: out}\n"
    )
    if template.name == "c-make.Dockerfile" and (artifact := _first_make_target(project_dir)):
        config += (
            "# what make builds and the final stage keeps: check it\n"
            f"build_args: {{MAKE_ARGS: {artifact}, ARTIFACT: {artifact}}}\n"
        )
    return [
        (project_dir / INIT_DOCKERFILE, dockerfile, f"cross-capable Dockerfile: {template.why}"),
        (project_dir / INIT_CONFIG, config, "targets, Dockerfile and output for `buildorch build`"),
    ]


def write_init(
    project_dir: Path, languages: tuple[str, ...], *, force: bool
) -> list[tuple[Path, str]]:
    """Write the files of `init`, each atomically; refuse to overwrite unless forced."""
    files = init_files(project_dir, languages)
    existing = [path for path, _, _ in files if path.exists()]
    if existing and not force:
        raise ProjectError(
            "buildorch init would overwrite " + ", ".join(p.name for p in existing),
            why="init never replaces files without being asked",
            fix="move them aside, or pass --force to replace them",
        )
    for path, text, _ in files:
        atomic_write(path, text)
    return [(path, why) for path, _, why in files]


def _first_make_target(project_dir: Path) -> str | None:
    """The Makefile's default goal when it is a file name (`hello: main.o`), else None."""
    makefile = project_dir / "Makefile"
    for line in makefile.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(r"^([A-Za-z0-9_][A-Za-z0-9_.+-]*)\s*:(?!=)", line)
        if match:
            target = match.group(1)
            return None if target in ("all", "default", "build") else target
    return None
