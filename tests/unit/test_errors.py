"""The errors a user sees: each kind with an exit code of its own."""

from __future__ import annotations

import pytest

from buildorch.cli import EXIT_INTERNAL
from buildorch.errors import BuildorchError


def test_every_kind_of_error_has_an_exit_code_of_its_own() -> None:
    codes = [kind.exit_code for kind in BuildorchError.__subclasses__()]
    assert len(codes) == len(set(codes)) > 1
    # 1 is the base's; 70 says the bug is buildorch's
    assert BuildorchError.exit_code not in codes and EXIT_INTERNAL not in codes


def test_a_kind_of_error_without_an_exit_code_is_refused() -> None:
    with pytest.raises(TypeError, match="exit_code"):
        type("Unnumbered", (BuildorchError,), {})
