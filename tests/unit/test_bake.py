"""Bake and compose targets from buildx's own resolution, and the buildx options passed through."""

from __future__ import annotations

import json

import pytest

from buildorch.bake import ignored_keys, targets_from_print
from buildorch.buildx_flags import BuildxFlag, cache_export_refusal
from buildorch.commands.bake import _flags_for
from buildorch.errors import ConfigError, ProjectError

PRINTED = json.dumps(
    {
        "group": {"default": {"targets": ["app", "tools"]}},
        "target": {
            "app": {
                "context": ".",
                "dockerfile": "Dockerfile",
                "args": {"VERSION": "1"},
                "tags": ["localhost:5000/app:1"],
                "cache-from": ["type=registry,ref=x"],
                "secret": ["id=tok,env=TOK"],
                "platforms": ["linux/amd64", "linux/arm64"],
                "no-cache": True,
                "labels": {"org.opencontainers.image.title": "app"},
            },
            "tools": {
                "context": "tools",
                "dockerfile": "tools.Dockerfile",
                "target": "out",
                "output": ["type=local,dest=out"],
                "description": "the tools",
                "some-future-key": 1,
            },
        },
    }
)


def test_each_target_keeps_its_dockerfile_context_args_and_options() -> None:
    app, tools = targets_from_print(PRINTED, "docker-bake.hcl")
    assert (app.name, app.context, app.dockerfile) == ("app", ".", "Dockerfile")
    assert app.args == (("VERSION", "1"),)
    assert app.tags == ("localhost:5000/app:1",)
    assert app.platforms == ("linux/amd64", "linux/arm64")
    assert [f.argv() for f in app.flags] == [
        ("--cache-from", "type=registry,ref=x"),
        ("--secret", "id=tok,env=TOK"),
        ("--no-cache",),
        ("--label", "org.opencontainers.image.title=app"),
    ]
    assert (tools.context, tools.dockerfile, tools.build_target) == (
        "tools",
        "tools.Dockerfile",
        "out",
    )
    assert tools.outputs == ("type=local,dest=out",)


def test_what_buildorch_does_not_carry_over_is_named() -> None:
    assert ignored_keys(PRINTED) == {"tools": ("some-future-key",)}


@pytest.mark.parametrize(
    ("printed", "says"),
    [
        ("ERROR: nope", "other than JSON"),
        (json.dumps({"group": {}}), "defines no build target"),
        (json.dumps({"target": {"a": {"dockerfile-inline": "FROM scratch"}}}), "inline"),
    ],
)
def test_what_cannot_be_planned_is_a_project_error(printed: str, says: str) -> None:
    with pytest.raises(ProjectError, match=says):
        targets_from_print(printed, "docker-bake.hcl")


def test_a_build_arg_on_the_command_line_wins_over_the_targets_own() -> None:
    app = targets_from_print(PRINTED, "docker-bake.hcl")[0]
    flags: dict[str, object] = {"build_args": ["VERSION=2=rc", "EXTRA=x"]}
    assert _flags_for(app, flags)["build_args"] == {"VERSION": "2=rc", "EXTRA": "x"}
    assert _flags_for(app, {})["build_args"] == {"VERSION": "1"}


def test_a_build_arg_that_is_not_key_value_is_refused_as_build_refuses_it() -> None:
    app = targets_from_print(PRINTED, "docker-bake.hcl")[0]
    with pytest.raises(ConfigError) as caught:
        _flags_for(app, {"build_args": ["NOEQUALS"]})
    assert caught.value.what == "bad value for `build_args` (from flag)"
    assert "`NOEQUALS` is not KEY=VALUE" in caught.value.why


def test_secrets_are_shown_by_id_only() -> None:
    assert BuildxFlag(flag="--secret", value="id=tok,src=/home/me/.tok").shown() == (
        "--secret id=tok,..."
    )
    assert BuildxFlag(flag="--ssh", value="default").shown() == "--ssh default"
    assert BuildxFlag(flag="--network", value="host").shown() == "--network host"


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ("type=inline", False),
        ("type=registry,ref=localhost:5000/app:cache", True),
        ("localhost:5000/app:cache", True),  # a bare name is a registry cache
        ("type=local,dest=/tmp/c", True),
    ],
)
def test_the_classic_docker_driver_exports_only_an_inline_cache(spec: str, refused: bool) -> None:
    flags = (BuildxFlag(flag="--cache-to", value=spec),)
    assert (cache_export_refusal(flags, exports_cache=False) is not None) is refused
    assert cache_export_refusal(flags, exports_cache=True) is None


def test_each_target_writes_its_own_metadata_file_and_the_command_line_adds_up() -> None:
    app, tools = targets_from_print(PRINTED, "docker-bake.hcl")
    given = (
        BuildxFlag(flag="--metadata-file", value="out/meta.json"),
        BuildxFlag(flag="--no-cache"),
    )
    for target in (app, tools):
        flags = _flags_for(target, {"buildx": given})["buildx"]
        assert isinstance(flags, tuple)
        written = [f.value for f in flags if f.flag == "--metadata-file"]
        assert written == [f"out/meta.{target.name}.json"]
        # --no-cache is single: the target's own and the command line's make one
        assert [f.flag for f in flags].count("--no-cache") == 1
    app_flags = _flags_for(app, {"buildx": given})["buildx"]
    assert isinstance(app_flags, tuple)
    assert BuildxFlag(flag="--secret", value="id=tok,env=TOK") in app_flags
