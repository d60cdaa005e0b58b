"""What an installed buildorch holds: pyproject.toml names its packages one by one (two of
them live outside buildorch/), so a folder of modules left out of the list is missing from the
wheel, and `pip install` of it fails at the first import."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def setuptools_table() -> dict[str, object]:
    table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert isinstance(table, dict)
    return table


def test_every_folder_of_modules_or_shipped_files_is_a_listed_package() -> None:
    listed = setuptools_table()["packages"]
    assert isinstance(listed, list)
    folders = {
        ".".join(folder.relative_to(REPO).parts)
        for folder in (REPO / "buildorch").rglob("*")
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.iterdir())
    }
    assert folders <= set(listed), sorted(folders - set(listed))


def test_the_cross_kit_ships_as_package_data() -> None:
    data = setuptools_table()["package-data"]
    assert isinstance(data, dict)
    shipped = REPO / "buildorch" / "shipped" / "cross"
    patterns = data["buildorch.shipped.cross"]
    assert any(next(shipped.glob(pattern), None) == shipped / "kit.sh" for pattern in patterns)
