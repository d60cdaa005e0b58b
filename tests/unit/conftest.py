"""Unit tests never touch docker or any other program: recorded hosts stand in for them."""

from __future__ import annotations

import subprocess
from typing import Any, NoReturn

import pytest


@pytest.fixture(autouse=True)
def _no_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"a unit test started a program: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
