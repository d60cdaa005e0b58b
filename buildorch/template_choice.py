"""Which Dockerfile a build uses: the project's own, or a cross-capable template. Pure.

Decided before the context is surveyed, since the survey walks only what the chosen
Dockerfile reads: `read_project` calls it between reading the files and walking the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from buildorch.dockerfile_analysis import analyse_dockerfile
from buildorch.errors import ProjectError
from buildorch.facts import DockerfileFacts
from buildorch.templates import Template


@dataclass(frozen=True, kw_only=True, slots=True)
class DockerfileChoice:
    dockerfile: DockerfileFacts
    """The Dockerfile that is built, analysed."""
    template: str | None = None
    """Why a template is built instead of the project's Dockerfile, when one is."""
    template_hint: str | None = None
    """A template that would cross-compile a project whose Dockerfile cannot."""


def choose_dockerfile(
    path: PurePath,
    text: str | None,
    template: Template | None,
    *,
    named: bool,
    build_target: str | None,
    use_template: bool,
    build_args: tuple[tuple[str, str], ...] = (),
    meson_cross_branches: tuple[str, ...] = (),
) -> DockerfileChoice:
    """The project's Dockerfile at `path` (`text` None: there is none), or the `template`
    that fits the project: when the project has no Dockerfile and did not name one, or when
    its Dockerfile cannot cross-compile and `use_template` asks for the template."""
    if text is None:
        if template is None or named:
            raise ProjectError(
                f"no Dockerfile at {path}",
                why="buildorch builds what a Dockerfile describes"
                + ("" if named else ", and no template fits this project"),
                fix="write one (`buildorch init` writes a cross-capable one for make, CMake, "
                "autotools, Go and Rust projects; templates in dockerfiles/), or pass -f/--file "
                "with the Dockerfile's path relative to the project",
            )
        return DockerfileChoice(
            dockerfile=analyse_dockerfile(template.text, str(template.path), build_target),
            template=f"the project has no Dockerfile: building it with the {template.name} "
            "template",
        )
    own = analyse_dockerfile(text, str(path), build_target, build_args, meson_cross_branches)
    if own.cross_capable or template is None:
        return DockerfileChoice(dockerfile=own)
    if use_template and build_target is None:
        return DockerfileChoice(
            dockerfile=analyse_dockerfile(template.text, str(template.path), None),
            template=f"{path.name} compiles on the target platform: building with the "
            f"{template.name} template instead, as asked (use_template)",
        )
    return DockerfileChoice(dockerfile=own, template_hint=template.name)
