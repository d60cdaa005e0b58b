"""`buildorch shortcuts`: a team's everyday build commands, one per target platform.

Shell scripts (POSIX sh) and PowerShell scripts under scripts/, make targets in buildorch.mk,
and npm scripts merged into package.json for Node projects; for a project with a bake or
compose file, the same for `buildorch bake`. Everything here is pure: the caller reads the
project into a `ShortcutSpec` and writes the result with `write_all`.

buildorch.yaml's buildx options and cache are not written into the shortcuts: `buildorch`
reads buildorch.yaml each time they run, so a change to it needs no new shortcuts. What the
shortcuts do carry is what those options need from the caller: the variables secrets are read
from are passed into WSL2, which sees no Windows variable unless WSLENV names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from buildorch.errors import ProjectError
from buildorch.generate.files import Generated, is_pristine, stamped
from buildorch.platforms import platform_slug

COMMAND = "shortcuts"
MAKE_FRAGMENT = "buildorch.mk"
_INCLUDE = re.compile(r"^\s*-?include\s+(?:\S+/)?buildorch\.mk\s*$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True, slots=True)
class ShortcutSpec:
    """What the shortcuts depend on, read from the project by the caller."""

    targets: tuple[str, ...]
    """OCI platforms, in the user's order: `linux/amd64`, `linux/arm/v7`."""
    package_json: str | None = None
    """The current text of package.json; None when it is not a Node project."""
    makefile: str | None = None
    """The current text of the project's Makefile; None when there is none."""
    bake: bool = False
    """The project has a bake or compose file to build (`buildorch bake`)."""
    secret_variables: tuple[str, ...] = ()
    """The environment variables buildorch.yaml's secrets are read from."""


def shortcuts(spec: ShortcutSpec, *, force: bool = False) -> list[Generated]:
    """Every file `buildorch shortcuts` writes for `spec`, in a stable order."""
    if not spec.targets:
        raise ProjectError(
            "no target platform to write shortcuts for",
            fix="name them with --target, or `targets:` in buildorch.yaml",
        )
    files: list[Generated] = []
    for verb in _verbs(spec):
        for name, targets in _builds(spec.targets):
            files.append(
                Generated(
                    path=f"scripts/{verb}-{name}.sh",
                    text=stamped(_sh(verb, name, targets), COMMAND),
                    why=_why(verb, targets, "from any directory; extra flags pass through"),
                    executable=True,
                )
            )
            files.append(
                Generated(
                    path=f"scripts/{verb}-{name}.ps1",
                    text=stamped(_ps1(verb, name, targets, spec.secret_variables), COMMAND),
                    why=_why(
                        verb, targets, "from PowerShell, in WSL2 when buildorch is not on PATH"
                    ),
                )
            )
    files.append(
        Generated(
            path=MAKE_FRAGMENT,
            text=stamped(_make_fragment(spec.targets, _verbs(spec)), COMMAND),
            why="make "
            + ", ".join(
                f"{verb}-{name}" for verb in _verbs(spec) for name, _ in _builds(spec.targets)
            )
            + "; extra flags in BUILDORCH_FLAGS",
        )
    )
    if _owns_makefile(spec):
        files.append(
            Generated(
                path="Makefile",
                text=stamped(_makefile(), COMMAND),
                why=f"there was none: it includes {MAKE_FRAGMENT}",
            )
        )
    if spec.package_json is not None:
        files.append(
            Generated(
                path="package.json",
                text=merge_package_json(
                    spec.package_json, spec.targets, force=force, verbs=_verbs(spec)
                ),
                why="npm run "
                + ", ".join(
                    f"{verb}:{name}" for verb in _verbs(spec) for name, _ in _builds(spec.targets)
                )
                + ", merged into your scripts",
                merged=True,
            )
        )
    return files


def makefile_advice(spec: ShortcutSpec) -> str | None:
    """What to add to the user's own Makefile for the make targets, if anything."""
    if _owns_makefile(spec) or (spec.makefile is not None and _INCLUDE.search(spec.makefile)):
        return None
    return (
        f"add `include {MAKE_FRAGMENT}` to your Makefile for `make build-all` "
        f"(or run `make -f {MAKE_FRAGMENT} build-all`)"
    )


def merge_package_json(
    text: str,
    targets: tuple[str, ...],
    *,
    force: bool = False,
    verbs: tuple[str, ...] = ("build",),
) -> str:
    """package.json with the build scripts merged into `scripts`: every other key, the key
    order and the indentation kept; a script of the user's own of the same name refused."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"package.json is not valid JSON (line {exc.lineno}, column {exc.colno})",
            why=exc.msg,
            fix="repair package.json (`npm pkg get name` checks it), then run again",
        ) from exc
    scripts = document.get("scripts", {}) if isinstance(document, dict) else None
    if not isinstance(scripts, dict):
        raise ProjectError(
            "package.json has no `scripts` object to add the build scripts to",
            why="it is not a JSON object, or its `scripts` is not one",
            fix='make it an object with `"scripts": {}`, then run again',
        )
    wanted = {
        f"{verb}:{name}": f"buildorch {verb} --target {','.join(group)}"
        for verb in verbs
        for name, group in _builds(targets)
    }
    theirs = [
        name
        for name, command in wanted.items()
        if name in scripts and scripts[name] != command and not _is_ours(scripts[name])
    ]
    if theirs and not force:
        raise ProjectError(
            "package.json already has scripts named " + ", ".join(theirs),
            why="they are your own (they do not run `buildorch ...`), and would be replaced",
            fix="rename them, or pass --force to replace them with buildorch's",
        )
    if all(scripts.get(name) == command for name, command in wanted.items()):
        return text  # nothing to add: the user's formatting stays byte for byte
    merged: dict[str, Any] = {**document, "scripts": {**scripts, **wanted}}
    newline = "\r\n" if "\r\n" in text else "\n"
    dumped = json.dumps(merged, indent=_indent(text), ensure_ascii=False)
    ending = newline if text.endswith(("\n", "\r\n")) else ""
    return dumped.replace("\n", newline) + ending


def _is_ours(command: object) -> bool:
    return isinstance(command, str) and command.startswith("buildorch ")


def _indent(text: str) -> str | int:
    """The indentation of the first nested line (tabs or spaces); npm's 2 when none is."""
    match = re.search(r"\n([ \t]+)\S", text)
    return match.group(1) if match else 2


def _builds(targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """(shortcut name, platforms): one per target, then `all` of them in one call."""
    return [*((platform_slug(t), (t,)) for t in targets), ("all", targets)]


def _verbs(spec: ShortcutSpec) -> tuple[str, ...]:
    """The buildorch commands the shortcuts run: build, and bake for a bake or compose file."""
    return ("build", "bake") if spec.bake else ("build",)


def _why(verb: str, targets: tuple[str, ...], how: str) -> str:
    what = targets[0] if len(targets) == 1 else ", ".join(targets) + " in one call"
    if verb == "bake":
        return f"bakes the bake file's targets (or those named) for {what} {how}"
    return f"builds {what} {how}"


def _owns_makefile(spec: ShortcutSpec) -> bool:
    """No Makefile, or the one buildorch wrote and nobody edited since."""
    return spec.makefile is None or is_pristine(spec.makefile)


def _usage(verb: str, name: str, targets: tuple[str, ...], examples: tuple[str, ...]) -> str:
    """The script's opening comment: what it builds, and how to call it."""
    platforms = ", ".join(targets)
    if verb == "bake":
        head = (
            f"# Builds the targets of this project's bake or compose file for {platforms}\n"
            "# with buildorch, from any directory: all of its default group, or those named:\n"
        )
    else:
        head = f"# Builds this project for {platforms} with buildorch, from any directory:\n"
    return head + "".join(f"#   {example}\n" for example in examples)


def _sh(verb: str, name: str, targets: tuple[str, ...]) -> str:
    target = ",".join(targets)
    script = f"scripts/{verb}-{name}.sh"
    if verb == "bake":
        examples = (f"{script} -o out           # files of target T in ./out/T",
                    f"{script} api web --push")  # fmt: skip
    else:
        examples = (f"{script} -o out          # the files, into ./out",
                    f"{script} --push --tag NAME:TAG")  # fmt: skip
    return f"""#!/bin/sh
{_usage(verb, name, targets, examples)}\
# Flags pass through to `buildorch {verb}`; relative paths in them are from where you are.
# Regenerate with `buildorch shortcuts` after changing the targets.
set -eu
# the project is the folder above this script, wherever it is run from
project=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
if command -v buildorch >/dev/null 2>&1; then
  exec buildorch {verb} -C "$project" --target {target} "$@"
fi
exec python3 -m buildorch {verb} -C "$project" --target {target} "$@"
"""


def _ps1(verb: str, name: str, targets: tuple[str, ...], variables: tuple[str, ...] = ()) -> str:
    target = ",".join(targets)
    script = f"scripts\\{verb}-{name}.ps1"
    examples = (f"{script} api web -o out",) if verb == "bake" else (f"{script} -o out",)
    wsl = f"& wsl.exe --cd $project '--' buildorch {verb} --target '{target}' @args"
    if variables:
        shared = ":".join(f"{variable}/u" for variable in variables)
        wsl = f"""# buildorch.yaml's secrets are read from {", ".join(variables)}: WSL2 sees a
    # Windows variable only when WSLENV names it (`/u`: from Windows into WSL)
    $wslenv = $env:WSLENV
    $env:WSLENV = (@($env:WSLENV, '{shared}') | Where-Object {{ $_ }}) -join ':'
    try {{
        {wsl}
    }} finally {{
        $env:WSLENV = $wslenv
    }}"""
    return f"""{_usage(verb, name, targets, examples)}\
# Flags pass through to `buildorch {verb}`. Without buildorch on Windows itself it runs in
# WSL2, where Docker builds happen; relative paths in flags are then from the project.
# The targets are quoted: a bare comma would make them a list, passed as separate words.
# Regenerate with `buildorch shortcuts` after changing the targets.
$project = Split-Path -Parent $PSScriptRoot
if (Get-Command buildorch -ErrorAction SilentlyContinue) {{
    & buildorch {verb} -C $project --target '{target}' @args
}} elseif (Get-Command wsl.exe -ErrorAction SilentlyContinue) {{
    # '--' quoted: Windows PowerShell drops a bare one before it reaches wsl.exe
    {wsl}
}} else {{
    [Console]::Error.WriteLine(
        "buildorch was not found: install it in WSL2 (where Docker builds happen) " +
        "or on Windows, then run this script again")
    exit 1
}}
exit $LASTEXITCODE
"""


def _make_fragment(targets: tuple[str, ...], verbs: tuple[str, ...] = ("build",)) -> str:
    builds = _builds(targets)
    rules = "".join(
        f"\n{verb}-{name}:\n"
        f'\t$(BUILDORCH) {verb} -C "$(BUILDORCH_PROJECT)" --target {",".join(group)} '
        "$(BUILDORCH_FLAGS)\n"
        for verb in verbs
        for name, group in builds
    )
    phony = " ".join(f"{verb}-{name}" for verb in verbs for name, _ in builds)
    bake = (
        '#   make bake-all BUILDORCH_FLAGS="api web -o out"   # targets of the bake file\n'
        if "bake" in verbs
        else ""
    )
    return f"""# buildorch's builds of this project, one make target per platform:
#   make build-all BUILDORCH_FLAGS="-o out"
#   make -f path/to/{MAKE_FRAGMENT} build-{builds[0][0]}      # from anywhere
{bake}# Include it from the project's Makefile with `include {MAKE_FRAGMENT}`.
# Regenerate with `buildorch shortcuts` after changing the targets.

BUILDORCH ?= buildorch
BUILDORCH_FLAGS ?=
# make exports variables set on its command line: buildorch refuses BUILDORCH_* it does not know
unexport BUILDORCH_FLAGS BUILDORCH_PROJECT
# the project is this file's folder, wherever make runs from (`:=` reads it now, before
# another include changes MAKEFILE_LIST)
buildorch_self := $(abspath $(lastword $(MAKEFILE_LIST)))
BUILDORCH_PROJECT := $(patsubst %/,%,$(dir $(buildorch_self)))
buildorch_default_goal := $(.DEFAULT_GOAL)

.PHONY: {phony}
{rules}
# by itself (make -f {MAKE_FRAGMENT}), `make` builds all; included, even at the top of a
# Makefile, these rules must not take over its default goal
ifeq ($(abspath $(firstword $(MAKEFILE_LIST))),$(buildorch_self))
.DEFAULT_GOAL := build-all
else
.DEFAULT_GOAL := $(buildorch_default_goal)
endif
"""


def _makefile() -> str:
    return f"""# The project had no Makefile: this one only brings in buildorch's builds.
include {MAKE_FRAGMENT}

.DEFAULT_GOAL := build-all
"""
