"""The project's own Dockerfile, cross-compiling: which stages can move to the build machine,
and the Dockerfile that moves them. Pure: records in, verdicts and text out.

A stage whose products leave only through `COPY --from` (a builder) can run on $BUILDPLATFORM
and build for the target, if nothing in it picks binaries for the machine it runs on. Such a
stage gets `--platform=$BUILDPLATFORM` and, before its first step, the cross kit
(shipped/cross/kit.sh): set up once, then made the stage's SHELL prefix, so that every RUN
step of the user's runs unchanged with the target's compilers, packages and environment. The
stage ends with a check that every ELF file the later stages copy from it is the target's.
The stage that becomes the image, and every stage it is built on, stays on the target; a
builder built on one of those is built on a copy of it (and of the stages it is built on)
that moves.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from buildorch.apt_lists import NativeUpdate, helper_stages, native_update, step_mounts
from buildorch.dockerfile import (
    Arg,
    Copy,
    Dockerfile,
    Env,
    Instruction,
    Run,
    Stage,
    Variable,
    Workdir,
    flag_value,
)

# a folder of its own at the top, where no copy of a project's files reaches (`COPY --from=build
# /usr/local /usr/local` after `make install`; a copy of / keeps its stage on the target), so it
# stays for the steps of every stage built on this one, reached or not (`--target test`)
KIT_DIR = "/buildorch-cross"
KIT = f"{KIT_DIR}/kit"
# the compiler cache of moved steps: the kit keeps a folder per target inside it
CACHE_DIR = "/root/.cache/buildorch-cross"
CACHE_MOUNT = f"--mount=type=cache,id=buildorch-cross,target={CACHE_DIR}"
_NATIVE_UPDATE = (
    "its first step's apt-get update runs on the build machine, for the target's architecture "
    "with the sources the stage starts from; the rest of the step runs as written"
)
_RUN_KEYWORD = re.compile(r"^(\s*RUN)(\s+)", re.IGNORECASE)

# Steps that choose binaries by the machine they run on: moved, they would fetch or build the
# build machine's. (Running a freshly built target program needs no rule: a moved stage runs
# it through the emulator that binfmt_misc registers, as a native build would run it, with the
# cross compiler's loader and C library: the kit's QEMU_LD_PREFIX.)
_PYTHON_INSTALLERS = re.compile(
    r"\b(pip3?|pipx|pipenv|poetry|conda|mamba|micromamba)\s+(install|sync|wheel)\b"
    r"|\buv\s+(pip\s+install|sync)\b|\bpython3?\s+(-m\s+pip\b|setup\.py\b)"
    # the build frontends, which build wheels with the build machine's tags and compilers
    r"|\bpython3?\s+-m\s+build\b|\b(uv|poetry|pdm|hatch)\s+build\b|\bmaturin\b"
    r"|\bcibuildwheel\b|\b(pyinstaller|nuitka|shiv|pex)\b"
)
# `pip install` of packages (build tools from PyPI, newer than distributions': meson, ninja;
# a requirements file's code generators: jinja2, pyyaml) runs what the stage's steps run: the
# build machine's are right, as long as no later stage copies where pip puts them (site-
# packages, a virtual environment), and the kit's check reads every ELF file it hands over.
# What installs a project (`-e .`, `.`, an archive) builds it for the machine pip runs on; a
# folder of the step's choosing (`--target /deps`) may be what a later stage takes
_PIP_ELSEWHERE = frozenset(
    {"-e", "--editable", "-t", "--target", "--prefix", "--root", "--platform"}
)
_PIP_VALUE_OPTIONS = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
     "-f", "--find-links", "--trusted-host", "--cache-dir", "--progress-bar", "--src", "--log",
     "--timeout", "--retries", "--proxy", "--cert", "--client-cert", "--upgrade-strategy",
     "--only-binary", "--no-binary", "-C", "--config-settings", "--python-version",
     "--implementation", "--abi", "--report"}
)  # fmt: skip
# a requirement by name: `meson`, `meson==1.4.0`, `uvicorn[standard]>=0.30`
_PIP_REQUIREMENT = re.compile(r"[A-Za-z0-9][\w.-]*(\[[\w,.-]+\])?([<>=!~][^/\s]*)?")
# a virtual environment the steps create, where pip installs once it is active
_VENV = re.compile(r"\bpython[\d.]*\s+-m\s+venv\b|\bvirtualenv\b|\buv\s+venv\b")
_PIP_PLACES = ("/usr/local", "/usr/lib/python3", "/root/.local")
_DOWNLOADED_INSTALLER = re.compile(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|da|z)?sh\b")
# rustup's installer (`curl https://sh.rustup.rs | sh -s -- -y`): the build machine's Rust
# toolchain is the one a moved stage needs, and the kit's cargo adds the target's standard
# library to it (`rustup target add`), as for the rustup of the Rust images
_RUSTUP_INSTALLER = re.compile(
    r"\b(curl|wget)\b[^|;&]*\bsh\.rustup\.rs\b[^|;&]*\|\s*(sudo\s+)?(ba|da|z)?sh\b"
)
# Node's installers put the packages they fetch (native modules for the machine they run on:
# esbuild's, swc's) in node_modules where they run, or in a global prefix. A stage that hands
# over none of it (a frontend's `dist/`) moves: the bundlers run on the build machine, as they
# should, and the kit's check still reads every ELF file the stage hands over
_NODE_INSTALLER = re.compile(
    r"\b(npm|yarn|pnpm|bun)\b([^;&|\n]*\s)?(install|ci|add|i)\b"
    # a bare `yarn` installs too (with its options only: `yarn --frozen-lockfile`)
    r"|(^|[;&|(]\s*)yarn(\s+--?[\w-]+(=\S+)?)*\s*($|[;&|)])",
    re.MULTILINE,
)
_NODE_GLOBAL = ("/usr/local/lib/node_modules", "/usr/lib/node_modules", "/usr/local/bin")
# the options that name the folder an installer works in
_NODE_FOLDER_OPTIONS = frozenset({"--prefix", "-C", "--dir", "--cwd"})
_UNSAFE_STEPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_PYTHON_INSTALLERS, "Python installers pick wheels built for the machine they run on"),
    (
        _NODE_INSTALLER,
        "Node installers fetch native modules for the machine they run on, into a folder "
        "the step does not name plainly (`cd $DIR`, a subshell)",
    ),
    (
        re.compile(r"\bnode-gyp\b|prebuild-install"),
        "it builds or fetches a native module for the machine it runs on",
    ),
    (
        re.compile(r"\b(gem|bundle)\s+install\b|\bpecl\s+install\b|\bcpanm\b"),
        "it installs native extensions for the machine it runs on",
    ),
    (
        _DOWNLOADED_INSTALLER,
        "it runs a downloaded installer, which picks binaries for the machine it runs on",
    ),
    (
        re.compile(
            r"\buname\s+-[a-z]*[mp]|\$\(\s*arch\s*\)|`arch`|dpkg\s+--print-architecture"
            r"|\bgo\s+env\s+GOARCH\b"
        ),
        "it asks which machine it runs on",
    ),
    (
        re.compile(
            r"\bdotnet\s+(publish|build)\b|\bjlink\b|\bnative-image\b|\bbazel(isk)?\b"
            r"|\bbuck2?\b|\bzig\s+(build|cc)\b"
        ),
        "its toolchain does not read the cross-compiling environment",
    ),
    (
        re.compile(
            r"-march=native|\s-m(32|64)\b|\b(x86_64|aarch64|i686|arm)-linux-gnu\w*-(gcc|g\+\+|ld)\b"
        ),
        "it names a machine itself",
    ),
    (
        # by its path no wrapper first in PATH reaches it (`-DCMAKE_C_COMPILER=/usr/bin/gcc`,
        # `CC=/usr/bin/gcc-12 make`, `sudo -E /usr/bin/gcc`, `find -exec /usr/bin/strip`, an
        # exec form's first word); a path in the stage's ENV is the kit's to mend
        re.compile(
            r"(?:(?:^|[;&|(`]|\[\s*\"|\s-exec)\s*"
            r"(?:(?:env|exec|command|nice|time|sudo|ccache|sccache|distcc)(?:\s+-\S+)*\s+)*"
            r"|=[\"']?)"
            r"(?:/usr(?:/local)?)?/bin/(?:gcc|g\+\+|cc|c\+\+|cpp|clang|clang\+\+|ld|as|ar|ranlib"
            r"|strip|objcopy)(?:-\d+(?:\.\d+)*)?(?=$|[\s;&|)\"'`])",
            re.MULTILINE,
        ),
        "it names the build machine's compiler or binutils by their path, which compile for "
        "the build machine (by its name alone, `gcc`, a moved stage reaches the target's)",
    ),
    (
        re.compile(r"\bldd\b"),
        "ldd runs the build machine's loader, which cannot list a target program's libraries",
    ),
    (
        re.compile(r"\b(dnf|yum|microdnf|zypper)\s+(install|update)\b"),
        "RPM distributions install one architecture's libraries per system (no multiarch)",
    ),
)
# Alpine's packages that compile or link for the machine they are installed on: a compiler, its
# C library's files, a library to link (-dev, -static). apk has no multiarch, so a moved stage
# would get the build machine's, and the target's would need a sysroot of their own (what
# xx-apk builds). The other packages are tools the steps run (git, make, ca-certificates,
# Go's own compiler, which the kit points at the target): the build machine's are right
_APK_COMPILING = re.compile(
    r"^(.+-dev|.+-static|build-base|alpine-sdk|gcc|g\+\+|gfortran|clang(\d+)?|llvm(\d+)?(-.+)?"
    r"|tcc|zig|musl-dev|libc-dev|linux-headers|binutils|lld|mold|rust(-.+)?|cargo(-.+)?|rustup)$"
)
# apk's options that take a value (`--virtual .build-deps`, `--repository URL`)
_APK_VALUE_OPTIONS = frozenset(
    {"-t", "--virtual", "-X", "--repository", "--repositories-file", "-p", "--root", "--arch",
     "--cache-dir", "--keys-dir", "--cache-max-age", "--wait", "--timeout", "--progress-fd"}
)  # fmt: skip
# an image's own tag naming Alpine (`alpine:3.20`, `rust:1-alpine`, `golang:1.23-alpine3.20`)
_ALPINE_IMAGE = re.compile(r"(^|[/:@-])alpine([\d.:-]|$)", re.IGNORECASE)
# a step that runs a C compiler or Rust's: on Alpine the kit has neither the target's C library
# nor Rust's standard library to link with (Go needs neither). A build system alone (make) is
# no sign: the image has a C compiler only if an apk add brought one, which keeps the stage
_C_OR_RUST_STEP = re.compile(r"(^|[\s/])(cargo|rustc|gcc|g\+\+|cc|c\+\+|clang(\+\+)?)(\s|$)")


# cargo's intermediate files, which a step may remove to force a rebuild (the dummy-main
# trick: `rm target/release/deps/app*`); a cross build keeps them under target/<triple>/
_CARGO_INTERMEDIATES = re.compile(
    r"(^|[\s/=\"'])target/[\w.-]+/(deps|build|\.fingerprint|incremental)([/*\s\"']|$)"
)
# cargo's target folder, a profile's folder in it, or its intermediate files, as a later
# stage copies them whole (`COPY --from=build /src/target/release /opt/app`): a cross build
# keeps there the build scripts and proc macros it runs, built for the build machine
_CARGO_FOLDER = re.compile(
    r"(^|/)target(/[\w.-]+)?/?(\*)?$"
    r"|(^|/)target/[\w.-]+/(deps|build|\.fingerprint|incremental)(/|$)"
)
# a step that names an archive for an architecture: ubuntu-ports, `[arch=arm64]`, deb822's
# `Architectures:`
_NAMES_ARCHIVE = re.compile(r"ubuntu-ports|\[arch=|\barch=[\w,]+\]|Architectures:")
_RUST_STEP = re.compile(r"(^|[\s/])(cargo|rustc)([\s:=]|$)")
_MESON_STEP = re.compile(r"(^|[\s/;&|(])meson(\s|$)", re.MULTILINE)
# an apt-get install word that may name a package for the target, or that the text leaves open
_MAYBE_TARGETS = re.compile(r"^lib(?!tool)|-dev(:|$)|[:$`*?\[]")
# an Ubuntu image by its name, or by a tag that names a release (`eclipse-temurin:21-jdk-jammy`,
# `buildpack-deps:noble`, `.../dotnet/sdk:8.0-jammy`)
_UBUNTU_IMAGE = re.compile(
    r"(^|/)ubuntu(:|@|$)|[:-]ubuntu\d|:([\w.-]+-)?(xenial|bionic|focal|jammy|kinetic|lunar|mantic"
    r"|noble|oracular|plucky|questing|resolute)(-|@|$)",
    re.IGNORECASE,
)
# words that run the command after them (with their options): `xargs -r apk add`, `if apk ...`
_RUNS_NEXT = frozenset({"xargs", "if", "then", "else", "do", "!", "{", "", "nice", "nohup"})
_PACKAGE_MANAGER = re.compile(r"(^|[\s/])(apk|apt-get|apt|aptitude)\s")
_REDIRECT = re.compile(r"\d*(<<<|<|>>|>)")


def _commands(script: str) -> list[str]:
    """The script's commands, a heredoc's continued lines joined (it keeps them: one command,
    not one per line)."""
    return _COMMAND_SEPARATOR.split(script.replace("\\\n", " "))


def _root_image(dockerfile: Dockerfile, stage: Stage) -> str:
    """The image the stage's chain of stages starts from, as written with its global ARGs."""
    root = dockerfile.chain(stage)[-1]
    return dockerfile.expand_global(root.base) or root.base


def _chain_runs(dockerfile: Dockerfile, stage: Stage, pattern: re.Pattern[str]) -> bool:
    """Whether a step of the stage, or of a stage it is built on, matches `pattern`."""
    return any(
        isinstance(i, Run) and pattern.search(i.script)
        for s in dockerfile.chain(stage)
        for i in s.instructions
    )


def _apk_at(words: list[str]) -> int | None:
    """Where apk runs in a command's words: first, or after what runs a command without being
    it (`sudo`, `xargs -r`, `if`, `(`); not a path that ends in apk (`mkdir /out/apk`)."""
    for i, word in enumerate(words):
        if word == "apk" or (word.endswith("/apk") and word.startswith("/")):
            return i
        if not (_COMMAND_PREFIX.match(word) or word in _RUNS_NEXT or word.startswith("-")):
            return None
    return None


def _runs_apk(script: str) -> bool:
    return any(
        _apk_at([w.strip("()'\"") for w in command.split()]) is not None
        for command in _COMMAND_SEPARATOR.split(script)
    )


def _apk_compiling(script: str) -> str | None:
    """What an `apk add` of the script installs that compiles or links: its first such
    package, or packages it is given unseen (`$DEPS`, through xargs, from a file)."""
    for command in _commands(script):
        # `apk --no-cache add`, `xargs apk add`, `(apk add ...)`: apk anywhere, its options first
        words = [w.strip("()'\"") for w in command.split()]
        at = _apk_at(words)
        if at is None:
            continue
        if "xargs" in words[:at]:
            return "the packages xargs passes it"
        arguments = iter(words[at + 1 :])
        adding = False
        named = 0
        for word in arguments:
            if _REDIRECT.match(word):
                if _REDIRECT.fullmatch(word):
                    next(arguments, None)  # the redirect's file
                continue
            if word.startswith("-"):
                if "=" not in word and word in _APK_VALUE_OPTIONS:
                    next(arguments, None)
            elif not adding:
                if word != "add":
                    break
                adding = True
            elif "$" in word or "`" in word:
                return word
            else:
                named += 1
                name = re.split(r"[=<>~@]", word, maxsplit=1)[0]
                if _APK_COMPILING.match(name):
                    return name
        if adding and not named:
            return "packages it reads from elsewhere"
    return None


def _ubuntu_dev_without_ports(dockerfile: Dockerfile, stage: Stage) -> str | None:
    """On an Ubuntu image whose steps never name another archive: the first `-dev` library
    an apt-get install of the stage names. Ubuntu publishes amd64 and i386 in one archive and
    the other architectures in ubuntu-ports, and an image's sources name its own only, so the
    target's libraries cannot be found (the kit says so when it installs them)."""
    if not _UBUNTU_IMAGE.search(_root_image(dockerfile, stage)):
        return None
    if _chain_runs(dockerfile, stage, _NAMES_ARCHIVE):
        return None
    rust = _chain_runs(dockerfile, stage, _RUST_STEP)
    for _, words in _apt_installs(stage):
        for word in words:
            name = _package_name(word)
            # bindgen's libclang is the build machine's in a Rust stage (as the kit has it)
            bindgen = rust and re.fullmatch(r"libclang(-\d+)?-dev", name)
            if name.endswith("-dev") and name != "libc6-dev" and ":" not in name and not bindgen:
                return name
    return None


def _apt_installs(stage: Stage) -> Iterator[tuple[str, list[str]]]:
    """Each `apt-get install` (or `apt install`) command of the stage, with the words after
    `install`."""
    for instruction in stage.instructions:
        if not isinstance(instruction, Run):
            continue
        for command in _commands(instruction.script):
            words = command.split()
            if any(w.endswith(("apt-get", "apt")) for w in words) and "install" in words:
                yield command, words[words.index("install") + 1 :]


def _package_name(word: str) -> str:
    """The package an install word names, without its `=version` or `/release`."""
    return re.split(r"[=/]", word, maxsplit=1)[0]


def _installs_tools_only(stage: Stage) -> bool:
    """Whether every apt-get install of the stage names packages that read as tools (`g++`,
    `make`, `cmake`, `libc6-dev`, which serves the build machine's compiler): no `-dev`
    library, no `lib...` package, no architecture, nothing the text leaves open (`$PKGS`).
    A guess, for speed only: the kit fetches the target's lists if a package needs them."""
    for command, words in _apt_installs(stage):
        if "xargs" in command.split() or _REDIRECT.search(command):
            return False
        for word in words:
            name = _package_name(word)
            if not word.startswith("-") and name != "libc6-dev" and _MAYBE_TARGETS.search(name):
                return False
    return True


def _pip_installs_packages_only(script: str) -> bool:
    """Whether every Python installer of the script is `pip install` of packages, by name or
    from a requirements file (`pip3 install --no-cache-dir meson==1.4.0 ninja`, `pip install
    -r requirements.txt`), into pip's own places: no project or archive, no folder of the
    step's choosing, no wheel built."""
    for command in _commands(script):
        if not _PYTHON_INSTALLERS.search(command):
            continue
        words = command.split()
        if "install" not in words or not any(w.endswith(("pip", "pip3")) for w in words):
            return False
        given = words[words.index("install") + 1 :]
        skip = False
        for word in given:
            if skip:
                skip = False
                continue
            option = word.split("=")[0]
            if option in _PIP_ELSEWHERE:
                return False
            if word.startswith("-"):
                skip = option in _PIP_VALUE_OPTIONS and "=" not in word
                continue
            if not _PIP_REQUIREMENT.fullmatch(word.strip("'\"")):
                return False  # a project, an archive, a URL
    return True


def _commands_in_folders(
    dockerfile: Dockerfile, stage: Stage, pattern: re.Pattern[str]
) -> Iterator[tuple[str, list[str]]]:
    """Each command matching `pattern` in the stage and the stages it is built on, with the
    folder it runs in (WORKDIR, then a `cd` before it in its step); "" where the text does not
    say (`cd $DIR`, a subshell)."""
    for each in reversed(dockerfile.chain(stage)):
        workdir = "/"
        for instruction in each.instructions:
            if isinstance(instruction, Workdir):
                workdir = _folder(workdir, [instruction.path])
            if not isinstance(instruction, Run) or not pattern.search(instruction.script):
                continue
            cwd = workdir
            for command in _commands(instruction.script):
                words = command.split()
                if words[:1] == ["cd"]:
                    cwd = _folder(cwd, words[1:2])
                elif command.lstrip().startswith("("):
                    cwd = ""
                if pattern.search(command):
                    yield cwd, words


def _folder(cwd: str, given: list[str]) -> str:
    """The folder `cd`, WORKDIR or an option names from `cwd`; "" when the text does not say."""
    if not cwd or not given or "$" in given[0] or "`" in given[0] or given[0] in ("-", "~"):
        return ""
    return posixpath.normpath(posixpath.join(cwd, given[0].strip("'\"")))


def _node_places(dockerfile: Dockerfile, stage: Stage) -> list[str] | None:
    """Where the Node installers of the stage, and of the stages it is built on, put what they
    fetch: each one's node_modules (its working folder's: WORKDIR, a `cd`, `--prefix`) and
    the global prefix for `-g`. None when a folder cannot be told from the text (`cd $DIR`)."""
    places: list[str] = []
    for cwd, words in _commands_in_folders(dockerfile, stage, _NODE_INSTALLER):
        if {"-g", "--global", "global"} & set(words):
            places.extend(_NODE_GLOBAL)
            continue
        folder = cwd
        for i, word in enumerate(words):
            name, _, value = word.partition("=")
            if name in _NODE_FOLDER_OPTIONS:
                folder = _folder(cwd, [value] if value else words[i + 1 : i + 2])
        if not folder:
            return None
        # pnpm's store is inside it; yarn's Plug'n'Play keeps packages in .yarn instead
        places += [posixpath.join(folder, "node_modules"), posixpath.join(folder, ".yarn")]
    return list(dict.fromkeys(places))


def _venvs(dockerfile: Dockerfile, stage: Stage) -> list[str] | None:
    """The virtual environments the stage's steps, and those of the stages it is built on,
    create (`python3 -m venv .venv`): pip installs there once one is active. None when a
    folder cannot be told from the text."""
    found: list[str] = []
    for cwd, words in _commands_in_folders(dockerfile, stage, _VENV):
        at = next(i for i, w in enumerate(words) if w in ("venv", "virtualenv"))
        given = [w for w in words[at + 1 :] if not w.startswith("-")]
        folder = _folder(cwd, given[:1])
        if not folder:
            return None
        found.append(folder)
    return found


def _takes_pip_places(path: str, venvs: list[str]) -> bool:
    """Whether a copy of `path` takes what pip installs (or a folder holding it), in its own
    places or the virtual environments `venvs`."""
    path = path.rstrip("/") or "/"
    places = (*_PIP_PLACES, *venvs)
    return any(_within(path, p) or _within(p, path) for p in places) or bool(
        re.search(r"(site|dist)-packages|/\.?venv(/|$)", path)
    )


def _on_alpine(dockerfile: Dockerfile, stage: Stage) -> bool:
    """Whether the stage runs on Alpine, as its steps (apk) or its image's tag say, the stages
    it is built on included."""
    chain = dockerfile.chain(stage)
    if any(isinstance(i, Run) and _runs_apk(i.script) for s in chain for i in s.instructions):
        return True
    return bool(_ALPINE_IMAGE.search(_root_image(dockerfile, stage)))


def _compiles_c_or_rust(script: str) -> bool:
    """Whether a step runs a C or Rust compiler or a build system (a package manager's
    commands aside: the packages they name are not run)."""
    return any(
        _C_OR_RUST_STEP.search(command) and not _PACKAGE_MANAGER.search(command)
        for command in _commands(script)
    )


# what a later stage may take from a moved stage: what it built, not what its packages put in
# the system folders (those would be the build machine's)
_SYSTEM_PATH = re.compile(
    r"^/(usr/(bin|sbin|lib|lib32|lib64|libexec)|lib|lib32|lib64|libx32|bin|sbin|opt/venv)(/|$)"
)
_ARCH_URL = re.compile(r"(amd64|x86_64|x64|linux64|aarch64|arm64)", re.IGNORECASE)
# where `go install PACKAGE@VERSION` and `cargo install NAME` put the tools they build, which
# the kit builds for the build machine (a stage runs them): GOPATH's bin, CARGO_HOME's bin
_TOOL_FOLDER = re.compile(r"/(go|cargo|\.cargo)/bin(/|$)")
_COMMAND_SEPARATOR = re.compile(r"&&|\|\||[;|\n]")
_VERSIONED_PACKAGE = re.compile(r"^[\w.~/-]+@[\w.+-]+$")
# what runs a command without being it: `CGO_ENABLED=0 go install`, `sudo cargo install`
_COMMAND_PREFIX = re.compile(r"^(\w+=\S*|env|sudo|exec|time|command)$")
# cargo install's options that take a value (the others are flags)
_CARGO_VALUE_OPTIONS = frozenset(
    {"--root", "--version", "--vers", "--git", "--branch", "--tag", "--rev", "--registry",
     "--index", "--features", "-F", "--target", "--target-dir", "--bin", "--example",
     "--profile", "-j", "--jobs", "--config", "-Z", "--color", "--path"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _ToolInstall:
    """A step's `go install PACKAGE@VERSION` or `cargo install NAME`: the programs it names
    and the folders it installs them to besides GOPATH's and CARGO_HOME's bin (`--root`)."""

    line: int
    names: frozenset[str]
    folders: tuple[str, ...]

    def installs(self, path: str) -> bool:
        """Whether a copy of `path` takes one of its programs (or their whole folder)."""
        if not (_TOOL_FOLDER.search(path) or any(_within(path, f) for f in self.folders)):
            return False
        path = path.rstrip("/")
        return path.endswith("/bin") or posixpath.basename(path) in self.names


@dataclass(frozen=True, kw_only=True, slots=True)
class StageVerdict:
    """Whether a stage the build reaches can move to the build machine, and why."""

    index: int
    name: str | None
    moves: bool
    why: str
    compiles: bool
    """It runs steps and hands files to later stages: a builder."""
    changes: tuple[str, ...] = ()
    """What the derived Dockerfile changes in it."""

    @property
    def label(self) -> str:
        return f"`{self.name}`" if self.name else f"stage {self.index}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Derivation:
    stages: tuple[StageVerdict, ...]
    text: str | None
    """The derived Dockerfile; None when no stage moves."""
    source: str | None = None
    """The Dockerfile's path, as the user gave it."""
    copied: frozenset[int] = frozenset()
    """Stages that stay, with a copy that moves for the builders built on them."""

    @property
    def reached(self) -> frozenset[int]:
        return frozenset(s.index for s in self.stages)

    @property
    def moved(self) -> tuple[StageVerdict, ...]:
        return tuple(s for s in self.stages if s.moves)

    @property
    def blocked(self) -> tuple[StageVerdict, ...]:
        """Builders that cannot move: their steps would run under emulation."""
        return tuple(s for s in self.stages if s.compiles and not s.moves)

    @property
    def blocked_at(self) -> frozenset[int]:
        return frozenset(s.index for s in self.blocked)

    @property
    def usable(self) -> bool:
        """Worth building: every builder moves, or some move while the others stay emulated."""
        return self.text is not None and (not self.blocked or any(s.compiles for s in self.moved))

    @property
    def complete(self) -> bool:
        """Every builder moves: nothing but the image's own steps runs on the target."""
        return self.text is not None and not self.blocked

    @property
    def file(self) -> str | None:
        """Where `buildorch init --cross` writes `text`, beside the original (`cross_name`);
        None when there is nothing worth writing."""
        return cross_name(self.source) if self.usable and self.source is not None else None


@cache
def kit_text() -> str:
    return (resources.files("buildorch.shipped") / "cross" / "kit.sh").read_text(encoding="utf-8")


@cache
def kit_platforms() -> tuple[str, ...]:
    """The platforms the kit has a toolchain for, read from its own `target_of` table (one
    list to keep): `arm64`, `arm/v7`, ..."""
    table = kit_text().split("\ntarget_of() {", 1)[1].split("\n}", 1)[0]
    return tuple(re.findall(r"^\t([\w/]+)\) echo ", table, flags=re.MULTILINE))


def kit_platforms_named() -> str:
    """`linux/amd64, arm64, ... and s390x`: for a message saying what the kit knows."""
    names = [f"linux/{p}" if i == 0 else p for i, p in enumerate(kit_platforms())]
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def kit_has_toolchain(arch: str, variant: str) -> bool:
    # the kit reads a bare `arm` as arm/v7, as Docker does
    return (f"{arch}/{variant or 'v7'}" if arch == "arm" else arch) in kit_platforms()


def derive(
    dockerfile: Dockerfile,
    target: int,
    reached: frozenset[int],
    on_build: frozenset[int],
    targeting: frozenset[int],
    meson_cross_branches: tuple[str, ...] = (),
) -> Derivation:
    """Which reached stages move to the build machine, and the Dockerfile that moves them.
    `on_build`: stages on $BUILDPLATFORM already; `targeting`: stages that read $TARGETARCH;
    `meson_cross_branches`: where the project's meson.build asks meson.is_cross_build()."""
    handovers = _handovers(dockerfile, reached)
    verify_args = _verify_args(dockerfile, reached)
    children = {
        i: [
            s.index for s in dockerfile.stages if s.index in reached and _parent(dockerfile, s) == i
        ]
        for i in range(len(dockerfile.stages))
    }
    # the stages the image is built on stay on the target; a builder built on one of them is
    # built on a copy of it that runs on the build machine (`FROM base AS build` beside the
    # image's `FROM base`), whose steps install the target's libraries as a builder's do
    image_chain = frozenset(s.index for s in dockerfile.chain(dockerfile.stages[target]))
    shared, unshared = _shareable(dockerfile, target, on_build, targeting, meson_cross_branches)
    why_stays: dict[int, str] = {}
    for stage in dockerfile.stages:
        if stage.index in reached and stage.index not in on_build:
            reason = _why_stays(
                dockerfile,
                stage,
                target,
                handovers.get(stage.index, []),
                stage.index in targeting,
                bool(children[stage.index]),
                meson_cross_branches,
            )
            if reason is not None:
                why_stays[stage.index] = reason
    # a stage runs where the stage it is built on runs: a parent stays if a child stays, and
    # a child stays if its parent does
    changed = True
    while changed:
        changed = False
        for stage in dockerfile.stages:
            i = stage.index
            if i not in reached or i in on_build or i in why_stays:
                continue
            parent = _parent(dockerfile, stage)
            on_copy = (
                parent in shared
                and i not in image_chain
                and "$" not in stage.base
                and _steps_on(dockerfile, children, i)
            )
            stuck_child = next((c for c in children[i] if c in why_stays), None)
            stuck_source = next((j for j in _takes_from(dockerfile, stage) if j in why_stays), None)
            if stuck_source is not None:
                why_stays[i] = (
                    f"it takes files from {_label(dockerfile.stages[stuck_source])}, which stays "
                    "on the target: its programs would be the target's, not this machine's "
                    f"({_label(dockerfile.stages[stuck_source])} stays because "
                    f"{why_stays[stuck_source]})"
                )
                changed = True
            elif stuck_child is not None:
                why_stays[i] = (
                    f"{_label(dockerfile.stages[stuck_child])} is built on it and stays on the "
                    f"target because {why_stays[stuck_child]}"
                )
                changed = True
            elif parent in unshared and parent in why_stays and i not in image_chain:
                why_stays[i] = (
                    f"it is built on {_label(dockerfile.stages[parent])}, which stays because "
                    f"{why_stays[parent]}, and a copy of it on the build machine would not "
                    f"move because {unshared[parent]}"
                )
                changed = True
            elif parent is not None and parent in why_stays and not on_copy:
                why_stays[i] = (
                    f"it is built on {_label(dockerfile.stages[parent])}, which stays because "
                    f"{why_stays[parent]}"
                )
                changed = True
    moved = {
        s.index
        for s in dockerfile.stages
        if s.index in reached and s.index not in on_build and s.index not in why_stays
    }
    copies = _copy_names(dockerfile, shared, image_chain, moved)
    verdicts: list[StageVerdict] = []
    for stage in dockerfile.stages:
        i = stage.index
        if i not in reached:
            continue
        compiles = bool(handovers.get(i)) and any(isinstance(x, Run) for x in stage.instructions)
        if i in on_build:
            verdicts.append(
                StageVerdict(
                    index=i,
                    name=stage.name,
                    moves=False,
                    why="it runs on $BUILDPLATFORM already",
                    compiles=False,
                )
            )
        elif i in why_stays:
            verdicts.append(
                StageVerdict(
                    index=i,
                    name=stage.name,
                    moves=False,
                    why=why_stays[i],
                    compiles=compiles,
                    changes=_copied(dockerfile, stage, moved, copies),
                )
            )
        else:
            verdicts.append(
                StageVerdict(
                    index=i,
                    name=stage.name,
                    moves=True,
                    why="its products leave only through COPY --from, and every step can "
                    "build for the target from the build machine",
                    compiles=compiles,
                    changes=_changes(
                        dockerfile, stage, handovers.get(i, []), verify_args.get(i, {}), copies
                    ),
                )
            )
    if not moved:
        # no derived Dockerfile: the original is built, its apt-get updates as written
        return Derivation(stages=tuple(verdicts), text=None)
    # the stages that stay on the target, in the derived Dockerfile
    updates = {
        i: update for i in why_stays if (update := native_update(dockerfile, dockerfile.stages[i]))
    }
    verdicts = [
        dataclasses.replace(v, changes=(_NATIVE_UPDATE, *v.changes)) if v.index in updates else v
        for v in verdicts
    ]
    text = _rewrite(dockerfile, moved, handovers, verify_args, updates, copies)
    return Derivation(
        stages=tuple(verdicts), text=text, source=dockerfile.path, copied=frozenset(copies)
    )


def cross_name(dockerfile: str) -> str:
    """`Dockerfile` -> `Dockerfile.cross`, `app.Dockerfile` -> `app.cross.Dockerfile`: the
    name alone changes, the folder stays as the user's path spells it (on either system)."""
    name = re.split(r"[\\/]", dockerfile)[-1]
    if name.lower().endswith(".dockerfile"):
        derived = f"{name[: -len('.dockerfile')]}.cross{name[-len('.dockerfile') :]}"
    else:
        derived = f"{name}.cross"
    return dockerfile[: len(dockerfile) - len(name)] + derived


def _shareable(
    dockerfile: Dockerfile,
    target: int,
    on_build: frozenset[int],
    targeting: frozenset[int],
    meson_cross_branches: tuple[str, ...],
) -> tuple[frozenset[int], dict[int, str]]:
    """The stages the image is built on that a copy on the build machine can stand in for, for
    the builders built on them: each would move as a builder, and so would each it is built on
    (a copy is built on a copy). And why a copy of each of the others could not move."""
    found: set[int] = set()
    refused: dict[int, str] = {}
    reason: str | None = None
    for stage in reversed(dockerfile.chain(dockerfile.stages[target])[1:]):
        if reason is not None:
            refused[stage.index] = reason
            continue
        takes = [j for j in _takes_from(dockerfile, stage) if j not in on_build]
        if stage.index in on_build:
            reason = "it runs on $BUILDPLATFORM already"
        elif _parent(dockerfile, stage) is not None and "$" in stage.base:
            # a copy names its parent's copy: a name a build arg picks is left alone
            reason = "a build arg picks the stage it is built on"
        elif takes:
            reason = (
                f"it takes files from {_label(dockerfile.stages[takes[0]])}, which would be "
                "the target's"
            )
        else:
            reason = _why_stays(
                dockerfile,
                stage,
                target,
                [],
                stage.index in targeting,
                True,
                meson_cross_branches,
                copied=True,
            )
        if reason is not None:
            refused[stage.index] = reason
        else:
            found.add(stage.index)
    return frozenset(found), refused


def _steps_on(dockerfile: Dockerfile, children: dict[int, list[int]], index: int) -> bool:
    """The stage, or one built on it, runs a step: worth building on a copy of its base."""
    return any(isinstance(x, Run) for x in dockerfile.stages[index].instructions) or any(
        _steps_on(dockerfile, children, c) for c in children[index]
    )


def _copied(
    dockerfile: Dockerfile, stage: Stage, moved: set[int], copies: dict[int, str]
) -> tuple[str, ...]:
    """The change a stage that stays gets when it has a copy that moves."""
    if stage.index not in copies:
        return ()
    on_it = (
        _label(s) if s.index in moved else f"`{copies[s.index]}`"
        for s in dockerfile.stages
        if _parent(dockerfile, s) == stage.index and (s.index in moved or s.index in copies)
    )
    return (
        f"a copy of it, `{copies[stage.index]}`, runs on $BUILDPLATFORM with the cross kit, "
        f"for {', '.join(on_it)} built on it",
    )


def _copy_names(
    dockerfile: Dockerfile, shared: frozenset[int], image_chain: frozenset[int], moved: set[int]
) -> dict[int, str]:
    """The stages the image is built on that get a copy on the build machine, each with its
    copy's name: those some moved stage is built on, and the stages they are built on (a
    stage that moves itself, below an image pinned to $BUILDPLATFORM, needs none)."""
    copied = {
        s.index
        for m in dockerfile.stages
        if m.index in moved and m.index not in image_chain
        for s in dockerfile.chain(m)
        if s.index in shared and s.index not in moved
    }
    taken = {s.name.lower() for s in dockerfile.stages if s.name}
    names: dict[int, str] = {}
    for index in sorted(copied):
        base = f"{dockerfile.stages[index].name}-cross"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}{n}"
        taken.add(name.lower())
        names[index] = name
    return names


def _label(stage: Stage) -> str:
    return f"`{stage.name}`" if stage.name else f"stage {stage.index}"


def _parent(dockerfile: Dockerfile, stage: Stage) -> int | None:
    return dockerfile.base_stage(stage)


def _takes_from(dockerfile: Dockerfile, stage: Stage) -> list[int]:
    found = (dockerfile.stage_index(r, before=stage.index) for r in stage.references)
    return [i for i in found if i is not None]


def _copies(
    dockerfile: Dockerfile, reached: frozenset[int]
) -> Iterator[tuple[int, tuple[str, ...], tuple[Instruction, ...]]]:
    """Each copy from a stage by a later one (COPY --from, RUN --mount from=): the stage it
    copies from, its paths as written, and the copying stage's instructions before it."""
    for stage in dockerfile.stages:
        if stage.index not in reached:
            continue
        for position, instruction in enumerate(stage.instructions):
            refs: list[tuple[str, tuple[str, ...]]] = []
            if isinstance(instruction, Copy) and instruction.from_ref is not None:
                refs.append((instruction.from_ref, instruction.sources))
            elif isinstance(instruction, Run):
                refs.extend(
                    (m.from_ref, (m.source or "/",))
                    for m in instruction.mounts
                    if m.from_ref is not None and m.type == "bind"
                )
            for ref, sources in refs:
                source = dockerfile.stage_index(ref, before=stage.index)
                if source is not None:
                    yield source, sources, stage.instructions[:position]


def _handovers(dockerfile: Dockerfile, reached: frozenset[int]) -> dict[int, list[str]]:
    """Per stage, the paths later stages copy from it (absolute, as written)."""
    found: dict[int, list[str]] = {}
    for source, paths, _ in _copies(dockerfile, reached):
        found.setdefault(source, []).extend(
            posixpath.normpath(posixpath.join("/", p)) for p in paths
        )
    return found


_VARIABLE = re.compile(r"\$\{?(\w+)")
# a default written again as it is, without quoting
_SIMPLE = re.compile(r"[\w./@%+:,-]*")


def _verify_args(
    dockerfile: Dockerfile, reached: frozenset[int]
) -> dict[int, dict[str, str | None]]:
    """Per stage, the ARGs (with their defaults) that give the variables in the paths later
    stages copy from it (`target/release/${APP}`) their values where they are copied: declared
    again before the stage's check, they take the same defaults and build args, so the
    check's shell reads the same path. A variable an ENV sets, or two copies give different
    defaults, is left out (its paths stay unchecked in the build)."""
    found: dict[int, dict[str, str | None]] = {}
    conflicting: dict[int, set[str]] = {}
    for source, paths, before in _copies(dockerfile, reached):
        known = found.setdefault(source, {})
        for name in (n for p in paths for n in _VARIABLE.findall(p)):
            arg = _declared(dockerfile, before, name)
            if (
                arg is None
                or (arg.value is not None and not _SIMPLE.fullmatch(arg.value))
                or (name in known and known[name] != arg.value)
            ):
                conflicting.setdefault(source, set()).add(name)
            else:
                known[name] = arg.value
    return {
        i: {n: v for n, v in names.items() if n not in conflicting.get(i, set())}
        for i, names in found.items()
    }


def _declared(
    dockerfile: Dockerfile, before: tuple[Instruction, ...], name: str
) -> Variable | None:
    """The ARG that gives NAME its value after the instructions BEFORE, with its default (the
    stage's own, or that of the global ARG it declares again); None when no ARG declares it
    there or an ENV sets it."""
    declared = None
    for instruction in before:
        if isinstance(instruction, Env) and any(v.name == name for v in instruction.variables):
            return None
        if isinstance(instruction, Arg):
            declared = next((v for v in instruction.variables if v.name == name), declared)
    if declared is not None and declared.value is None:
        globals_ = [v for a in dockerfile.global_args for v in a.variables if v.name == name]
        return globals_[-1] if globals_ else declared
    return declared


def _checkable(path: str, args: dict[str, str | None]) -> bool:
    return all(name in args for name in _VARIABLE.findall(path))


def _why_stays(
    dockerfile: Dockerfile,
    stage: Stage,
    target: int,
    handed: list[str],
    targeting: bool,
    builds_on_it: bool,
    meson_cross_branches: tuple[str, ...] = (),
    *,
    copied: bool = False,
) -> str | None:
    """Why the stage stays on the target, or None. `copied`: asked of a copy of a stage the
    image is built on, for the builders built on it."""
    if stage.index == target:
        return "it is the image: it runs on the target platform"
    if stage.platform is not None:
        return f"it is pinned to --platform={stage.platform}"
    if not copied and any(
        _parent(dockerfile, s) == stage.index for s in dockerfile.stages if s.index == target
    ):
        return "the image is built on it"
    if not handed and not builds_on_it:
        return "no later stage copies from it"
    parent = _parent(dockerfile, stage)
    if (dockerfile.expand_global(stage.base) or "").lower() == "scratch":
        return "it starts from scratch: no shell to cross-compile with"
    # a stage built on another runs where that one runs (`FROM build-release AS build`)
    if (
        parent is None
        and not builds_on_it
        and not any(isinstance(i, Run) for i in stage.instructions)
    ):
        return "it runs no step: nothing to gain"
    images = [r for r in stage.references if dockerfile.stage_index(r, before=stage.index) is None]
    if images:
        return (
            f"it takes files from the image {images[0]}, which BuildKit fetches for the target "
            "platform: its programs would not run here"
        )
    if targeting:
        return "it reads $TARGETARCH itself: it handles platforms its own way"
    library = _ubuntu_dev_without_ports(dockerfile, stage)
    if library is not None:
        return (
            f"it installs {library} on Ubuntu, which publishes the target's packages in a "
            "second archive (ubuntu-ports for arm64, the main one for amd64) that the image's "
            "apt sources do not name: add it for the target's architecture ([arch=...]) before "
            "apt-get to cross-compile the stage"
        )
    alpine = _on_alpine(dockerfile, stage)
    venvs = _venvs(dockerfile, stage)
    node = _node_places(dockerfile, stage)
    node_handed = next(
        (
            path
            for path in handed
            for place in node or ()
            if _within(path, place) or _within(place, path)
        ),
        None,
    )
    if node_handed is not None:
        return (
            f"a later stage copies {node_handed} from it, which holds what Node's installers "
            "fetched for the machine they ran on (native modules in node_modules)"
        )
    for instruction in stage.instructions:
        if isinstance(instruction, Run):
            for pattern, reason in _UNSAFE_STEPS:
                script = instruction.script
                if pattern is _DOWNLOADED_INSTALLER:
                    script = _RUSTUP_INSTALLER.sub("", script)
                if pattern is _NODE_INSTALLER and node is not None:
                    continue
                if pattern.search(script) and not (
                    pattern is _PYTHON_INSTALLERS
                    and _pip_installs_packages_only(instruction.script)
                    and venvs is not None
                    and not any(_takes_pip_places(path, venvs) for path in handed)
                ):
                    return f"line {instruction.lines.first} `{_short(instruction)}`: {reason}"
            if _CARGO_INTERMEDIATES.search(instruction.script) and _chain_runs(
                dockerfile, stage, _RUST_STEP
            ):
                return (
                    f"line {instruction.lines.first} `{_short(instruction)}`: it works in "
                    "cargo's intermediate files, which a cross build keeps under "
                    "target/<triple>/ (a removal there would miss them, and the next build "
                    "could keep what it should rebuild); the stage stays on the target"
                )
            if alpine and _compiles_c_or_rust(instruction.script):
                return (
                    f"line {instruction.lines.first} `{_short(instruction)}`: on Alpine the "
                    "cross kit builds Go only: C and Rust need the target's C library (and "
                    "Rust's standard library) as a sysroot of their own, which apk, without "
                    "multiarch, does not install (as xx-apk builds); the stage stays on the target"
                )
            package = _apk_compiling(instruction.script)
            if package is not None:
                return (
                    f"line {instruction.lines.first} `{_short(instruction)}`: Alpine's apk has "
                    f"no multiarch: {package} would be the build machine's, and the target's "
                    "would need a sysroot of their own (as xx-apk builds); the stage stays on "
                    "the target"
                )
        elif isinstance(instruction, Copy) and instruction.keyword == "ADD":
            for source in instruction.sources:
                if "://" in source and _ARCH_URL.search(source):
                    return (
                        f"line {instruction.lines.first} downloads {source}, built for one machine"
                    )
    for path in handed:
        if path == "/" or _SYSTEM_PATH.match(path):
            return (
                f"a later stage copies {path} from it: files its packages installed, which "
                "would be the build machine's"
            )
    if meson_cross_branches and _chain_runs(dockerfile, stage, _MESON_STEP):
        return (
            f"the project's {meson_cross_branches[0]} asks meson.is_cross_build(): meson "
            "would build what its authors chose for a cross build, not what a native build "
            "makes (gdk-pixbuf leaves out its thumbnailer)"
        )
    cargo_folder = next((p for p in handed if _CARGO_FOLDER.search(p)), None)
    if cargo_folder is not None and _chain_runs(dockerfile, stage, _RUST_STEP):
        return (
            f"a later stage copies {cargo_folder} from it, cargo's own folder: a cross build "
            "keeps there the build scripts and proc macros it runs, built for the build "
            "machine (copy the program itself, target/release/NAME, and the stage moves)"
        )
    for install in _tool_installs(dockerfile, stage):
        for path in handed:
            if install.installs(path):
                return (
                    f"a later stage copies {path}, a tool line {install.line} installs, which "
                    "moved it would build for the build machine (the steps run it)"
                )
    return None


def _tool_installs(dockerfile: Dockerfile, stage: Stage) -> list[_ToolInstall]:
    """Each tool the stage, or a stage it is built on, installs for its steps."""
    parent = _parent(dockerfile, stage)
    found = [] if parent is None else _tool_installs(dockerfile, dockerfile.stages[parent])
    for instruction in stage.instructions:
        if isinstance(instruction, Run):
            for command in _COMMAND_SEPARATOR.split(instruction.script):
                words = command.split()
                while words and _COMMAND_PREFIX.match(words[0]):
                    words.pop(0)
                install = _tool_install(instruction.lines.first, words)
                if install is not None:
                    found.append(install)
    return found


def _tool_install(line: int, words: list[str]) -> _ToolInstall | None:
    if words[:1] == ["go"]:
        # `go -C dir install`: the folder first, as go reads it
        if words[1:2] in (["-C"], ["--C"]):
            words = words[:1] + words[3:]
        elif words[1:2] and words[1].startswith(("-C=", "--C=")):
            words = words[:1] + words[2:]
    if words[:2] == ["go", "install"]:
        # github.com/pressly/goose/v3/cmd/goose@v3 installs goose; example.org/tool/v2@v2, tool
        packages = [w.split("@")[0].rstrip("/").split("/") for w in words[2:]
                    if not w.startswith("-") and _VERSIONED_PACKAGE.match(w)]  # fmt: skip
        tools = {p[-2] if re.fullmatch(r"v\d+", p[-1]) and len(p) > 1 else p[-1] for p in packages}
        return _ToolInstall(line, frozenset(tools), ()) if tools else None
    if words[:1] != ["cargo"]:
        return None
    rest = words[2:] if words[1:2] and words[1].startswith("+") else words[1:]
    if rest[:1] not in (["install"], ["binstall"]):
        return None
    names: set[str] = set()
    roots: list[str] = []
    arguments = iter(rest[1:])
    for word in arguments:
        if not word.startswith("-"):
            # a crate, and the programs such crates install (sqlx-cli: sqlx and cargo-sqlx)
            short = re.sub(r"[-_]cli$", "", word.split("@")[0])
            names |= {word.split("@")[0], short, f"cargo-{short}"}
            continue
        option, given, value = word.partition("=")
        if not given and option in _CARGO_VALUE_OPTIONS:
            value = next(arguments, "")
        if option == "--path":
            return None  # the project's own: built for the target
        if option == "--root":
            roots.append(f"{value.rstrip('/')}/bin")
        elif option == "--bin":
            names.add(value)
    return _ToolInstall(line, frozenset(names), tuple(roots)) if names else None


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _short(instruction: Instruction) -> str:
    first = instruction.text.splitlines()[0].strip()
    return first if len(first) <= 60 else first[:57] + "..."


def _changes(
    dockerfile: Dockerfile,
    stage: Stage,
    handed: list[str],
    args: dict[str, str | None],
    copies: dict[int, str],
) -> tuple[str, ...]:
    changes = []
    parent = _parent(dockerfile, stage)
    if parent is None:
        changes.append("FROM runs on $BUILDPLATFORM")
        changes.append(
            "the cross kit is set up before its first step and runs every RUN step (SHELL)"
        )
    elif parent in copies:
        changes.append(
            f"built on `{copies[parent]}`, a copy of {_label(dockerfile.stages[parent])} that "
            "runs on $BUILDPLATFORM with its cross kit"
        )
    else:
        changes.append("built on a moved stage: runs on $BUILDPLATFORM with its cross kit")
    if any(isinstance(i, Run) and i.command.lstrip().startswith("[") for i in stage.instructions):
        changes.append("RUN steps in exec form run through the cross kit")
    if any(i.keyword == "SHELL" for i in stage.instructions):
        changes.append("its SHELL runs through the cross kit")
    if any(isinstance(i, Run) for i in stage.instructions):
        changes.append(
            "its RUN steps get compiler caches (ccache, sccache for cargo, Go's build cache)"
        )
    checked = [p for p in dict.fromkeys(handed) if _checkable(p, args)]
    if checked:
        changes.append(
            "every ELF file later stages copy from it is checked for the target: "
            + ", ".join(checked)
        )
    if len(checked) < len(set(handed)):
        changes.append(
            "paths whose variables the check cannot follow (an ENV's, or given two defaults) "
            "are not checked in the build (a folder output is checked before it is published)"
        )
    return tuple(changes)


def _rewrite(
    dockerfile: Dockerfile,
    moved: set[int],
    handovers: dict[int, list[str]],
    verify_args: dict[int, dict[str, str | None]],
    updates: dict[int, NativeUpdate],
    copies: dict[int, str],
) -> str:
    """The Dockerfile with the moved stages changed and every other line as written.
    `updates`: steps of stages on the target whose apt-get update runs in a helper stage;
    `copies`: stages the image is built on whose copy, inserted after each, moves."""
    # split as the parser counts lines (at "\n" only), so that line spans match
    lines = io.StringIO(dockerfile.text, newline="\n").readlines()
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # the copies go right after their stages, the helper stages right before theirs: a stage
    # named by its index (`COPY --from=2`) takes the index it has among them
    numbers = {
        i: i + sum(1 for c in copies if c < i) + 2 * sum(1 for u in updates if u <= i)
        for i in range(len(dockerfile.stages))
    }
    _renumber(dockerfile, lines, numbers)
    # edits by line span, applied from the bottom so earlier spans stay valid
    edits: list[tuple[int, int, list[str]]] = []
    for index, update in updates.items():
        stage = dockerfile.stages[index]
        first = stage.start.lines.first
        # an insertion before the FROM; the previous stage's closing steps insert at the same
        # place, later in this list: applied after these (the sort below is stable), they land
        # before the helper stages, at the end of their own stage
        edits.append((first, first - 1, helper_stages(update, stage, dockerfile)))
        opening = lines[update.step.lines.first - 1]
        mounted = _RUN_KEYWORD.sub(rf"\1 {step_mounts(update)}\2", opening, count=1)
        edits.append((update.step.lines.first, update.step.lines.first, [mounted]))
    for stage in dockerfile.stages:
        if stage.index in moved:
            from_lines = _opening(dockerfile, stage, copies)
            # a path named with the copying stage's ARGs: the same ARGs, declared again here
            args = verify_args.get(stage.index, {})
            handed = [
                p for p in dict.fromkeys(handovers.get(stage.index, [])) if _checkable(p, args)
            ]
            if handed:
                used = dict.fromkeys(n for p in handed for n in _VARIABLE.findall(p))
                # a stage whose FROM a build arg picks (`FROM build-${VARIANT}`) may be built,
                # from the written file, on a stage this derivation did not move, which has no kit
                check = f"[ ! -x {KIT} ] || {KIT}" if "$" in stage.base else KIT
                steps = [
                    "# buildorch: every ELF file the later stages copy must be the target's\n",
                    *(f"ARG {n}\n" if args[n] is None else f"ARG {n}={args[n]}\n" for n in used),
                    f"RUN {check} verify {' '.join(_quote(p) for p in handed)}\n",
                ]
                edits.append((stage.lines.last + 1, stage.lines.last, steps))
            # added after the check: at the same place, the kit's setup lands first
            edits.extend(_moved_edits(dockerfile, stage, lines, moved, copies, numbers, from_lines))
        elif stage.index in copies:
            # the copy, right after the stage: a later stage's index moves (`--from=2`)
            from_lines = _opening(dockerfile, stage, copies, name=copies[stage.index])
            first, last = stage.lines
            block = _applied(
                lines[first - 1 : last],
                [
                    (f - first + 1, t - first + 1, new)
                    for f, t, new in _moved_edits(
                        dockerfile, stage, lines, moved, copies, numbers, from_lines
                    )
                ],
            )
            edits.append((last + 1, last, ["\n", *_copy_note(stage), *block]))
    lines = _applied(lines, edits)
    header = (
        f"# Derived by buildorch from {posixpath.basename(dockerfile.path)}: the stages marked\n"
        "# `buildorch:` run on the build machine and cross-compile for the target, their RUN\n"
        "# steps with a compiler cache mounted; every other line is as written there. Build it\n"
        "# as the original, with -f naming this file.\n"
    )
    # parser directives (`# syntax=`, `# escape=`) must stay first
    directives = 0
    for line in lines:
        if re.match(r"^#\s*[A-Za-z][\w-]*\s*=", line):
            directives += 1
        else:
            break
    return "".join([*lines[:directives], header, *lines[directives:]])


def _opening(
    dockerfile: Dockerfile, stage: Stage, copies: dict[int, str], name: str | None = None
) -> list[str] | None:
    """The FROM of a moved stage, or of a copy (NAME): on the build machine with the kit's
    ARGs where it is built on an image, on the copy of the stage it is built on where that
    has one; None where it is built on a moved stage and its FROM stays as written."""
    parent = _parent(dockerfile, stage)
    if parent is None:
        return [_from_line(stage, name=name), *_kit_args()]
    if parent in copies:
        return [_from_line(stage, name=name, base=copies[parent])]
    return None


def _copy_note(stage: Stage) -> list[str]:
    return [
        f"# buildorch: a copy of `{stage.name}` for the builders built on it; the image is built\n",
        f"# on `{stage.name}` itself, on the target\n",
    ]


def _applied(lines: list[str], edits: list[tuple[int, int, list[str]]]) -> list[str]:
    """LINES with each edit (first line, last line, new lines; 1-based, last = first - 1 to
    insert) applied from the bottom, so that earlier spans stay valid. At one place, a later
    edit lands above an earlier one."""
    lines = list(lines)
    for first, last, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[first - 1 : last] = new
    return lines


def _moved_edits(
    dockerfile: Dockerfile,
    stage: Stage,
    lines: list[str],
    moved: set[int],
    copies: dict[int, str],
    numbers: dict[int, int],
    opening: list[str] | None,
) -> list[tuple[int, int, list[str]]]:
    """The edits that move a stage (or make its copy): OPENING for its FROM, if it changes;
    its SHELL, exec-form RUN steps and compiler caches; the kit's setup in a stage that is not
    built on another."""
    edits: list[tuple[int, int, list[str]]] = []
    if opening is not None:
        edits.append((stage.start.lines.first, stage.start.lines.last, opening))
    for instruction in stage.instructions:
        if instruction.keyword == "SHELL":
            edits.append(
                (instruction.lines.first, instruction.lines.last, [_shell_line(instruction)])
            )
        elif isinstance(instruction, Run) and instruction.command.lstrip().startswith("["):
            replaced = _exec_form(instruction, numbers)
            if replaced is not None:
                edits.append((instruction.lines.first, instruction.lines.last, [replaced]))
        elif isinstance(instruction, Run):
            # the compiler cache, as a flag before the step's own: its text stays as written
            opening_line = lines[instruction.lines.first - 1]
            cached = _RUN_KEYWORD.sub(rf"\1 {CACHE_MOUNT}\2", opening_line, count=1)
            edits.append((instruction.lines.first, instruction.lines.first, [cached]))
    if _parent(dockerfile, stage) is None:
        after = _settings_end(stage)
        family = [
            s
            for s in dockerfile.stages
            if (s.index in moved or s.index in copies) and stage in dockerfile.chain(s)
        ]
        # the kit's apt-get reads libclang as bindgen's when the stage's family builds Rust
        rust = any(_chain_runs(dockerfile, s, _RUST_STEP) for s in family)
        # and leaves the target's package lists out while it installs tools only (Rust's
        # standard library comes from lists of its own)
        tools = all(_installs_tools_only(s) for s in family)
        edits.append((after + 1, after, _kit_setup(stage, rust, tools)))
    return edits


def _keyword_flags(escape: str) -> re.Pattern[str]:
    """An instruction's keyword and its flags, to the first word that is not one, across line
    continuations as BuildKit reads them (spaces after the escape character, CRLF, blank and
    comment lines within)."""
    esc = re.escape(escape)
    between = rf"(?:[ \t]|{esc}[ \t]*\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*)+"
    return re.compile(rf"^\s*\w+(?:{between}--[^\s{esc}]+)*")


def _renumber(dockerfile: Dockerfile, lines: list[str], numbers: dict[int, int]) -> None:
    """A stage named by its index in a flag (`COPY --from=2`, `RUN --mount=...,from=2`), in
    LINES: its index in the derived file, NUMBERS[index]."""
    if all(old == new for old, new in numbers.items()):
        return
    escape = flag_value(dockerfile.directives, "escape") or "\\"
    keyword_flags = _keyword_flags(escape)
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if not isinstance(instruction, Copy | Run):
                continue
            first, last = instruction.lines
            text = "".join(lines[first - 1 : last])
            flags = keyword_flags.match(text)
            end = flags.end() if flags else 0
            renumbered = _shifted(text[:end], numbers, escape) + text[end:]
            if renumbered != text:
                # split as the parser counts lines, at "\n" only, so that later spans hold
                lines[first - 1 : last] = io.StringIO(renumbered, newline="\n").readlines()


def _shifted(flags: str, numbers: dict[int, int], escape: str = "\\") -> str:
    """FLAGS with each `from=N` (`--from=N`, a mount's `from=N`, quoted or not) as
    `from=NUMBERS[N]`; not an image's name that starts with digits (`--from=10.0.0.1:5000/x`)."""
    return re.sub(
        rf"(\bfrom=[\"']?)(\d+)(?=[\"']?(?:[\s,{re.escape(escape)}]|$))",
        lambda m: f"{m[1]}{numbers.get(int(m[2]), int(m[2]))}",
        flags,
    )


def _from_line(stage: Stage, *, name: str | None = None, base: str | None = None) -> str:
    """The stage's FROM on the build machine: NAME for a copy's; BASE, the copy of the stage
    it is built on, which runs there already."""
    start = stage.start
    flags = " ".join(
        f"--{o.name}={o.value}" if o.value else f"--{o.name}"
        for o in start.flags
        if o.name != "platform"
    )
    named = name or stage.name
    platform = "" if base is not None else "--platform=$BUILDPLATFORM "
    return (
        "# buildorch: this stage runs on the build machine and cross-compiles for the target\n"
        f"FROM {platform}{flags + ' ' if flags else ''}{base or start.image}"
        f"{f' AS {named}' if named else ''}\n"
    )


def _kit_args() -> list[str]:
    # the kit travels in an ARG's default (gzip, base64): an ARG is no build step, so the
    # build log shows one short RUN instead of the whole script, and the file stands alone
    packed = base64.b64encode(gzip.compress(kit_text().encode("utf-8"), mtime=0)).decode()
    return [
        "ARG TARGETARCH\n",
        "ARG TARGETVARIANT\n",
        "# buildorch: the cross kit (buildorch's shipped/cross/kit.sh, gzip, base64); read it\n",
        '# with: echo "$BUILDORCH_CROSS_KIT" | base64 -d | gunzip\n',
        f"ARG BUILDORCH_CROSS_KIT={packed}\n",
    ]


# instructions that run nothing, which may open a stage
_SETTINGS = frozenset(
    {"ARG", "ENV", "USER", "WORKDIR", "LABEL", "MAINTAINER", "EXPOSE", "STOPSIGNAL", "CMD",
     "ENTRYPOINT", "HEALTHCHECK"}
)  # fmt: skip


def _opening_settings(stage: Stage) -> list[Instruction]:
    """The stage's opening settings up to its last ENV or USER: the kit is set up after them,
    so that it runs with them (a proxy's or rustup's ENV, `USER root` for apt-get), and before
    the project's files, whose change would then install the cross toolchain again, and the
    ARGs after them, whose new value (a commit's hash) would too."""
    settings: list[Instruction] = []
    for instruction in stage.instructions:
        if instruction.keyword not in _SETTINGS:
            break
        settings.append(instruction)
    while settings and settings[-1].keyword not in ("ENV", "USER"):
        settings.pop()
    return settings


def _settings_end(stage: Stage) -> int:
    """The line after which the kit is set up: the last opening ENV or USER, else the FROM."""
    settings = _opening_settings(stage)
    return settings[-1].lines.last if settings else stage.start.lines.last


def _kit_setup(stage: Stage, rust: bool, tools: bool) -> list[str]:
    users = [i.value for i in _opening_settings(stage) if i.keyword == "USER"]
    # the setup installs packages and writes the kit's folder: as root, then the stage's user
    become, back = [], []
    if users and users[-1].split(":")[0] not in ("root", "0"):
        become, back = ["USER root\n"], [f"USER {users[-1]}\n"]
    return [
        *become,
        # read from the environment, not as "$BUILDORCH_CROSS_KIT": BuildKit shows a step with
        # its variables expanded (and busybox images may have no printenv)
        # (the message: an image whose own user is not root, in a stage that says no USER)
        f"RUN mkdir -p {KIT_DIR} || {{ echo 'buildorch-cross: the image runs as a user "
        "who cannot set up the cross kit: add USER root after FROM (and its user after it), "
        "or build with --strategy qemu' >&2; exit 1; } "
        f"&& env | sed -n 's/^BUILDORCH_CROSS_KIT=//p' | base64 -d "
        f"| gunzip > {KIT} "
        f"&& chmod 755 {KIT} && {KIT} setup{' rust' if rust else ''}{' tools' if tools else ''}\n",
        *back,
        f'SHELL ["{KIT}", "run", "/bin/sh", "-c"]\n',
    ]


def _quote(path: str) -> str:
    if "$" in path:
        # double quotes: the check's shell expands the ARGs declared before it
        return '"' + re.sub(r'(["\\`])', r"\\\1", path) + '"'
    return path if re.fullmatch(r"[\w./*?\[\]@%+=:,-]+", path) else shlex.quote(path)


def _shell_line(instruction: Instruction) -> str:
    try:
        argv = json.loads(instruction.value)
    except json.JSONDecodeError:
        return instruction.text if instruction.text.endswith("\n") else instruction.text + "\n"
    return f"SHELL {json.dumps([KIT, 'run', *argv])}\n"


def _exec_form(run: Run, numbers: dict[int, int]) -> str | None:
    try:
        argv = json.loads(run.command)
    except json.JSONDecodeError:
        return None
    flags = _shifted(
        " ".join(
            [
                CACHE_MOUNT,
                *(f"--{o.name}={o.value}" if o.value else f"--{o.name}" for o in run.flags),
            ]
        ),
        numbers,
    )
    return f"RUN {flags} {json.dumps([KIT, 'run', *argv])}\n"
