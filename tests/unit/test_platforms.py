from __future__ import annotations

import pytest

from buildorch.errors import ProjectError
from buildorch.platforms import Platform, arch_from_machine, parse_platform, parse_targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arm64", "linux/arm64"),
        ("aarch64", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("amd64", "linux/amd64"),
        ("x86_64", "linux/amd64"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("arm", "linux/arm/v7"),
        ("armv7l", "linux/arm/v7"),
        ("  Linux/ARM64 ", "linux/arm64"),
        ("riscv64", "linux/riscv64"),
    ],
)
def test_targets_users_type(text: str, expected: str) -> None:
    assert str(parse_platform(text)) == expected


@pytest.mark.parametrize("text", ["linux/arm65", "arm65", "windows/amd64", "mips"])
def test_unknown_targets_are_refused_with_a_suggestion(text: str) -> None:
    with pytest.raises(ProjectError) as failure:
        parse_platform(text)
    assert failure.value.exit_code == 4
    assert text in failure.value.what
    assert "--target" in failure.value.fix


def test_arm65_suggests_arm64() -> None:
    with pytest.raises(ProjectError) as failure:
        parse_platform("linux/arm65")
    assert "did you mean `linux/arm64`" in failure.value.fix


def test_repeated_and_comma_targets_keep_order_without_repeats() -> None:
    parsed = parse_targets(["linux/arm64,linux/amd64", "arm64", "arm/v7"])
    assert [str(p) for p in parsed] == ["linux/arm64", "linux/amd64", "linux/arm/v7"]


def test_names_for_files_and_tags() -> None:
    platform = Platform("linux", "arm", "v7")
    assert platform.slug == "linux-arm-v7"
    assert platform.dir_name == "linux_arm_v7"


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"), ("armv7l", "arm/v7"),
     ("sparc", None)],
)  # fmt: skip
def test_uname_machine(machine: str, arch: str | None) -> None:
    assert arch_from_machine(machine) == arch
