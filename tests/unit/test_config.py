"""The option cascade: each layer wins over the one below, and bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.config import (
    CiSettings,
    NativeBuilder,
    Runner,
    RunSettings,
    load_options,
    profile_name_from,
)
from buildorch.errors import ConfigError, ProjectError
from buildorch.history import Measured
from buildorch.plan import Sources, Strategy
from buildorch.profiles import Profile, costs_for, load_profiles, parse_profile, select_profile


@pytest.fixture
def profile() -> Profile:
    return load_profiles()["linux-amd64"]


def options(
    tmp_path: Path,
    profile: Profile,
    *,
    yaml: str | None = None,
    env: dict[str, str] | None = None,
    flags: dict[str, object] | None = None,
) -> object:
    if yaml is not None:
        (tmp_path / "buildorch.yaml").write_text(yaml)
    return load_options(project_dir=tmp_path, flags=flags or {}, env=env or {}, profile=profile)


def test_defaults_and_profile(tmp_path: Path, profile: Profile) -> None:
    opts = load_options(project_dir=tmp_path, flags={}, env={}, profile=profile)
    assert opts.targets == ()
    assert opts.output == "none"
    assert opts.context == "."
    assert opts.prefer == profile.prefer
    assert dict(opts.origins)["prefer"] == "profile linux-amd64"
    assert dict(opts.origins)["output"] == "default"


def test_options_need_no_profile(tmp_path: Path) -> None:
    (tmp_path / "buildorch.yaml").write_text("targets: [arm64]\n")
    opts = load_options(project_dir=tmp_path, flags={}, env={})
    assert [str(t) for t in opts.targets] == ["linux/arm64"]
    assert opts.prefer == ()
    assert "prefer" not in dict(opts.origins)


def test_costs_are_the_profiles_unless_this_host_measured_them(profile: Profile) -> None:
    costs = costs_for(profile, {})
    assert (costs.qemu.factor, costs.cross.factor) == (profile.costs.qemu, profile.costs.cross)
    assert costs.qemu.origin == "profile linux-amd64's figure"
    assert costs.mirror_min_seconds == profile.thresholds.mirror_min_seconds
    measured = Measured(factor=7.5, way="qemu", why="measured on this host: 2 builds")
    crossed = Measured(factor=1.3, way="cross", why="measured on this host: 1 build")
    costs = costs_for(profile, {"qemu": measured, "cross": crossed})
    assert (costs.qemu.factor, costs.qemu.origin) == (7.5, "measured on this host: 2 builds")
    assert (costs.cross.factor, costs.cross.origin) == (1.3, "measured on this host: 1 build")
    assert costs.emulated("rosetta") == costs.rosetta
    assert costs.rosetta.origin == "profile linux-amd64's figure"


def test_run_ci_and_builder_settings(tmp_path: Path, profile: Profile) -> None:
    (tmp_path / "buildorch.yaml").write_text(
        "run_image: debian:bookworm\nkeep: [target]\ncollect: build/app\n"
        "builders: {arm-box: arm64}\n"
        "ci: {runners: {linux/arm64: null, arm/v7: big-arm}, branches: release}\n"
    )
    opts = load_options(project_dir=tmp_path, flags={}, env={}, profile=profile)
    assert opts.run == RunSettings(
        image="debian:bookworm", keep=("target",), collect=("build/app",)
    )
    assert opts.native_builders == (NativeBuilder("arm-box", ("linux/arm64",)),)
    assert opts.ci == CiSettings(
        runners=(Runner("linux/amd64", "ubuntu-24.04"), Runner("linux/arm/v7", "big-arm")),
        branches=("release",),
    )


def test_sources_auto_gives_the_choice_back_to_the_planner(tmp_path: Path) -> None:
    (tmp_path / "buildorch.yaml").write_text("sources: mirror\n")
    assert load_options(project_dir=tmp_path, flags={}, env={}).sources is Sources.MIRROR
    env = {"BUILDORCH_SOURCES": "auto"}
    assert load_options(project_dir=tmp_path, flags={}, env=env).sources is None


def test_each_layer_wins_over_the_one_below(tmp_path: Path, profile: Profile) -> None:
    (tmp_path / "buildorch.yaml").write_text(
        "targets: [linux/arm64]\ndockerfile: Dockerfile.a\nprefer: [qemu, cross]\n"
        "tags: [app:yaml]\n"
    )
    from_file = load_options(project_dir=tmp_path, flags={}, env={}, profile=profile)
    assert [str(t) for t in from_file.targets] == ["linux/arm64"]
    assert from_file.prefer == (Strategy.QEMU, Strategy.CROSS)
    assert dict(from_file.origins)["targets"] == "buildorch.yaml"

    env = {"BUILDORCH_TARGETS": "amd64,arm64", "BUILDORCH_DOCKERFILE": "Dockerfile.b"}
    from_env = load_options(project_dir=tmp_path, flags={}, env=env, profile=profile)
    assert [str(t) for t in from_env.targets] == ["linux/amd64", "linux/arm64"]
    assert from_env.dockerfile == "Dockerfile.b"
    assert from_env.tags == ("app:yaml",)
    assert dict(from_env.origins)["targets"] == "env BUILDORCH_TARGETS"

    flags: dict[str, object] = {"targets": ["arm/v7"], "dockerfile": "Dockerfile.c"}
    from_flags = load_options(project_dir=tmp_path, flags=flags, env=env, profile=profile)
    assert [str(t) for t in from_flags.targets] == ["linux/arm/v7"]
    assert from_flags.dockerfile == "Dockerfile.c"
    assert dict(from_flags.origins)["dockerfile"] == "flag"


def test_output_forms(tmp_path: Path, profile: Profile) -> None:
    (tmp_path / "buildorch.yaml").write_text("output: {dir: out}\n")
    opts = load_options(project_dir=tmp_path, flags={}, env={}, profile=profile)
    assert (opts.output, opts.output_dir) == ("dir", str(tmp_path / "out"))
    env = {"BUILDORCH_OUTPUT": "dir:/tmp/x"}
    opts = load_options(project_dir=tmp_path, flags={}, env=env, profile=profile)
    assert (opts.output, opts.output_dir) == ("dir", "/tmp/x")


def test_build_args_as_mapping_or_pairs(tmp_path: Path, profile: Profile) -> None:
    (tmp_path / "buildorch.yaml").write_text("build_args: {A: '1', B: two}\n")
    opts = load_options(project_dir=tmp_path, flags={}, env={}, profile=profile)
    assert opts.build_args == (("A", "1"), ("B", "two"))
    flags: dict[str, object] = {"build_args": ["C=3=3"]}
    opts = load_options(project_dir=tmp_path, flags=flags, env={}, profile=profile)
    assert opts.build_args == (("C", "3=3"),)


@pytest.mark.parametrize(
    ("yaml", "env", "flags", "words"),
    [
        ("dockerflie: Dockerfile\n", {}, {}, "did you mean `dockerfile`"),
        ("targets: [arm64\n", {}, {}, "not valid YAML at line"),
        ("- just\n- a list\n", {}, {}, "must be a mapping"),
        ("strategy: qemuu\n", {}, {}, "did you mean `qemu`"),
        ("output: {folder: out}\n", {}, {}, "load, push, none or {dir: PATH}"),
        ("targets: 7\n", {}, {}, "bad value for `targets`"),
        ("dockerfile: [a]\n", {}, {}, "give `dockerfile` as a string"),
        ("keep: [../up]\n", {}, {}, "`../up` is not a path inside the project"),
        ("use_template: maybe\n", {}, {}, "use true or false"),
        ("sources: mirrorr\n", {}, {}, "did you mean `mirror`"),
        ("builders: [a]\n", {}, {}, "bad value for `builders` (from buildorch.yaml)"),
        ("ci: {cachee: gha}\n", {}, {}, "did you mean `cache`"),
        ("ci: {cache: registry}\n", {}, {}, "cache: registry needs cache_ref"),
        ("ci: {cache: s3}\n", {}, {}, "bad value for `ci.cache`"),
        ("ci: {runners: {arm64: 3}}\n", {}, {}, "give a runner label"),
        ("output: dir\n", {}, {}, "load, push, none or {dir: PATH}"),
        ("output: push\n", {}, {}, "--push needs a tag"),
        (None, {"BUILDORCH_STRATEGIE": "qemu"}, {}, "did you mean `BUILDORCH_STRATEGY`"),
        (None, {"BUILDORCH_PREFER": "native,fast"}, {}, "`fast` is not a strategy"),
        (None, {}, {"build_args": ["NOEQUALS"]}, "not KEY=VALUE"),
        (
            None,
            {"BUILDORCH_OUTPUT": "tar"},
            {},
            "bad value for `output` (from env BUILDORCH_OUTPUT)",
        ),
        ("strategy: qemuu\n", {}, {"strategy": "cross"}, "did you mean `qemu`"),
    ],
)
def test_bad_configuration_is_refused(
    tmp_path: Path,
    profile: Profile,
    yaml: str | None,
    env: dict[str, str],
    flags: dict[str, object],
    words: str,
) -> None:
    if yaml is not None:
        (tmp_path / "buildorch.yaml").write_text(yaml)
    with pytest.raises(ConfigError) as failure:
        load_options(project_dir=tmp_path, flags=flags, env=env, profile=profile)
    assert failure.value.exit_code == 3
    assert words in str(failure.value)


def test_profile_name_precedence(tmp_path: Path) -> None:
    (tmp_path / "buildorch.yaml").write_text("profile: wsl2-amd64\n")
    assert profile_name_from({}, {}, tmp_path) == "wsl2-amd64"
    assert profile_name_from({}, {"BUILDORCH_PROFILE": "macos-arm64"}, tmp_path) == "macos-arm64"
    flags: dict[str, object] = {"profile": "linux-arm64"}
    assert profile_name_from(flags, {"BUILDORCH_PROFILE": "x"}, tmp_path) == "linux-arm64"


def test_every_host_class_has_a_profile() -> None:
    profiles = load_profiles()
    for os_class, arch in [
        ("macos", "arm64"), ("macos", "amd64"), ("wsl2", "amd64"), ("wsl2", "arm64"),
        ("linux", "amd64"), ("linux", "arm64"),
    ]:  # fmt: skip
        chosen = select_profile(profiles, os=os_class, arch=arch, ci=None, name=None)
        assert chosen.name == f"{os_class}-{arch}"
    ci = select_profile(profiles, os="linux", arch="amd64", ci="github", name=None)
    assert ci.name == "github-actions"
    assert select_profile(profiles, os="linux", arch="s390x", ci=None, name=None).name == (
        "linux-amd64"
    )
    for profile in profiles.values():
        assert 1.0 <= profile.costs.cross < profile.costs.rosetta < profile.costs.qemu


def test_malformed_profile_names_the_key() -> None:
    text = (
        "name: x\ndescription: d\nmatch: {os: linux, arch: amd64}\n"
        "thresholds: {slow_stat_uss: 30}\ncosts: {cross: 1, qemu: 10, rosetta: 2}\n"
        "prefer: [native]\n"
    )
    with pytest.raises(ConfigError) as failure:
        parse_profile(text, "x.yaml")
    assert "thresholds.slow_stat_uss" in failure.value.why
    assert "did you mean `slow_stat_us`" in failure.value.why


def test_variables_of_the_provisioning_script_are_not_refused(
    tmp_path: Path, profile: Profile
) -> None:
    env = {"BUILDORCH_DEBIAN_MIRROR": "http://mirror.invalid/debian", "BUILDORCH_REGISTRY": "r"}
    opts = load_options(project_dir=tmp_path, flags={}, env=env, profile=profile)
    assert opts.output == "none"


def test_an_unknown_platform_is_a_project_error(tmp_path: Path) -> None:
    (tmp_path / "buildorch.yaml").write_text("targets: [linux/sparc]\n")
    with pytest.raises(ProjectError, match="unknown target platform"):
        load_options(project_dir=tmp_path, flags={}, env={})
