"""`buildorch bake`: bake and compose files as buildx resolves them, each target planned and
built, on both image stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import REGISTRY, Engine
from tests.integration.helpers import buildorch

pytestmark = pytest.mark.integration

BUSYBOX = f"{REGISTRY}/buildorch/busybox:1"

APP = f"""FROM {BUSYBOX} AS build
ARG GREETING
RUN mkdir /o && echo "$GREETING $(uname -m)" > /o/app.txt
FROM scratch
COPY --from=build /o/ /
"""
TOOLS = f"""FROM {BUSYBOX} AS build
RUN mkdir /o && uname -m > /o/tools.txt
FROM scratch AS out
COPY --from=build /o/ /
FROM {BUSYBOX}
"""


def _two_images(root: Path) -> None:
    (root / "Dockerfile").write_text(APP, encoding="utf-8")
    (root / "tools").mkdir()
    (root / "tools" / "tools.Dockerfile").write_text(TOOLS, encoding="utf-8")


def test_a_bake_file_builds_each_target_with_its_own_dockerfile_for_two_platforms(
    tmp_path: Path, engine: Engine, registry: str
) -> None:
    _two_images(tmp_path)
    (tmp_path / "docker-bake.hcl").write_text(
        'group "default" { targets = ["app", "tools"] }\n'
        'target "app" {\n  args = { GREETING = "hello" }\n}\n'
        'target "tools" {\n  context = "tools"\n  dockerfile = "tools.Dockerfile"\n'
        '  target = "out"\n}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = buildorch(
        "bake", "-C", str(tmp_path), "--target", "amd64,arm64", "-o", str(out), "--json",
        env=engine.env(),
    )  # fmt: skip
    assert run.code == 0, run.err
    names = [target["name"] for target in run.json()["targets"]]
    assert names == ["app", "tools"]
    assert (out / "app/linux_amd64/app.txt").read_text() == "hello x86_64\n"
    assert (out / "app/linux_arm64/app.txt").read_text() == "hello aarch64\n"
    assert (out / "tools/linux_amd64/tools.txt").read_text() == "x86_64\n"
    assert (out / "tools/linux_arm64/tools.txt").read_text() == "aarch64\n"
    # the stage the bake target named, not the Dockerfile's last one
    assert not (out / "tools/linux_amd64/bin").exists()


def test_a_compose_file_builds_each_service(tmp_path: Path, classic: Engine, registry: str) -> None:
    _two_images(tmp_path)
    (tmp_path / "tools" / "Dockerfile").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  web:\n    build:\n      context: .\n      args: {GREETING: hi}\n"
        "  worker:\n    build:\n      context: ./tools\n      target: out\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = buildorch(
        "bake", "-C", str(tmp_path), "--target", "arm64", "-o", str(out), env=classic.env()
    )
    assert run.code == 0, run.err
    assert (out / "web/app.txt").read_text() == "hi aarch64\n"
    assert (out / "worker/tools.txt").read_text() == "aarch64\n"


@pytest.mark.parametrize(
    ("bake_file", "names", "says"),
    [
        ('target "app" {}\n', ["nope"], "failed to find target nope"),
        ('target "app" {\n', [], "Unclosed configuration block"),
    ],
)
def test_a_missing_target_or_a_malformed_file_is_buildx_own_error(
    tmp_path: Path, classic: Engine, bake_file: str, names: list[str], says: str
) -> None:
    _two_images(tmp_path)
    (tmp_path / "docker-bake.hcl").write_text(bake_file, encoding="utf-8")
    run = buildorch(
        "bake", *names, "-C", str(tmp_path), "--dry-run", env=classic.env(COLUMNS="200")
    )
    assert run.code == 4
    assert says in run.err
    assert "Traceback" not in run.err
