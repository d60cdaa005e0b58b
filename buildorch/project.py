"""Reading the project: the languages it is written in, its Dockerfile, its context.

The Dockerfile's analysis (dockerfile.py) and the context survey (context.py) are modules of
their own; which Dockerfile is built (the project's or a template) is template_choice.py's.
"""

from __future__ import annotations

import re
from pathlib import Path

from buildorch.context import HEAVY_NAMES, survey_context
from buildorch.errors import ProjectError
from buildorch.facts import ProjectFacts
from buildorch.template_choice import choose_dockerfile
from buildorch.templates import template_for
from buildorch.tree import walk_tree

_MANIFESTS = {
    "Cargo.toml": "rust",
    "go.mod": "go",
    "CMakeLists.txt": "cmake",
    "configure": "autotools",
    "configure.ac": "autotools",
    "Makefile": "make",
    "package.json": "node",
    "pyproject.toml": "python",
    "setup.py": "python",
}
_C_SUFFIXES = {".c", ".cc", ".cpp", ".cxx", ".h", ".hpp"}
_MESON_CROSS_BRANCH = re.compile(r"\bmeson\s*\.\s*is_cross_build\s*\(")


def read_project(
    project_dir: Path,
    *,
    dockerfile: str | None,
    context: str,
    build_target: str | None,
    use_template: bool = False,
    build_args: tuple[tuple[str, str], ...] = (),
) -> ProjectFacts:
    """Facts about the project on this machine. Reads only; never writes."""
    if not project_dir.is_dir():
        raise ProjectError(
            f"the project directory {project_dir} does not exist",
            fix="pass -C with the project's directory",
        )
    context_dir = (project_dir / context).resolve()
    if not context_dir.is_dir():
        raise ProjectError(
            f"the build context {context_dir} is not a directory",
            fix="set --context (or `context:` in buildorch.yaml) relative to the project",
        )
    languages = project_languages(project_dir)
    path = (project_dir / (dockerfile or "Dockerfile")).resolve()
    # a byte-order mark (as some Windows editors write one) is not part of the text
    text = path.read_text(encoding="utf-8-sig") if path.is_file() else None
    choice = choose_dockerfile(
        path,
        text,
        template_for(languages),
        named=dockerfile is not None,
        build_target=build_target,
        use_template=use_template,
        build_args=build_args,
        meson_cross_branches=meson_cross_branches(context_dir, text),
    )
    facts = choice.dockerfile
    survey = survey_context(context_dir, Path(facts.path), facts.context_reads)
    return ProjectFacts(
        dir=str(project_dir),
        context=str(context_dir),
        dockerfile=facts,
        languages=languages,
        template=choice.template,
        template_hint=choice.template_hint,
        context_files=survey.files,
        context_bytes=survey.bytes,
        context_walk_seconds=survey.seconds,
        heavy=survey.heavy,
        special_files=survey.special,
        listing=survey.listing,
    )


def project_languages(project_dir: Path) -> tuple[str, ...]:
    """Languages and build systems, from the manifests at the project's top."""
    found = [lang for manifest, lang in _MANIFESTS.items() if (project_dir / manifest).is_file()]
    for folder in (project_dir, project_dir / "src"):
        if folder.is_dir() and any(p.suffix in _C_SUFFIXES for p in folder.iterdir()):
            found.append("c")
            break
    return tuple(dict.fromkeys(found))


def meson_cross_branches(context_dir: Path, dockerfile: str | None) -> tuple[str, ...]:
    """Where the meson.build files of a project whose Dockerfile runs meson ask
    `meson.is_cross_build()` (`meson.build:372`), outside its tests: a cross build of it
    builds what its authors chose for one, not what a native build makes."""
    if dockerfile is None or "meson" not in dockerfile:
        return ()

    def keep(relative: str, is_dir: bool) -> bool:
        name = relative.rsplit("/", 1)[-1]
        if is_dir:
            return not name.startswith(".") and name not in (*HEAVY_NAMES, "test", "tests")
        return name == "meson.build"

    found: list[str] = []
    listing, _, _ = walk_tree(context_dir, keep)
    for relative, entry in sorted(listing.items()):
        if entry.kind != "file":
            continue
        try:
            lines = (context_dir / relative).read_text(errors="replace").splitlines()
        except OSError:
            continue  # the context survey names what the build cannot read
        found += [
            f"{relative}:{number}"
            for number, line in enumerate(lines, 1)
            if _MESON_CROSS_BRANCH.search(line.split("#", 1)[0])
        ]
    return tuple(found)
