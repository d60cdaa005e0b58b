"""Reading a Dockerfile: its text in, typed records out, and what they mean for a build. Pure.

dockerfile-parse splits the text into instructions (continuations joined); heredoc bodies,
which it reads as instructions of their own, are folded back into the instruction that opens
them. Every record keeps its original text and its line span, so that a Dockerfile can be
written again with some instructions changed and the rest untouched.

What matters to the planner is where each stage runs: a stage `FROM --platform=$BUILDPLATFORM`
runs on the machine doing the build whatever the target (never emulated), and if it also
reads $TARGETARCH it cross-compiles. RUN steps of the other stages that the target stage
reaches run on the target platform, under an emulator when the target is foreign.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

from dockerfile_parse import DockerfileParser

from buildorch.errors import ProjectError
from buildorch.facts import CacheMount, DockerfileFacts, StageFacts

_BUILD_PLATFORM = re.compile(r"^\$\{?BUILDPLATFORM\}?$")
_TARGET_ARGS = re.compile(r"\$\{?TARGET(PLATFORM|ARCH|OS|VARIANT)\b")
_TARGET_ARG_NAME = re.compile(r"^TARGET(PLATFORM|ARCH|OS|VARIANT)$")
# `--name`, `--name=value`, `--name="a value"` at the start of an instruction's arguments
_FLAG = re.compile(r"--([A-Za-z][\w-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?(?:\s+|$)")
# `<<EOF`, `<<-EOF` (tabs stripped), `<<"EOF"` (not expanded); `<<<` and `1<<3` are not heredocs
_HEREDOC = re.compile(r"(?<!<)<<(-?)([\"']?)([A-Za-z_][\w.-]*)\2")
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][\w-]*)\s*=\s*(.*?)\s*$")
_REMOTE_SOURCE = re.compile(r"^[a-z+]+://|^git@")


class LineSpan(NamedTuple):
    """Lines of the Dockerfile, counted from 1, both ends included."""

    first: int
    last: int


class Option(NamedTuple):
    """A `name=value` pair: an instruction's flag (`--from=build`, value "" for `--link`)
    or an option of a RUN mount (`target=/root/.cache`)."""

    name: str
    value: str


class Variable(NamedTuple):
    """A variable an ARG declares (value None: no default) or an ENV sets."""

    name: str
    value: str | None


class Heredoc(NamedTuple):
    """An inline file or script (`<<EOF` ... `EOF`): what a RUN runs or a COPY writes."""

    marker: str
    body: str
    """The lines between the opening instruction and the marker, as written."""
    strip_tabs: bool
    """`<<-EOF`: leading tabs are dropped from each line."""
    quoted: bool
    """`<<"EOF"`: variables in the body are not expanded."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Instruction:
    keyword: str
    """Upper case: RUN, COPY, LABEL, ..."""
    value: str
    """The arguments, continuations joined (a heredoc's body is in `heredocs`)."""
    text: str
    """The instruction as written, from its keyword to its last line (heredoc bodies too)."""
    lines: LineSpan


@dataclass(frozen=True, kw_only=True, slots=True)
class From(Instruction):
    image: str
    """As written: `golang:1.22`, `$BASE`, or an earlier stage's name."""
    name: str | None
    flags: tuple[Option, ...] = ()

    @property
    def platform(self) -> str | None:
        """The `--platform` value as written (`$BUILDPLATFORM`), or None."""
        return flag_value(self.flags, "platform")


@dataclass(frozen=True, kw_only=True, slots=True)
class Mount:
    """A `RUN --mount=...`: its type (bind when unsaid, as BuildKit has it) and options."""

    type: str
    options: tuple[Option, ...]

    def option(self, *names: str) -> str | None:
        """The value of the first of `names` given (aliases: target, dst, destination)."""
        for name in names:
            for option in self.options:
                if option.name == name:
                    return option.value
        return None

    @property
    def target(self) -> str:
        return self.option("target", "dst", "destination") or ""

    @property
    def source(self) -> str | None:
        return self.option("source", "src")

    @property
    def from_ref(self) -> str | None:
        """The stage (name or index) or image it mounts from; None: the context."""
        return self.option("from")

    @property
    def id(self) -> str:
        return self.option("id") or ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Run(Instruction):
    flags: tuple[Option, ...]
    mounts: tuple[Mount, ...]
    command: str
    """What follows the flags (shell or JSON form), continuations joined."""
    heredocs: tuple[Heredoc, ...] = ()

    @property
    def script(self) -> str:
        """The command with the bodies of its heredocs: everything the step runs."""
        return "\n".join([self.command, *(h.body for h in self.heredocs)])


@dataclass(frozen=True, kw_only=True, slots=True)
class Copy(Instruction):
    """COPY or ADD (`keyword` says which)."""

    flags: tuple[Option, ...]
    sources: tuple[str, ...]
    """Paths (context or `--from`), URLs, as written; heredocs are in `heredocs`."""
    dest: str
    json_form: bool = False
    """Written as a JSON list: `COPY ["a b", "/c/"]`."""
    heredocs: tuple[Heredoc, ...] = ()

    @property
    def from_ref(self) -> str | None:
        """`--from`: a stage's name or index, or an image; None: the build context."""
        return flag_value(self.flags, "from")


@dataclass(frozen=True, kw_only=True, slots=True)
class Arg(Instruction):
    variables: tuple[Variable, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Env(Instruction):
    variables: tuple[Variable, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Stage:
    index: int
    start: From
    instructions: tuple[Instruction, ...]
    """Those after the FROM, in order."""

    @property
    def name(self) -> str | None:
        return self.start.name

    @property
    def base(self) -> str:
        return self.start.image

    @property
    def platform(self) -> str | None:
        return self.start.platform

    @property
    def lines(self) -> LineSpan:
        last = self.instructions[-1] if self.instructions else self.start
        return LineSpan(self.start.lines.first, last.lines.last)

    @property
    def label(self) -> str:
        """How findings name it: `build`, or its index when it has no name."""
        return f"`{self.name}`" if self.name else str(self.index)


@dataclass(frozen=True, kw_only=True, slots=True)
class Dockerfile:
    path: str
    text: str
    directives: tuple[Option, ...]
    """Parser directives at the top (`# syntax=docker/dockerfile:1`), names in lower case."""
    global_args: tuple[Arg, ...]
    """ARG instructions before the first FROM."""
    stages: tuple[Stage, ...]

    @property
    def syntax(self) -> str | None:
        """The `# syntax=` frontend image, when one is named."""
        return flag_value(self.directives, "syntax")

    def stage_named(self, name: str, *, before: int | None = None) -> int | None:
        """The stage of that name (case-insensitive) among those before `before` (a stage
        can build only on earlier ones); None: no such stage (an image, for FROM)."""
        for stage in self.stages[:before]:
            if stage.name is not None and stage.name.lower() == name.lower():
                return stage.index
        return None

    def stage_index(self, reference: str, *, before: int | None = None) -> int | None:
        """The stage a `--from` names, by name or by index (`--from=0`); None: an image."""
        named = self.stage_named(reference, before=before)
        if named is None and reference.isdigit() and int(reference) < len(self.stages[:before]):
            return int(reference)
        return named


def flag_value(options: Iterable[Option], name: str) -> str | None:
    """The value of the last option `name` (a later flag overrides an earlier one)."""
    found = None
    for option in options:
        if option.name == name:
            found = option.value
    return found


def split_flags(value: str) -> tuple[tuple[Option, ...], str]:
    """The leading `--flags` of an instruction's arguments, and the rest as written:
    `--from=build --link /out/ /` -> (from=build, link=), `/out/ /`."""
    flags = []
    rest = value.strip()
    while flag := _FLAG.match(rest):
        raw = flag.group(2) or ""
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        flags.append(Option(flag.group(1).lower(), raw))
        rest = rest[flag.end() :]
    return tuple(flags), rest


def parse_dockerfile(text: str, path: str = "Dockerfile") -> Dockerfile:
    """The Dockerfile's records. Raises ProjectError for what BuildKit would refuse to read."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    try:
        structure: list[dict[str, Any]] = parser.structure
    except Exception as exc:  # dockerfile-parse raises bare errors on broken input
        raise ProjectError(f"cannot read {path}", why=str(exc), fix="fix the Dockerfile") from exc
    global_args: list[Arg] = []
    stages: list[Stage] = []
    start: From | None = None
    body: list[Instruction] = []
    for instruction in _instructions(structure, text.splitlines(keepends=True), path):
        if isinstance(instruction, From):
            if start is not None:
                stages.append(Stage(index=len(stages), start=start, instructions=tuple(body)))
            start, body = instruction, []
        elif start is not None:
            body.append(instruction)
        elif isinstance(instruction, Arg):
            global_args.append(instruction)
        else:
            raise ProjectError(
                f"{path}:{instruction.lines.first}: {instruction.keyword} before the first FROM",
                fix="start the Dockerfile with FROM (only ARG may come before it)",
            )
    if start is None:
        raise ProjectError(
            f"{path} has no FROM instruction", fix="a Dockerfile starts with FROM IMAGE"
        )
    stages.append(Stage(index=len(stages), start=start, instructions=tuple(body)))
    return Dockerfile(
        path=path,
        text=text,
        directives=_directives(text),
        global_args=tuple(global_args),
        stages=tuple(stages),
    )


def _directives(text: str) -> tuple[Option, ...]:
    """`# name=value` lines at the top, before any other comment or instruction."""
    found = []
    for line in text.lstrip().splitlines():
        directive = _DIRECTIVE.match(line.strip())
        if directive is None:
            break
        found.append(Option(directive.group(1).lower(), directive.group(2)))
    return tuple(found)


def _instructions(
    structure: list[dict[str, Any]], lines: list[str], path: str
) -> Iterator[Instruction]:
    """The instructions in order, each with its heredocs' bodies and its own text."""
    consumed = -1  # the last line (from 0) a heredoc body took
    for record in structure:
        keyword = str(record["instruction"]).upper()
        first, last = int(record["startline"]), int(record["endline"])
        if keyword == "COMMENT" or first <= consumed:
            continue
        value = str(record["value"])
        heredocs: tuple[Heredoc, ...] = ()
        if keyword in _HEREDOC_KEYWORDS and "<<" in value:
            heredocs, last = _heredocs(value, lines, last)
            consumed = last
        yield _typed(
            keyword,
            value,
            text="".join(lines[first : last + 1]),
            span=LineSpan(first + 1, last + 1),
            heredocs=heredocs,
            path=path,
        )


def _heredocs(value: str, lines: list[str], last: int) -> tuple[tuple[Heredoc, ...], int]:
    """The heredocs an instruction opens, read from the lines after it, and the line (from 0)
    of the last one's closing marker. A marker never closed is no heredoc (BuildKit refuses
    the file; this reader stays lenient)."""
    found = []
    for opening in _HEREDOC.finditer(value):
        strip_tabs, quote, marker = opening.groups()
        for end in range(last + 1, len(lines)):
            line = lines[end].rstrip("\r\n")
            if (line.lstrip("\t") if strip_tabs else line) == marker:
                body = "".join(lines[last + 1 : end])
                found.append(Heredoc(marker, body, bool(strip_tabs), bool(quote)))
                last = end
                break
    return tuple(found), last


class _Common(TypedDict):
    keyword: str
    value: str
    text: str
    lines: LineSpan


def _typed(
    keyword: str, value: str, *, text: str, span: LineSpan, heredocs: tuple[Heredoc, ...], path: str
) -> Instruction:
    common = _Common(keyword=keyword, value=value, text=text, lines=span)
    match keyword:
        case "FROM":
            flags, rest = split_flags(value)
            words = rest.split()
            if not words:
                raise ProjectError(
                    f"{path}:{span.first}: FROM without an image",
                    fix="write FROM IMAGE [AS NAME]",
                )
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            return From(**common, image=words[0], name=name, flags=flags)
        case "RUN":
            flags, command = split_flags(value)
            mounts = tuple(_mount(f.value) for f in flags if f.name == "mount")
            return Run(**common, flags=flags, mounts=mounts, command=command, heredocs=heredocs)
        case "COPY" | "ADD":
            flags, rest = split_flags(value)
            json_form, words = _words(rest)
            paths = [w for w in words if json_form or not _HEREDOC.match(w)]
            return Copy(
                **common,
                flags=flags,
                sources=tuple(paths[:-1]),
                dest=paths[-1] if paths else "",
                json_form=json_form,
                heredocs=heredocs,
            )
        case "ARG":
            variables = [w.partition("=") for w in _words(value)[1]]
            return Arg(
                **common,
                variables=tuple(Variable(n, v if eq else None) for n, eq, v in variables),
            )
        case "ENV":
            return Env(**common, variables=_env_variables(value))
        case "WORKDIR":
            return Workdir(**common, path=value.strip())
        case _:
            return Instruction(**common)


def _mount(value: str) -> Mount:
    options = tuple(Option(*item.partition("=")[::2]) for item in value.split(",") if item)
    return Mount(type=flag_value(options, "type") or "bind", options=options)


def _env_variables(value: str) -> tuple[Variable, ...]:
    """`ENV A=1 B="2 3"`, or the older `ENV NAME the rest of the line`."""
    words = _words(value)[1]
    if words and "=" not in words[0]:
        name, _, rest = value.strip().partition(" ")
        return (Variable(name, rest.strip()),)
    return tuple(Variable(n, v) for n, _, v in (w.partition("=") for w in words))


def _words(value: str) -> tuple[bool, list[str]]:
    """(JSON form?, the words): a JSON list, else shell-like words."""
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return True, [str(item) for item in parsed]
    try:
        return False, shlex.split(value)
    except ValueError:
        return False, value.split()


# --- what the records mean for a build ---------------------------------------------------


def analyse_dockerfile(text: str, path: str, build_target: str | None) -> DockerfileFacts:
    """Stages, where each runs, and what that means for foreign targets."""
    dockerfile = parse_dockerfile(text, path)
    target = target_stage(dockerfile, build_target)
    depends = [stage_dependencies(dockerfile, stage) for stage in dockerfile.stages]
    reached = reached_stages(depends, target)
    on_build = build_platform_stages(dockerfile)
    stages = tuple(
        StageFacts(
            index=stage.index,
            name=stage.name,
            base=stage.base,
            platform=stage.platform,
            on_build_platform=stage.index in on_build,
            run_steps=run_steps(stage),
            uses_target_args=uses_target_args(stage),
            depends_on=depends[stage.index],
        )
        for stage in dockerfile.stages
    )
    findings: list[str] = []
    if dockerfile.syntax is not None:
        findings.append(
            "a `# syntax=` line makes BuildKit pull a frontend image before every build"
        )
    cross = False
    emulated = 0
    for facts in stages:
        if facts.index not in reached:
            continue
        label = dockerfile.stages[facts.index].label
        if facts.on_build_platform:
            if facts.uses_target_args:
                cross = True
                findings.append(
                    f"stage {label} compiles on $BUILDPLATFORM for $TARGETARCH: "
                    "cross-compiling, no emulation"
                )
        elif facts.run_steps:
            emulated += facts.run_steps
            findings.append(
                f"{facts.run_steps} RUN step(s) in stage {label} run on the target platform: "
                "emulated for a foreign target"
            )
    for stage, facts in zip(dockerfile.stages, stages, strict=True):
        if facts.index in reached and facts.uses_target_args:
            findings.extend(colliding_cache_mounts(stage))
    findings.extend(copies_from_stage_tops(dockerfile, stages, reached))
    return DockerfileFacts(
        path=path,
        stages=stages,
        target_stage=target,
        cross_capable=cross,
        emulated_run_steps=emulated,
        findings=tuple(findings),
        context_reads=context_reads(dockerfile, reached),
        cache_mounts=cache_mounts(dockerfile, reached),
    )


def target_stage(dockerfile: Dockerfile, build_target: str | None) -> int:
    """The stage that is built: the last, or the one `--build-target` names."""
    if build_target is None:
        return len(dockerfile.stages) - 1
    index = next(
        (s.index for s in dockerfile.stages if s.name and s.name.lower() == build_target.lower()),
        None,
    )
    if index is None:
        named = ", ".join(str(s.name) for s in dockerfile.stages if s.name)
        raise ProjectError(
            f"no stage `{build_target}` in {dockerfile.path}",
            why="stages: " + (named or "(none named)"),
            fix="pass --build-target with one of those",
        )
    return index


def stage_dependencies(dockerfile: Dockerfile, stage: Stage) -> tuple[int, ...]:
    """Earlier stages it builds on: FROM stage, COPY --from=stage, RUN --mount from=stage."""
    references: list[str] = []
    for instruction in stage.instructions:
        if isinstance(instruction, Copy) and instruction.from_ref is not None:
            references.append(instruction.from_ref)
        elif isinstance(instruction, Run):
            references.extend(m.from_ref for m in instruction.mounts if m.from_ref is not None)
    found = {dockerfile.stage_index(r, before=stage.index) for r in references}
    found.add(dockerfile.stage_named(stage.base, before=stage.index))
    return tuple(sorted(i for i in found if i is not None))


def reached_stages(depends: list[tuple[int, ...]], target: int) -> frozenset[int]:
    """The stages building `target` builds: itself and what it depends on, transitively."""
    reached: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index not in reached:
            reached.add(index)
            pending.extend(depends[index])
    return frozenset(reached)


def build_platform_stages(dockerfile: Dockerfile) -> frozenset[int]:
    """Stages that run on $BUILDPLATFORM: pinned there, or built on a stage that is."""
    found: set[int] = set()
    for stage in dockerfile.stages:
        if stage.platform is not None:
            pinned = bool(_BUILD_PLATFORM.match(stage.platform))
        else:
            # a stage built on an earlier stage runs where that stage runs
            parent = dockerfile.stage_named(stage.base, before=stage.index)
            pinned = parent is not None and parent in found
        if pinned:
            found.add(stage.index)
    return frozenset(found)


def run_steps(stage: Stage) -> int:
    return sum(isinstance(i, Run) for i in stage.instructions)


def uses_target_args(stage: Stage) -> bool:
    """Reads TARGETPLATFORM/TARGETARCH/TARGETOS/TARGETVARIANT: it builds *for* the target."""
    if _TARGET_ARGS.search(stage.start.value):
        return True
    for instruction in stage.instructions:
        if isinstance(instruction, Arg):
            if any(_TARGET_ARG_NAME.match(v.name) for v in instruction.variables):
                return True
        elif isinstance(instruction, Run):
            # flags too: a mount keyed `id=cache-$TARGETARCH` is there for the target
            if any(_TARGET_ARGS.search(t) for t in (instruction.value, instruction.script)):
                return True
        elif isinstance(instruction, Copy | Env) and _TARGET_ARGS.search(instruction.value):
            return True
    return False


def colliding_cache_mounts(stage: Stage) -> list[str]:
    """Cache mounts of a stage building for the target that every platform would share.

    A mount is kept apart per platform when the command uses a folder per platform inside
    it (`SCCACHE_DIR=/cache/sccache/$TARGETARCH`), which every BuildKit honours; an
    `id=...-$TARGETARCH` works too, but only where BuildKit expands variables in mount
    options (0.10 and later: Docker 23+), so that one is reported as a caveat.
    """
    findings = []
    for run in (i for i in stage.instructions if isinstance(i, Run)):
        for mount in run.mounts:
            if mount.type != "cache":
                continue
            target, mount_id = mount.target, mount.id
            per_folder = re.search(
                re.escape(target.rstrip("/")) + r"/[^\s\"';]*\$\{?TARGET(PLATFORM|ARCH|OS|VARIANT)",
                run.script,
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


def copies_from_stage_tops(
    dockerfile: Dockerfile, stages: tuple[StageFacts, ...], reached: frozenset[int]
) -> list[str]:
    """`COPY --from=STAGE /out/ ...` of a path at the top of a stage that runs steps.

    BuildKit checksums what a COPY takes from a stage by walking the path's parent folder,
    once for each new snapshot of the stage (its contenthash `scanPath`). For `/out/` that
    parent is `/`: the whole image the stage is built on, walked on every rebuild of it."""
    findings = []
    for stage in dockerfile.stages:
        if stage.index not in reached:
            continue
        for copy in (i for i in stage.instructions if isinstance(i, Copy)):
            if copy.keyword != "COPY" or copy.from_ref is None:
                continue
            source = dockerfile.stage_index(copy.from_ref, before=stage.index)
            if source is None or not stages[source].run_steps:
                continue
            for path in copy.sources:
                top = posixpath.normpath(posixpath.join("/", path))
                if top != "/" and posixpath.dirname(top) == "/" and "$" not in path:
                    findings.append(
                        f"`COPY --from={copy.from_ref} {path}` takes a path at the top of that "
                        "stage: BuildKit checksums it by walking the stage's whole file system "
                        "after every rebuild of the stage (0.5 to 0.9 s with a 2 GB toolchain "
                        "image); one folder down (`/out/dist/`) only that folder is walked"
                    )
    return findings


def cache_mounts(dockerfile: Dockerfile, reached: frozenset[int]) -> tuple[CacheMount, ...]:
    """The cache mounts of the stages that are built, each once."""
    found = {
        CacheMount(id=mount.id, target=mount.target): None
        for stage in dockerfile.stages
        if stage.index in reached
        for run in stage.instructions
        if isinstance(run, Run)
        for mount in run.mounts
        if mount.type == "cache"
    }
    return tuple(found)


def context_reads(dockerfile: Dockerfile, reached: frozenset[int]) -> tuple[str, ...] | None:
    """The context paths the reached stages read (COPY, ADD, RUN bind mounts), as BuildKit
    sends only those; None when any path may be read (`COPY . .`, a variable in a path)."""
    reads: list[str] = []
    for stage in dockerfile.stages:
        if stage.index not in reached:
            continue
        for instruction in stage.instructions:
            if isinstance(instruction, Copy) and instruction.from_ref is None:
                reads.extend(p for p in instruction.sources if not _REMOTE_SOURCE.match(p))
            elif isinstance(instruction, Run):
                reads.extend(
                    mount.source or "."
                    for mount in instruction.mounts
                    if mount.type == "bind" and mount.from_ref is None
                )
    cleaned = [os.path.normpath(r.strip("/")) for r in reads]
    if any(r in (".", "") or "$" in r for r in cleaned):
        return None
    return tuple(dict.fromkeys(cleaned))
