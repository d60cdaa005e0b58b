"""Errors a user can act on: each says what failed, why, and what to do next.

Every subclass has its own exit code so scripts can tell causes apart.
"""

from __future__ import annotations


class BuildorchError(Exception):
    """Base of every error shown to the user without a traceback."""

    exit_code = 1

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


class ConfigError(BuildorchError):
    """buildorch.yaml, a profile, an environment variable or a flag is wrong."""

    exit_code = 3


class ProjectError(BuildorchError):
    """The project cannot be built as given: no Dockerfile, unknown target, bad paths."""

    exit_code = 4


class EngineUnavailableError(BuildorchError):
    """No docker binary, a daemon that does not answer, or buildx missing."""

    exit_code = 5


class PlanError(BuildorchError):
    """No strategy can build a target here, or a forced strategy cannot apply."""

    exit_code = 6


class BuildFailedError(BuildorchError):
    """The engine ran the build and the build itself failed."""

    exit_code = 7


class SnapshotError(BuildorchError):
    """A recorded host snapshot is missing or malformed."""

    exit_code = 8


class OffloadUnavailable(BuildorchError):
    """`offload` cannot use `gh` here (missing or logged out): nothing was dispatched."""

    exit_code = 9


class RegistryError(BuildorchError):
    """A registry refused a push, a pull or a manifest join, or could not be reached."""

    exit_code = 10


class EngineError(BuildorchError):
    """The engine answers but refused an operation: a volume, a container, a copy."""

    exit_code = 11


class Interrupted(BuildorchError):
    """Ctrl-C: what buildorch started was stopped and cleaned up."""

    exit_code = 130
