"""Unit tests never touch docker or any other program: recorded hosts stand in for them.

The one exception is marked `@pytest.mark.subprocesses`: a live probe of this machine (which
may or may not have an engine) for the snapshot round trip.
"""

from __future__ import annotations

import platform
import subprocess
from typing import Any, NoReturn

import pytest

# On Windows, Python before 3.12 runs `cmd /c ver` the first time platform.system() is asked:
# asked here, before any test refuses programs, the answer is kept for the live host's view
platform.uname()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "subprocesses: the test may start programs (a live probe of this machine)"
    )


@pytest.fixture(autouse=True)
def _no_subprocesses(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("subprocesses") is not None:
        return

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"a unit test started a program: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
