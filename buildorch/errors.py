"""Errors a user can act on: each says what failed, why, and what to do next.

Every subclass names its own exit code (`class ConfigError(BuildorchError, exit_code=3)`), so
scripts can tell causes apart.
"""

from __future__ import annotations

from typing import Any, ClassVar


class BuildorchError(Exception):
    """Base of every error shown to the user without a traceback."""

    exit_code: ClassVar[int] = 1

    def __init_subclass__(cls, *, exit_code: int, **kwargs: Any) -> None:
        # a keyword every subclass must give: none can share another's code by leaving it out
        super().__init_subclass__(**kwargs)
        cls.exit_code = exit_code

    def __init__(self, what: str, *, why: str = "", fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.fix = fix

    def __str__(self) -> str:
        parts = [self.what]
        if self.why:
            parts.append(f"why: {self.why}")
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "\n".join(parts)


class ConfigError(BuildorchError, exit_code=3):
    """buildorch.yaml, a profile, an environment variable or a flag is wrong."""


class ProjectError(BuildorchError, exit_code=4):
    """The project cannot be built as given: no Dockerfile, unknown target, bad paths."""


class EngineUnavailableError(BuildorchError, exit_code=5):
    """No docker binary, a daemon that does not answer, or buildx missing."""


class PlanError(BuildorchError, exit_code=6):
    """No strategy can build a target here, or a forced strategy cannot apply."""


class BuildFailedError(BuildorchError, exit_code=7):
    """The engine ran the build and the build itself failed."""


class SnapshotError(BuildorchError, exit_code=8):
    """A recorded host snapshot is missing or malformed."""


class OffloadUnavailable(BuildorchError, exit_code=9):
    """`offload` cannot use `gh` here (missing or logged out): nothing was dispatched."""


class RegistryError(BuildorchError, exit_code=10):
    """A registry refused a push, a pull or a manifest join, or could not be reached."""


class EngineError(BuildorchError, exit_code=11):
    """The engine answers but refused an operation: a volume, a container, a copy."""


class WrongArchitectureError(BuildorchError, exit_code=12):
    """A cross build made a file for another machine than the target, or the target has no
    build of a package the stage installs."""


class EmulatorFailedError(BuildorchError, exit_code=13):
    """The emulator, not the project, failed under a build step (QEMU crashed, an instruction
    Rosetta lacks, no emulator registered)."""


class Interrupted(BuildorchError, exit_code=130):
    """Ctrl-C: what buildorch started was stopped and cleaned up."""
