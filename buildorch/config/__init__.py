"""Options, from five layers: built-in < host profile < buildorch.yaml < BUILDORCH_* < flags.

`schema.py` says what each layer may hold (pydantic), `cascade.py` validates and merges the
layers, `options.py` holds the frozen records they make.
"""

from buildorch.config.cascade import (
    CONFIG_FILE,
    load_options,
    profile_name_from,
    read_config_file,
    trust_emulator_from,
)
from buildorch.config.options import (
    DEFAULT_RUNNERS,
    GITHUB_AMD64_RUNNER,
    SHARED_TARGETS,
    CiSettings,
    NativeBuilder,
    Options,
    Origin,
    RegistryCache,
    Runner,
    RunSettings,
)
from buildorch.plan import BuildArg

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_RUNNERS",
    "GITHUB_AMD64_RUNNER",
    "SHARED_TARGETS",
    "BuildArg",
    "CiSettings",
    "NativeBuilder",
    "Options",
    "Origin",
    "RegistryCache",
    "RunSettings",
    "Runner",
    "load_options",
    "profile_name_from",
    "read_config_file",
    "trust_emulator_from",
]
