"""buildorch: picks the fastest correct way to build a Docker project for each platform."""

from __future__ import annotations

__version__ = "0.1.0"
