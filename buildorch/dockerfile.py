"""Reading a Dockerfile: its text in, typed records out. Pure.

dockerfile-parse splits the text into instructions (continuations joined); heredoc bodies,
which it reads as instructions of their own, are folded back into the instruction that opens
them. Every record keeps its original text and its line span, so that a Dockerfile can be
written again with some instructions changed and the rest untouched. What the records mean
for a build is dockerfile_analysis.py's.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple, TypedDict

from dockerfile_parse import DockerfileParser

from buildorch.errors import ProjectError

# `--name`, `--name=value`, `--name="a value"` at the start of an instruction's arguments
_FLAG = re.compile(r"--([A-Za-z][\w-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?(?:\s+|$)")
# `<<EOF`, `<<-EOF` (tabs stripped), `<<"EOF"` (not expanded); `<<<` and `1<<3` are not heredocs
_HEREDOC = re.compile(r"(?<!<)<<(-?)([\"']?)([A-Za-z_][\w.-]*)\2")
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][\w-]*)\s*=\s*(.*?)\s*$")
# what Docker's own frontend reads (a `# syntax=` frontend of another kind may read more)
_KEYWORDS = frozenset(
    {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
     "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
)  # fmt: skip
_DOCKER_FRONTEND = re.compile(r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?(?::|@|$)")
# `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`: the
# forms of BuildKit's shell lexer a FROM line's name uses
_REFERENCE = re.compile(r"\$(?:(\w+)|\{(\w+)(?:(:?[-+])([^}]*))?\})")
# what BuildKit sets for each platform of a build (and the stage it builds): a FROM that reads
# one names a stage per platform, which only the build knows
_PLATFORM_ARGS = frozenset(
    f"{side}{part}"
    for side in ("BUILD", "TARGET")
    for part in ("PLATFORM", "OS", "ARCH", "VARIANT", "OSVERSION")
) | {"TARGETSTAGE"}


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
    def references(self) -> tuple[str, ...]:
        """What the stage takes files from, as written: COPY --from and RUN --mount from=
        (stage names, indexes or images)."""
        refs: list[str] = []
        for instruction in self.instructions:
            if isinstance(instruction, Copy) and instruction.from_ref is not None:
                refs.append(instruction.from_ref)
            elif isinstance(instruction, Run):
                refs.extend(m.from_ref for m in instruction.mounts if m.from_ref is not None)
        return tuple(refs)

    @property
    def lines(self) -> LineSpan:
        last = self.instructions[-1] if self.instructions else self.start
        return LineSpan(self.start.lines.first, last.lines.last)


@dataclass(frozen=True, kw_only=True, slots=True)
class Dockerfile:
    path: str
    text: str
    directives: tuple[Option, ...]
    """Parser directives at the top (`# syntax=docker/dockerfile:1`), names in lower case."""
    global_args: tuple[Arg, ...]
    """ARG instructions before the first FROM."""
    stages: tuple[Stage, ...]
    build_args: tuple[tuple[str, str], ...] = ()
    """The build's `--build-arg` values, which a FROM line's global ARGs take."""

    @property
    def syntax(self) -> str | None:
        """The `# syntax=` frontend image, when one is named."""
        return flag_value(self.directives, "syntax")

    def base_stage(self, stage: Stage) -> int | None:
        """The earlier stage `stage` is built on; None: an image (or a name that depends on
        the platform). Its FROM is read as BuildKit reads it: `FROM build-${VARIANT}` with
        the global ARGs, each the build's --build-arg value or its default (the stage BuildKit
        has users write instead of `COPY --from=$ARG`: moby/buildkit#2374)."""
        name = self.expand_global(stage.base)
        return None if name is None else self.stage_named(name, before=stage.index)

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built on (base_stage), nearest first."""
        chain = [stage]
        while (parent := self.base_stage(chain[-1])) is not None:
            chain.append(self.stages[parent])
        return chain

    def expand_global(self, word: str) -> str | None:
        """`word` with the global ARGs in it expanded (an ARG with no value is empty, as in
        BuildKit); None when it reads a platform's ARG or a form this reading does not know."""
        return _expand(word, _global_values(self.global_args, self.build_args))

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


@cache
def _global_values(
    global_args: tuple[Arg, ...], build_args: tuple[tuple[str, str], ...]
) -> dict[str, str | None]:
    """Each global ARG's value for a build (None: one only the build knows), read once for
    every FROM that asks: the build arg, else its default with the ARGs before it expanded."""
    given = dict(build_args)
    values: dict[str, str | None] = dict.fromkeys(_PLATFORM_ARGS)
    for arg in global_args:
        for variable in arg.variables:
            if variable.name in given:
                values[variable.name] = given[variable.name]
            elif variable.value is not None:
                values[variable.name] = _expand(variable.value, values)
            # an ARG declared again without a value keeps the one it had
    return values


def _expand(word: str, values: dict[str, str | None]) -> str | None:
    """`word` with `values` substituted, as BuildKit's lexer does for the forms of _REFERENCE
    (a name not in `values` is unset); None when it reads a value that is None, or has another
    form (`${NAME#pattern}`, a default that is itself a `${...}`)."""
    unknown = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal unknown
        name = match.group(1) or match.group(2)
        operator, word = match.group(3), match.group(4) or ""
        if name in values and values[name] is None:
            unknown = True
            return ""
        value = values.get(name)
        if operator in (":-", "-"):
            use_word = value is None or (operator == ":-" and value == "")
            return word if use_word else str(value)
        if operator in (":+", "+"):
            use_word = value is not None and (operator == "+" or value != "")
            return word if use_word else ""
        return value or ""

    expanded = _REFERENCE.sub(substitute, word)
    return None if unknown or any(c in expanded for c in "${}") else expanded


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
    parseable = _blank_continuations_as_comments(text)
    parser = DockerfileParser(fileobj=io.BytesIO(parseable.encode("utf-8")))
    try:
        structure: list[dict[str, Any]] = parser.structure
    except Exception as exc:  # dockerfile-parse raises bare errors on broken input
        raise ProjectError(f"cannot read {path}", why=str(exc), fix="fix the Dockerfile") from exc
    global_args: list[Arg] = []
    stages: list[Stage] = []
    start: From | None = None
    body: list[Instruction] = []
    # split as dockerfile-parse counts lines: at "\n" only (str.splitlines splits at more)
    lines = io.StringIO(text, newline="\n").readlines()
    directives = _directives(text)
    syntax = flag_value(directives, "syntax")
    known = _KEYWORDS if syntax is None or _DOCKER_FRONTEND.match(syntax) else None
    for instruction in _instructions(structure, lines, path, known):
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
        directives=directives,
        global_args=tuple(global_args),
        stages=tuple(stages),
    )


def _blank_continuations_as_comments(text: str) -> str:
    """The text with each empty line inside a continued instruction made a comment, line for
    line: BuildKit skips such a line (with a warning), where dockerfile-parse would end the
    instruction there and read the next line as one of its own."""
    escape = flag_value(_directives(text), "escape") or "\\"
    lines = io.StringIO(text, newline="\n").readlines()
    continued = False
    for number, line in enumerate(lines):
        stripped = line.strip()
        if continued and not stripped:
            lines[number] = "#" + line
        elif not stripped.startswith("#"):
            continued = stripped.endswith(escape)
    return "".join(lines)


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
    structure: list[dict[str, Any]], lines: list[str], path: str, known: frozenset[str] | None
) -> Iterator[Instruction]:
    """The instructions in order, each with its heredocs' bodies and its own text. Raises
    ProjectError for a keyword the frontend (`known`, None: not Docker's) does not read."""
    consumed = -1  # the last line (from 0) a heredoc body took
    unclosed: tuple[int, str] | None = None  # a heredoc's line (from 1) and marker
    for record in structure:
        keyword = str(record["instruction"]).upper()
        first, last = int(record["startline"]), int(record["endline"])
        if keyword == "COMMENT" or first <= consumed:
            continue
        value = str(record["value"])
        if known is not None and keyword not in known:
            raise _unknown(keyword, f"{path}:{first + 1}", unclosed)
        heredocs: tuple[Heredoc, ...] = ()
        if keyword in _HEREDOC_KEYWORDS and "<<" in value:
            heredocs, last = _heredocs(value, lines, last)
            consumed = last
            opened = [m.group(3) for m in _HEREDOC.finditer(value)]
            if len(heredocs) < len(opened):
                unclosed = (first + 1, opened[len(heredocs)])
        yield _typed(
            keyword,
            value,
            text="".join(lines[first : last + 1]),
            span=LineSpan(first + 1, last + 1),
            heredocs=heredocs,
            path=path,
        )


def _unknown(keyword: str, where: str, unclosed: tuple[int, str] | None) -> ProjectError:
    why = f"Docker's Dockerfile frontend reads only {', '.join(sorted(_KEYWORDS))}"
    fix = "correct the instruction"
    if unclosed is not None:
        line, marker = unclosed
        why = (
            f"line {line} opens a heredoc (<<{marker}) that no line `{marker}` closes, so the "
            "lines after it are read as instructions"
        )
        fix = f"end the heredoc with a line of its own holding just `{marker}`"
    return ProjectError(f"{where}: unknown instruction {keyword}", why=why, fix=fix)


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
