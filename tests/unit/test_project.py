"""Reading the project: its languages, its context, and which Dockerfile is built."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from buildorch.errors import ProjectError
from buildorch.project import read_project
from buildorch.template_choice import choose_dockerfile
from buildorch.templates import template_for

PLAIN = """
FROM rust:1.80
WORKDIR /src
COPY . .
RUN cargo build --release
"""


def test_read_project_languages_and_context(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(PLAIN)
    (tmp_path / "Cargo.toml").write_text("[package]\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text("fn main() {}\n")
    (tmp_path / "target" / "debug").mkdir(parents=True)
    (tmp_path / "target" / "debug" / "big").write_bytes(b"x" * 10_000)
    (tmp_path / ".dockerignore").write_text("target\n")
    facts = read_project(tmp_path, dockerfile=None, context=".", build_target=None)
    assert facts.languages == ("rust",)
    assert facts.context_files == 4  # Dockerfile, Cargo.toml, src/main.rs, .dockerignore
    assert facts.context_bytes < 10_000


def test_read_project_without_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as failure:
        read_project(tmp_path, dockerfile=None, context=".", build_target=None)
    assert failure.value.exit_code == 4
    assert "no Dockerfile at" in failure.value.what
    assert "buildorch init" in failure.value.fix


def test_project_without_dockerfile_gets_the_template_that_fits(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.19\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    facts = read_project(tmp_path, dockerfile=None, context=".", build_target=None)
    assert facts.template is not None and "go.Dockerfile template" in facts.template
    assert facts.dockerfile is not None and facts.dockerfile.cross_capable
    # a Dockerfile named on purpose is never replaced by a template
    with pytest.raises(ProjectError):
        read_project(tmp_path, dockerfile="Dockerfile.release", context=".", build_target=None)


def test_use_template_replaces_a_dockerfile_that_cannot_cross(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("app: main.c\n\tcc -o app main.c\n")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / "Dockerfile").write_text(PLAIN)
    plain = read_project(tmp_path, dockerfile=None, context=".", build_target=None)
    assert plain.dockerfile is not None and not plain.dockerfile.cross_capable
    assert plain.template_hint == "c-make.Dockerfile"
    assert plain.template is None
    swapped = read_project(
        tmp_path, dockerfile=None, context=".", build_target=None, use_template=True
    )
    assert swapped.dockerfile is not None and swapped.dockerfile.cross_capable
    assert swapped.template is not None and "instead, as asked" in swapped.template


def test_the_template_choice_is_made_from_facts_alone() -> None:
    template = template_for(("make",))
    assert template is not None
    path = PurePosixPath("/p/Dockerfile")  # the same text on every system
    own = choose_dockerfile(
        path, PLAIN, template, named=False, build_target=None, use_template=False
    )
    assert own.dockerfile.path == "/p/Dockerfile" and own.template_hint == "c-make.Dockerfile"
    # a stage asked for by name is the project's: the template is not swapped in
    kept = choose_dockerfile(
        path, PLAIN + "FROM scratch AS out\n", template,
        named=False, build_target="out", use_template=True,
    )  # fmt: skip
    assert kept.dockerfile.path == "/p/Dockerfile" and kept.template is None
    with pytest.raises(ProjectError) as failure:
        choose_dockerfile(path, None, None, named=False, build_target=None, use_template=False)
    assert "no template fits" in failure.value.why
    with pytest.raises(ProjectError) as failure:
        choose_dockerfile(path, None, template, named=True, build_target=None, use_template=True)
    assert "no template fits" not in failure.value.why


MESON_BUILD = """\
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc meson ninja-build
WORKDIR /src
COPY . .
RUN meson setup out --prefix=/usr/local && meson install -C out
FROM debian:bookworm-slim
COPY --from=build /usr/local /usr/local
"""


def test_a_meson_project_that_asks_whether_it_cross_compiles_keeps_its_stage(
    tmp_path: Path,
) -> None:
    # meson.is_cross_build() makes a build choose what it makes: gdk-pixbuf leaves out its
    # thumbnailer when it cross-compiles
    (tmp_path / "Dockerfile").write_text(MESON_BUILD)
    (tmp_path / "meson.build").write_text(
        "project('p', 'c')\n# is meson.is_cross_build() here? a comment\n"
        "if not meson.is_cross_build()\n  subdir('thumbnailer')\nendif\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "meson.build").write_text("if meson.is_cross_build()\nendif\n")
    facts = read_project(tmp_path, dockerfile=None, context=".", build_target=None).dockerfile
    assert facts is not None and facts.derivation is not None
    derivation = facts.derivation
    (build, _) = derivation.stages
    assert not build.moves
    assert build.why.startswith("the project's meson.build:3 asks meson.is_cross_build()")
    # in its tests only, or in a project whose Dockerfile runs no meson, it changes nothing
    (tmp_path / "meson.build").write_text("project('p', 'c')\n")
    again = read_project(tmp_path, dockerfile=None, context=".", build_target=None).dockerfile
    assert again is not None and again.derivation is not None
    assert again.derivation.stages[0].moves
