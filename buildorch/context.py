"""The build context: what of it a build reads, after `.dockerignore` and the paths the
Dockerfile names, and the heavy folders (.git, node_modules) it sends that builds seldom need.

File I/O lives here: the walk of the context and the reading of `.dockerignore`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from buildorch.errors import ProjectError
from buildorch.facts import HeavyTree
from buildorch.plan import first_few
from buildorch.tree import Entry, SpecialFile, walk_tree

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
    special: tuple[SpecialFile, ...] = ()
    """Sockets, fifos and devices the build would read but cannot be sent."""


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
    listing, special, unreadable = walk_tree(context_dir, keep)
    if unreadable:
        raise ProjectError(
            f"{len(unreadable)} path(s) the build reads cannot be read: {first_few(unreadable)}",
            why=f"in {context_dir}: `docker build` sends the context as you, and a mirror or "
            "`buildorch run` copies it as you, so the build would fail on them",
            fix="make them readable (`chmod a+r FILE`, `chmod a+rx FOLDER`), or leave them out "
            "of the context with .dockerignore",
        )
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
    return ContextSurvey(
        files=files, bytes=size, seconds=seconds, heavy=heavy, listing=listing, special=special
    )


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
            # as the docker CLI cleans it: on Windows `\` separates folders too
            cleaned = os.path.normpath(line.removeprefix("!").strip())
            pattern = cleaned.replace(os.sep, "/").lstrip("/")
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
