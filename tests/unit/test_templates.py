"""Choosing a template and `buildorch init`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from buildorch.dockerfile_analysis import analyse_dockerfile
from buildorch.errors import ProjectError
from buildorch.project import project_languages
from buildorch.templates import template_for, write_init


@pytest.mark.parametrize(
    ("files", "template"),
    [
        (["Cargo.toml", "Makefile"], "rust.Dockerfile"),
        (["go.mod"], "go.Dockerfile"),
        (["CMakeLists.txt", "Makefile"], "c-cmake.Dockerfile"),
        (["configure.ac", "Makefile.am"], "c-autotools.Dockerfile"),
        (["Makefile", "main.c"], "c-make.Dockerfile"),
    ],
)
def test_the_build_system_picks_the_template(
    tmp_path: Path, files: list[str], template: str
) -> None:
    for name in files:
        (tmp_path / name).write_text("")
    chosen = template_for(project_languages(tmp_path))
    assert chosen is not None and chosen.name == template
    assert chosen.path.is_file()


def test_init_writes_a_cross_capable_dockerfile_and_config(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("CC ?= cc\n\nhello: main.o\n\t$(CC) -o $@ $^\n")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    written = write_init(tmp_path, project_languages(tmp_path), force=False)
    assert [path.name for path, _ in written] == ["Dockerfile.buildorch", "buildorch.yaml"]
    dockerfile = (tmp_path / "Dockerfile.buildorch").read_text()
    facts = analyse_dockerfile(dockerfile, "Dockerfile.buildorch", None)
    assert facts.cross_capable and facts.emulated_run_steps == 0
    config = yaml.safe_load((tmp_path / "buildorch.yaml").read_text())
    assert config["dockerfile"] == "Dockerfile.buildorch"
    assert config["build_args"] == {"MAKE_ARGS": "hello", "ARTIFACT": "hello"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Dockerfile.buildorch", "Makefile", "buildorch.yaml", "main.c",
    ]  # fmt: skip


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/x\n")
    (tmp_path / "buildorch.yaml").write_text("targets: [arm64]\n")
    with pytest.raises(ProjectError) as failure:
        write_init(tmp_path, project_languages(tmp_path), force=False)
    assert "buildorch.yaml" in failure.value.what and "--force" in failure.value.fix
    assert (tmp_path / "buildorch.yaml").read_text() == "targets: [arm64]\n"
    assert not (tmp_path / "Dockerfile.buildorch").exists()
    write_init(tmp_path, project_languages(tmp_path), force=True)
    assert "Dockerfile.buildorch" in (tmp_path / "buildorch.yaml").read_text()


def test_init_without_a_known_build_system(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("hi\n")
    with pytest.raises(ProjectError) as failure:
        write_init(tmp_path, project_languages(tmp_path), force=False)
    assert failure.value.exit_code == 4
    assert list(tmp_path.iterdir()) == [tmp_path / "README"]
