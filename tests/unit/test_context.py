"""The build context: `.dockerignore` as Docker reads it."""

from __future__ import annotations

import pytest

from buildorch.context import DockerIgnore


@pytest.mark.parametrize(
    ("lines", "path", "excluded"),
    [
        (["node_modules"], "node_modules/a/b.js", True),
        (["*.o"], "main.o", True),
        (["*.o"], "src/main.o", False),  # Docker patterns are rooted
        (["**/*.o"], "src/deep/main.o", True),
        (["**/*.o"], "main.o", True),
        (["target", "!target/keep"], "target/keep", False),
        (["target", "!target/keep"], "target/other", True),
        (["/build/"], "build/x", True),
        (["docs/?.md"], "docs/a.md", True),
        (["docs/?.md"], "docs/ab.md", False),
    ],
)
def test_dockerignore_semantics(lines: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore.parse(lines).excludes(path) is excluded
