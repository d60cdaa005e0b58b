"""This host's own emulation factor, from the builds it ran."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from buildorch import history, workspace
from buildorch.cli import main

REPO = Path(__file__).resolve().parents[2]


def _entry(
    strategy: str, seconds: float, *, cached: int = 0, emulator: str | None = None
) -> dict[str, object]:
    return history.entry(
        project="/p", dockerfile="/p/Dockerfile", platform="linux/arm64", strategy=strategy,
        emulator=emulator, seconds=seconds, steps=5, cached=cached,
    )  # fmt: skip


def test_factor_from_uncached_native_and_emulated_builds(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    history.record(path, [_entry("native", 4.0), _entry("native", 6.0)])
    history.record(path, [_entry("qemu", 60.0, emulator="qemu"), _entry("qemu", 1.0, cached=5)])
    history.record(path, [_entry("cross", 6.5), _entry("cross", 0.5, cached=3)])
    factors = history.measured_factors(history.read(path), project="/p", dockerfile="/p/Dockerfile")
    assert set(factors) == {"qemu", "cross"}
    assert factors["qemu"].factor == 12.0  # 60 / median(4, 6); the cached build is left out
    assert "measured on this host" in factors["qemu"].why
    assert factors["cross"].factor == 1.3
    assert "cross-compiled took 1.3x" in factors["cross"].why
    assert history.measured_factors(history.read(path), project="/q", dockerfile="/q/D") == {}


def test_damaged_history_means_nothing_measured(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text("{half")
    assert history.read(path) == []
    history.record(path, [_entry("native", 1.0)])
    assert len(json.loads(path.read_text())) == 1


def test_no_home_no_history() -> None:
    assert history.history_file({}) is None
    assert history.history_file({"HOME": "/h"}) == Path("/h/.cache/buildorch/history.json")
    assert history.history_file({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path(
        "/x/buildorch/history.json"
    )


def test_plan_uses_the_measured_factor(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    project = tmp_path / "hello-c"
    shutil.copytree(REPO / "examples" / "hello-c", project)
    dockerfile = str(project / "Dockerfile.plain")
    cache = tmp_path / "cache"
    history.record(
        cache / "buildorch" / "history.json",
        [
            history.entry(project=str(project), dockerfile=dockerfile, platform="linux/amd64",
                          strategy="native", emulator=None, seconds=2.0, steps=4, cached=0),
            history.entry(project=str(project), dockerfile=dockerfile, platform="linux/arm64",
                          strategy="qemu", emulator="qemu", seconds=9.0, steps=4, cached=0),
        ],
    )  # fmt: skip
    code = main(
        ["plan", "--snapshot", str(REPO / "tests" / "snapshots" / "linux-amd64-qemu"),
         "-C", str(project), "-f", "Dockerfile.plain", "--target", "arm64", "--json",
         "--strategy", "qemu"],
        {"PATH": "/usr/bin", "XDG_CACHE_HOME": str(cache)},
    )  # fmt: skip
    assert code == 0
    (step,) = json.loads(capsys.readouterr().out)["steps"]
    assert step["cost"] == 4.5
    assert any("measured on this host" in reason for reason in step["reasons"])


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_buildorchs_own_folder_is_private_to_the_user(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = history.history_file(env)
    assert path is not None
    history.record(path, [])
    root = tmp_path / "cache" / "buildorch"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    state = workspace.project_state(env, tmp_path / "project")
    assert state.is_relative_to(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
