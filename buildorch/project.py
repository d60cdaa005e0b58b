"""Reading the project: its Dockerfile's stages, the languages it is written in, its context.

What matters to the planner is where each stage runs: a stage `FROM --platform=$BUILDPLATFORM`
runs on the machine doing the build whatever the target (never emulated), and if it also
reads $TARGETARCH it cross-compiles. RUN steps of the other stages that the target stage
reaches run on the target platform, under an emulator when the target is foreign.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import posixpath
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from buildorch.errors import ProjectError
from buildorch.facts import DockerfileFacts, HeavyTree, ProjectFacts, StageFacts
from buildorch.templates import template_for
from buildorch.tree import Entry, walk

_BUILD_PLATFORM = re.compile(r"^\$\{?BUILDPLATFORM\}?$")
_TARGET_ARGS = re.compile(r"\$\{?TARGET(PLATFORM|ARCH|OS|VARIANT)\b")
_TARGET_ARG_DECL = re.compile(r"^TARGET(PLATFORM|ARCH|OS|VARIANT)\b")

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


def read_project(
    project_dir: Path,
    *,
    dockerfile: str | None,
    context: str,
    build_target: str | None,
    use_template: bool = False,
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
    fitting = template_for(languages)
    path = (project_dir / (dockerfile or "Dockerfile")).resolve()
    used: str | None = None
    if not path.is_file():
        # with no Dockerfile of its own, a project buildorch knows gets a cross-capable template
        template = fitting if dockerfile is None else None
        if template is None:
            raise ProjectError(
                f"no Dockerfile at {path}",
                why="buildorch builds what a Dockerfile describes, and no template fits "
                "this project"
                if dockerfile is None
                else "buildorch builds what a Dockerfile describes",
                fix="write one (`buildorch init` writes a cross-capable one for make, CMake, "
                "autotools, Go and Rust projects; templates in dockerfiles/), or pass -f/--file "
                "with the Dockerfile's path relative to the project",
            )
        path = template.path
        used = f"the project has no Dockerfile: building it with the {template.name} template"
    facts = analyse_dockerfile(path.read_text(encoding="utf-8"), str(path), build_target)
    hint = None
    if not facts.cross_capable and fitting is not None and used is None:
        if use_template and build_target is None:
            facts = analyse_dockerfile(
                fitting.path.read_text(encoding="utf-8"), str(fitting.path), None
            )
            used = (
                f"{path.name} compiles on the target platform: building with the "
                f"{fitting.name} template instead, as asked (use_template)"
            )
        else:
            hint = fitting.name
    survey = survey_context(context_dir, Path(facts.path), facts.context_reads)
    return ProjectFacts(
        dir=str(project_dir),
        context=str(context_dir),
        dockerfile=facts,
        languages=languages,
        template=used,
        template_hint=hint,
        context_files=survey.files,
        context_bytes=survey.bytes,
        context_walk_seconds=survey.seconds,
        heavy=survey.heavy,
        listing=survey.listing,
    )


def analyse_dockerfile(text: str, path: str, build_target: str | None) -> DockerfileFacts:
    """Stages, where each runs, and what that means for foreign targets. Pure."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    try:
        structure = parser.structure
    except Exception as exc:  # dockerfile-parse raises bare errors on broken input
        raise ProjectError(f"cannot read {path}", why=str(exc), fix="fix the Dockerfile") from exc
    findings: list[str] = []
    if re.match(r"^\s*#\s*syntax\s*=", text, re.IGNORECASE):
        findings.append(
            "a `# syntax=` line makes BuildKit pull a frontend image before every build"
        )
    stages, names = _read_stages(structure, path)
    target = len(stages) - 1
    if build_target is not None:
        if build_target.lower() not in names:
            raise ProjectError(
                f"no stage `{build_target}` in {path}",
                why="stages: " + (", ".join(s.name for s in stages if s.name) or "(none named)"),
                fix="pass --build-target with one of those",
            )
        target = names[build_target.lower()]

    reached = _reached(stages, target)
    cross = False
    emulated = 0
    for stage in stages:
        if stage.index not in reached:
            continue
        label = f"`{stage.name}`" if stage.name else str(stage.index)
        if stage.on_build_platform:
            if stage.uses_target_args:
                cross = True
                findings.append(
                    f"stage {label} compiles on $BUILDPLATFORM for $TARGETARCH: "
                    "cross-compiling, no emulation"
                )
        elif stage.run_steps:
            emulated += stage.run_steps
            findings.append(
                f"{stage.run_steps} RUN step(s) in stage {label} run on the target platform: "
                "emulated for a foreign target"
            )
    for stage in stages:
        if stage.index in reached and stage.uses_target_args:
            findings.extend(_colliding_mounts(structure, stage))
    findings.extend(_copies_from_stage_tops(structure, stages, names, reached))
    return DockerfileFacts(
        path=path,
        stages=tuple(stages),
        target_stage=target,
        cross_capable=cross,
        emulated_run_steps=emulated,
        findings=tuple(findings),
        context_reads=_context_reads(structure, reached),
        cache_mounts=_reached_cache_mounts(structure, reached),
    )


def _copies_from_stage_tops(
    structure: list[dict[str, Any]],
    stages: list[StageFacts],
    names: dict[str, int],
    reached: set[int],
) -> list[str]:
    """`COPY --from=STAGE /out/ ...` of a path at the top of a stage that runs steps.

    BuildKit checksums what a COPY takes from a stage by walking the path's parent folder,
    once for each new snapshot of the stage (its contenthash `scanPath`). For `/out/` that
    parent is `/`: the whole image the stage is built on, walked on every rebuild of it."""
    findings = []
    for stage, kind, value in _by_stage(structure):
        if kind != "COPY" or stage not in reached:
            continue
        flags, paths = _copy_arguments(value)
        source = flags.get("from", "")
        index = names.get(source.lower(), int(source) if source.isdigit() else None)
        if index is None or index >= len(stages) or not stages[index].run_steps:
            continue
        for path in paths[:-1]:
            top = posixpath.normpath(posixpath.join("/", path))
            if top != "/" and posixpath.dirname(top) == "/" and "$" not in path:
                findings.append(
                    f"`COPY --from={source} {path}` takes a path at the top of that stage: "
                    "BuildKit checksums it by walking the stage's whole file system after "
                    "every rebuild of the stage (0.5 to 0.9 s with a 2 GB toolchain image); "
                    "one folder down (`/out/dist/`) only that folder is walked"
                )
    return findings


def _copy_arguments(value: str) -> tuple[dict[str, str], list[str]]:
    """The flags and paths of a COPY or ADD: `--from=build /out/ /` -> {from: build},
    [/out/, /]; the paths may be a JSON list after the flags (`--chown=1 ["a", "/b/"]`)."""
    flags: dict[str, str] = {}
    rest = value.strip()
    while flag := re.match(r"--([\w-]+)(?:=(\S*))?\s*", rest):
        flags[flag.group(1).lower()] = flag.group(2) or ""
        rest = rest[flag.end() :]
    return flags, _words(rest)


def _reached_cache_mounts(
    structure: list[dict[str, object]], reached: set[int]
) -> tuple[tuple[str, str], ...]:
    """(id, target) of the cache mounts of the stages that are built, each once."""
    found: dict[tuple[str, str], None] = {}
    for stage, kind, value in _by_stage(structure):
        if kind == "RUN" and stage in reached:
            found.update(dict.fromkeys(_cache_mounts(value)))
    return tuple(found)


def _by_stage(structure: list[dict[str, Any]]) -> Iterator[tuple[int, str, str]]:
    """(stage index, instruction, value) of each instruction; -1 before the first FROM."""
    stage = -1
    for instruction in structure:
        if instruction["instruction"] == "FROM":
            stage += 1
        yield stage, str(instruction["instruction"]), str(instruction["value"])


def _mounts(value: str) -> list[dict[str, str]]:
    """The options of each `--mount=` of a RUN instruction (`type=cache,target=/x`)."""
    return [
        dict(item.partition("=")[::2] for item in mount.split(","))
        for mount in re.findall(r"--mount=(\S+)", value)
    ]


def _read_stages(
    structure: list[dict[str, Any]], path: str
) -> tuple[list[StageFacts], dict[str, int]]:
    """The stages in order, and the index of each named one (names are case-insensitive)."""
    stages: list[StageFacts] = []
    names: dict[str, int] = {}
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            stages.append(_stage(current, stages))

    for instruction in structure:
        kind = instruction["instruction"]
        value = instruction["value"]
        line = instruction["startline"] + 1
        if kind == "FROM":
            close()
            platform, base, name = _parse_from(value, path, line)
            depends = (names[base.lower()],) if base.lower() in names else ()
            current = {
                "index": len(stages),
                "name": name,
                "base": base,
                "platform": platform,
                "runs": 0,
                "targets": bool(_TARGET_ARGS.search(value)),
                "depends": list(depends),
            }
            if name:
                names[name.lower()] = len(stages)
            continue
        if current is None:
            if kind not in ("ARG", "COMMENT"):
                raise ProjectError(
                    f"{path}:{line}: {kind} before the first FROM",
                    fix="start the Dockerfile with FROM (only ARG may come before it)",
                )
            continue
        if kind == "RUN":
            current["runs"] = int(str(current["runs"])) + 1
        if kind in ("RUN", "ENV", "COPY", "ADD") and _TARGET_ARGS.search(value):
            current["targets"] = True
        if kind == "ARG" and _TARGET_ARG_DECL.match(value.strip()):
            current["targets"] = True
        if kind in ("COPY", "ADD", "RUN"):
            for source in _stage_references(value):
                index = names.get(source.lower())
                if index is None and source.isdigit() and int(source) < len(stages):
                    index = int(source)
                if index is not None:
                    _as_list(current["depends"]).append(index)
    close()
    if not stages:
        raise ProjectError(
            f"{path} has no FROM instruction", fix="a Dockerfile starts with FROM IMAGE"
        )
    return stages, names


def _as_list(value: object) -> list[object]:
    assert isinstance(value, list)
    return value


def _stage(raw: dict[str, object], earlier: list[StageFacts]) -> StageFacts:
    platform = raw["platform"]
    assert platform is None or isinstance(platform, str)
    depends = tuple(sorted({int(str(d)) for d in _as_list(raw["depends"])}))
    on_build = bool(platform and _BUILD_PLATFORM.match(platform))
    base = str(raw["base"])
    if platform is None:
        # a stage built on an earlier stage runs where that stage runs
        parent = next((s for s in earlier if s.name and s.name.lower() == base.lower()), None)
        on_build = parent.on_build_platform if parent is not None else False
    return StageFacts(
        index=int(str(raw["index"])),
        name=raw["name"] if isinstance(raw["name"], str) else None,
        base=base,
        platform=platform,
        on_build_platform=on_build,
        run_steps=int(str(raw["runs"])),
        uses_target_args=bool(raw["targets"]),
        depends_on=depends,
    )


def _parse_from(value: str, path: str, line: int) -> tuple[str | None, str, str | None]:
    words = value.split()
    platform = None
    rest = []
    for word in words:
        if word.startswith("--platform="):
            platform = word.removeprefix("--platform=")
        elif not word.startswith("--"):
            rest.append(word)
    if not rest:
        raise ProjectError(
            f"{path}:{line}: FROM without an image", fix="write FROM IMAGE [AS NAME]"
        )
    name = rest[2] if len(rest) >= 3 and rest[1].lower() == "as" else None
    return platform, rest[0], name


def _stage_references(value: str) -> list[str]:
    found = re.findall(r"--from=([^\s]+)", value)
    return found + [options["from"] for options in _mounts(value) if "from" in options]


def _cache_mounts(value: str) -> list[tuple[str, str]]:
    """(id, target) of each `--mount=type=cache` in a RUN instruction."""
    mounts = []
    for fields in _mounts(value):
        if fields.get("type") == "cache":
            target = fields.get("target") or fields.get("dst") or fields.get("destination", "")
            mounts.append((fields.get("id", ""), target))
    return mounts


def _colliding_mounts(structure: list[dict[str, object]], stage: StageFacts) -> list[str]:
    """Cache mounts of a stage building for the target that every platform would share.

    A mount is kept apart per platform when the command uses a folder per platform inside
    it (`SCCACHE_DIR=/cache/sccache/$TARGETARCH`), which every BuildKit honours; an
    `id=...-$TARGETARCH` works too, but only where BuildKit expands variables in mount
    options (0.10 and later: Docker 23+), so that one is reported as a caveat.
    """
    findings = []
    for index, kind, command in _by_stage(structure):
        if index != stage.index or kind != "RUN":
            continue
        for mount_id, target in _cache_mounts(command):
            per_folder = re.search(
                re.escape(target.rstrip("/")) + r"/[^\s\"';]*\$\{?TARGET(PLATFORM|ARCH|OS|VARIANT)",
                command,
            )
            if per_folder:
                continue
            if _TARGET_ARGS.search(mount_id):
                findings.append(
                    f"cache mount {target} is keyed by id={mount_id}: BuildKit before 0.10 "
                    "(Docker 20.10) does not expand variables there and shares it between "
                    f"platforms; a folder per platform inside it ({target}/$TARGETARCH) works "
                    "everywhere"
                )
                continue
            findings.append(
                f"cache mount {target} is shared between platforms: keep a folder per "
                f"platform inside it ({target}/$TARGETARCH), or key it with "
                f"id={(mount_id or target.strip('/').replace('/', '-'))}-$TARGETARCH "
                "(BuildKit 0.10 and later)"
            )
    return findings


def _reached(stages: list[StageFacts], target: int) -> set[int]:
    reached: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index in reached:
            continue
        reached.add(index)
        pending.extend(stages[index].depends_on)
    return reached


def project_languages(project_dir: Path) -> tuple[str, ...]:
    """Languages and build systems, from the manifests at the project's top."""
    found = [lang for manifest, lang in _MANIFESTS.items() if (project_dir / manifest).is_file()]
    for folder in (project_dir, project_dir / "src"):
        if folder.is_dir() and any(p.suffix in _C_SUFFIXES for p in folder.iterdir()):
            found.append("c")
            break
    return tuple(dict.fromkeys(found))


def _context_reads(structure: list[dict[str, Any]], reached: set[int]) -> tuple[str, ...] | None:
    """The context paths the reached stages read (COPY, ADD, RUN bind mounts), as BuildKit
    sends only those; None when any path may be read (`COPY . .`, a variable in a path)."""
    reads: list[str] = []
    for stage, kind, value in _by_stage(structure):
        if stage not in reached:
            continue
        if kind in ("COPY", "ADD"):
            flags, paths = _copy_arguments(value)
            if "from" in flags or (paths and paths[0].startswith("<<")):
                continue
            reads.extend(w for w in paths[:-1] if not re.match(r"^[a-z+]+://|^git@", w))
        elif kind == "RUN":
            for options in _mounts(value):
                if options.get("type") == "bind" and "from" not in options:
                    reads.append(options.get("source") or options.get("src") or ".")
    cleaned = [os.path.normpath(r.strip("/")) for r in reads]
    if any(r in (".", "") or "$" in r for r in cleaned):
        return None
    return tuple(dict.fromkeys(cleaned))


def _words(value: str) -> list[str]:
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(item) for item in parsed]
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


# folders builds seldom need, which `COPY . .` sends anyway (and their .dockerignore lines)
HEAVY_NAMES = (
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".gradle",
    ".terraform",
)
_HEAVY_MIN_FILES = 50
_HEAVY_MIN_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class ContextSurvey:
    files: int
    bytes: int
    seconds: float
    heavy: tuple[HeavyTree, ...]
    listing: dict[str, Entry]


def survey_context(
    context_dir: Path,
    dockerfile: Path | None,
    reads: tuple[str, ...] | None,
    skip: tuple[str, ...] = (),
) -> ContextSurvey:
    """What the build reads from the context: walked in parallel (a slow share's round trips
    overlap), after .dockerignore and outside the paths no COPY names (and `skip`)."""
    ignore = DockerIgnore.read(context_dir)
    scope = ReadScope(reads)
    always = {".dockerignore"}
    if dockerfile is not None and dockerfile.is_relative_to(context_dir):
        always.add(dockerfile.relative_to(context_dir).as_posix())

    def keep(relative: str, is_dir: bool) -> bool:
        if relative in skip:
            return False
        if relative in always:
            return True
        if is_dir:
            return not ignore.prunes(relative) and scope.may_hold(relative)
        return not ignore.excludes(relative) and scope.reads(relative)

    began = time.monotonic()
    listing = walk(context_dir, keep)
    seconds = time.monotonic() - began
    sizes: dict[str, list[int]] = {}
    files = size = 0
    for relative, entry in listing.items():
        if entry.kind == "dir":
            continue
        files += 1
        size += entry.size
        parts = relative.split("/")
        for depth, part in enumerate(parts[:-1]):
            if part in HEAVY_NAMES:
                tally = sizes.setdefault("/".join(parts[: depth + 1]), [0, 0])
                tally[0] += 1
                tally[1] += entry.size
                break
    heavy = tuple(
        HeavyTree(
            path=path,
            files=count,
            bytes=total,
            ignore_line=path if "/" not in path else f"**/{path.rsplit('/', 1)[1]}",
        )
        for path, (count, total) in sorted(sizes.items(), key=lambda item: -item[1][1])
        if count >= _HEAVY_MIN_FILES or total >= _HEAVY_MIN_BYTES
    )
    return ContextSurvey(files=files, bytes=size, seconds=seconds, heavy=heavy, listing=listing)


class ReadScope:
    """Which context paths COPY and ADD name (globs as Docker matches them)."""

    def __init__(self, reads: tuple[str, ...] | None) -> None:
        self._patterns = None if reads is None else [r.split("/") for r in reads]

    def reads(self, relative: str) -> bool:
        """A file the build may read: named, or inside a named folder."""
        if self._patterns is None:
            return True
        parts = relative.split("/")
        return any(
            len(parts) >= len(p) and all(map(fnmatch.fnmatchcase, parts[: len(p)], p))
            for p in self._patterns
        )

    def may_hold(self, relative: str) -> bool:
        """A folder that is named, inside a named one, or on the way to one."""
        if self.reads(relative):
            return True
        assert self._patterns is not None
        parts = relative.split("/")
        return any(
            len(parts) < len(p) and all(map(fnmatch.fnmatchcase, parts, p[: len(parts)]))
            for p in self._patterns
        )


class DockerIgnore:
    """`.dockerignore` as Docker reads it: patterns from the context root, `**` for any
    depth, `!` re-includes, the last matching line wins."""

    def __init__(self, patterns: list[tuple[bool, re.Pattern[str]]]) -> None:
        self._patterns = patterns

    @classmethod
    def read(cls, context_dir: Path) -> DockerIgnore:
        path = context_dir / ".dockerignore"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        return cls.parse(lines)

    @classmethod
    def parse(cls, lines: list[str]) -> DockerIgnore:
        patterns = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            patterns.append((negate, re.compile(_translate(pattern))))
        return cls(patterns)

    def prunes(self, relative: str) -> bool:
        """A folder whose whole content is excluded: no `!` line can bring any of it back."""
        return self.excludes(relative) and not any(negate for negate, _ in self._patterns)

    def excludes(self, relative: str) -> bool:
        excluded = False
        for negate, pattern in self._patterns:
            # a pattern matching a parent folder excludes what is inside it too
            if pattern.match(relative) or any(
                pattern.match(parent) for parent in _parents(relative)
            ):
                excluded = not negate
        return excluded


def _parents(relative: str) -> list[str]:
    parts = relative.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _translate(pattern: str) -> str:
    """Go filepath.Match syntax with `**`, as a regular expression."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append("[" + pattern[i + 1 : end].replace("^", "\\^", 0) + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "$"
