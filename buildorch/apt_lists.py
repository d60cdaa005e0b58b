"""`apt-get update` of a stage that stays on the target, run on the build machine.

Under QEMU, a runtime stage's `RUN apt-get update && apt-get install ...` spends most of its
time in the update: apt decompresses and parses the archive's package lists as emulated code
(10 s for bookworm's arm64 lists on this kind of host, against 1 s natively). The lists are
data: the same files, whichever machine fetches them. So the derived Dockerfile fetches them
in a helper stage on `$BUILDPLATFORM`, from the same image, with the target image's own apt
configuration and sources (for its architecture: Ubuntu's ports archive too) and its dpkg
status mounted where apt reads them, and the step's `apt-get update` copies them in (and the
package cache apt built from them, which apt checks against the files and their times before
it trusts it: apt-get then starts as fast as after its own update). Every other apt-get in
the step, the install with its maintainer scripts among them, runs as written, on the target.

Only where the lists are certainly the target's own: the step is the stage's first (nothing
before it changed the image's sources), the stage is built on the target platform, FROM an
image or a stage on one (a runtime `FROM os AS base`: the helper reads the sources and
status the stages before left, and its apt-get is the first stage's image's), the step has
no flags of its own (a secret or a mount could carry credentials the
helper would not have), and its update is a plain one (no options of its own, which the
helper would not pass). Within the step, the stand-in compares the image's apt configuration
and dpkg architectures with what the helper read, so that an update after the step added a
source (a vendor's repository, `dpkg --add-architecture`) is the real one.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass

from buildorch.dockerfile import Dockerfile, Instruction, Run, Stage

# steps that may come before the update without changing what apt reads
_HARMLESS = frozenset(
    {"ARG", "ENV", "LABEL", "WORKDIR", "EXPOSE", "MAINTAINER", "STOPSIGNAL", "HEALTHCHECK",
     "CMD", "ENTRYPOINT", "VOLUME", "SHELL"}
)  # fmt: skip
# a plain `apt-get update` or `apt update` (quiet and yes are all the options it may have:
# the helper's update has no others)
_QUIET = r"(?:-q+|-y|-qy|-yq|-qqy|-yqq|--quiet|--yes|--assume-yes)"
_UPDATE = re.compile(rf"(?:^|[\s;&|(])(apt-get|apt)(?:\s+{_QUIET})*\s+update\s*(?=$|[;&|)])")
# steps that replace apt's own programs, which are mount points during the step (dpkg cannot
# rename onto them): an upgrade, apt itself, or a package that needs apt's own version
# (apt-utils) or a newer one than an older image has; or write where the helper's files are
_UNSAFE = re.compile(
    r"upgrade|\binstall\b[^;&|]*\sapt(-utils|-transport-https)?(?=$|[\s;&|)=:])|/mnt\b"
)
# apt-get or apt as a command anywhere in the step: the programs the step's mounts stand in for
_APT = re.compile(r"(?:^|[\s;&|(])(apt-get|apt)(?=$|[\s;&|)])")
# where the helper's files are mounted in the step: a folder every Debian and Ubuntu image has,
# empty, so that BuildKit makes no mount point of its own in the image
_MOUNTED = "/mnt"
_OUT = "/buildorch-apt"


@dataclass(frozen=True, slots=True)
class NativeUpdate:
    """A stage's first step, whose `apt-get update` runs in a helper stage."""

    stage: int
    step: Run
    programs: tuple[str, ...]
    """`apt-get`, `apt`: those the step runs, each replaced for the step by the helper's."""
    image: str
    """The image the helper runs on, as written (its ARGs expand at build time, as in the
    stage's own FROM): the stage's, or that of the first stage of its chain."""
    chain: tuple[int, ...] = ()
    """The stages the stage is built on, first to last: their ARGs and ENVs hold in the
    helper too."""

    @property
    def helper(self) -> str:
        return f"buildorch-apt-{self.stage}"

    @property
    def target_image(self) -> str:
        return f"buildorch-apt-target-{self.stage}"


def native_update(dockerfile: Dockerfile, stage: Stage) -> NativeUpdate | None:
    """The step of `stage` (one that stays on the target) whose update can run natively."""
    chain = dockerfile.chain(stage)
    root = chain[-1]
    # the helper's FROM must name the same image: not one a platform's ARG picks; the chain
    # the one the build reads (no stage a build arg picks, which another value would change);
    # and every stage of the chain on the target (none pinned to a platform)
    image = dockerfile.expand_global(root.base)
    if image is None or image.lower() == "scratch":
        return None
    if any("$" in s.base for s in chain[:-1]) or any(s.platform is not None for s in chain):
        return None
    step = _first_step(stage.instructions)
    if step is None or step.flags or step.heredocs or step.command.lstrip().startswith("["):
        return None
    if not _UPDATE.search(step.command) or _UNSAFE.search(step.command):
        return None
    programs = tuple(sorted(set(_APT.findall(step.command)), reverse=True))
    return NativeUpdate(
        stage=stage.index,
        step=step,
        programs=programs,
        image=root.base,
        chain=tuple(s.index for s in reversed(chain[1:])),
    )


def _first_step(instructions: tuple[Instruction, ...]) -> Run | None:
    for instruction in instructions:
        if isinstance(instruction, Run):
            return instruction
        if instruction.keyword not in _HARMLESS:
            return None
    return None


def helper_stages(update: NativeUpdate, stage: Stage, dockerfile: Dockerfile) -> list[str]:
    """The two stages before `stage`: what it is built on, on the target platform (whose
    configuration, status and apt programs the helper reads), and the helper on the build
    machine."""
    # the ARGs and ENVs before the step (a proxy, a mirror's name), and those of the stages
    # it is built on, hold in the helper too
    before = [
        *(i for s in update.chain for i in dockerfile.stages[s].instructions),
        *stage.instructions[: stage.instructions.index(update.step)],
    ]
    settings = [
        i.text if i.text.endswith("\n") else i.text + "\n"
        for i in before
        if i.keyword in ("ARG", "ENV")
    ]
    target = f"--mount=type=bind,from={update.target_image}"
    fetch = (
        # the step's text, so that an edit of it fetches the lists again, as the step would
        f": step {hashlib.sha256(update.step.text.encode()).hexdigest()[:16]}; set -e; "
        # the target's Debian architecture, as its dpkg knows it, and the foreign ones it has
        "arch=$(awk '/^Package: dpkg$/ { p = 1 } p && /^Architecture:/ { print $2; exit }' "
        "/target/var/lib/dpkg/status); "
        'archs="-o APT::Architectures::=$arch"; '
        "for a in $(cat /target/var/lib/dpkg/arch 2>/dev/null); do "
        '[ "$a" = "$arch" ] || archs="$archs -o APT::Architectures::=$a"; done; '
        f"mkdir -p {_OUT}/cache; "
        f"for p in {' '.join(update.programs)}; do cp -L /target/usr/bin/$p {_OUT}/$p; done; "
        # an update that fails here (a source the image cannot reach without what a stage
        # before installed: an https one without ca-certificates) leaves the step its own
        'if apt-get -o APT::Architecture="$arch" $archs update; then '
        f"cp -a /var/lib/apt/lists {_OUT}/lists; "
        f'for f in /var/cache/apt/*.bin; do [ ! -e "$f" ] || cp -a "$f" {_OUT}/cache/; done; '
        f"(cd /target && {_FINGERPRINT}) > {_OUT}/read; "
        f"else echo none > {_OUT}/read; fi; "
        f"printf '%s\\n' {' '.join(shlex.quote(line) for line in _SHIM)} > {_OUT}/shim; "
        f"chmod 755 {_OUT}/shim"
    )
    return [
        f"# buildorch: the package lists of stage {stage.index}'s `apt-get update`, fetched on "
        "the build machine\n",
        f"FROM {stage.base} AS {update.target_image}\n",
        f"FROM --platform=$BUILDPLATFORM {update.image} AS {update.helper}\n",
        # an image whose user is not root (a step running `sudo apt-get update`)
        "USER root\n",
        *settings,
        f"RUN {target},source=/etc/apt,target=/etc/apt "
        f"{target},source=/var/lib/dpkg/status,target=/var/lib/dpkg/status "
        f"{target},target=/target {fetch}\n",
    ]


def step_mounts(update: NativeUpdate) -> str:
    """The flags the step gets: the helper's files, and its shim in place of each program."""
    helper = f"--mount=type=bind,from={update.helper}"
    shims = " ".join(f"{helper},source={_OUT}/shim,target=/usr/bin/{p}" for p in update.programs)
    return f"{helper},source={_OUT},target={_MOUNTED} {shims}"


# what apt reads that a step could change before its update: the configuration and sources,
# and dpkg's architectures (run from /, the same in the helper, on the target's files)
_FINGERPRINT = (
    "find etc/apt var/lib/dpkg/arch \\( -type f -o -type l \\) 2>/dev/null | LC_ALL=C sort "
    '| while read -r f; do echo "$f"; cat "$f" 2>/dev/null; done | cksum'
)

# the stand-in for apt-get (and apt) during the step: a plain `update` copies the helper's
# lists and cache in while apt reads what the helper read; anything else is the real program
_SHIM = (
    "#!/bin/sh",
    "# buildorch: apt-get update ran on the build machine, for this image's architecture and",
    "# sources: its lists are copied in; every other apt-get runs as written",
    "sub=",
    'for a in "$@"; do',
    '  case "$a" in',
    "  -q | -qq | -y | -qy | -yq | -qqy | -yqq | --quiet | --yes | --assume-yes) ;;",
    '  update) [ -z "$sub" ] && sub=update || sub=other ;;',
    "  *) sub=other ;;",
    "  esac",
    "done",
    f'if [ "$sub" = update ] && [ "$(cd / && {_FINGERPRINT})" = "$(cat {_MOUNTED}/read)" ]; then',
    f"  cp -a {_MOUNTED}/lists/. /var/lib/apt/lists/ &&",
    f"    exec cp -a {_MOUNTED}/cache/. /var/cache/apt/",
    "fi",
    f'exec "{_MOUNTED}/${{0##*/}}" "$@"',
)
