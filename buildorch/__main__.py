from __future__ import annotations

from buildorch.cli import main_entry

main_entry()
