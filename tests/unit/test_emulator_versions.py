"""The table of QEMU releases known to break builds, and how an emulator's version is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.detect import emulator_probe
from buildorch.detect.emulator_versions import KNOWN_BAD, known_bad, way_around


@pytest.mark.parametrize(
    ("entry", "version", "series"),
    [
        ("qemu-aarch64", "qemu-aarch64 version 9.2.0 (v9.2.0)", (9, 2)),
        ("qemu-aarch64", "qemu-aarch64 version 9.2.2 (v9.2.2)", (9, 2)),
        ("qemu-aarch64", "qemu-aarch64 version 9.2.1 (Debian 1:9.2.1+ds-1)", (9, 2)),
        ("qemu-aarch64", "qemu-aarch64 version 10.1.3 (v10.1.3)", (10, 1)),
        ("qemu-aarch64", "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", None),
        ("qemu-aarch64", "qemu-aarch64 version 10.0.4 (v10.0.4)", None),
        ("qemu-aarch64", "qemu-aarch64 version 10.2.1 (v10.2.1)", None),
        # the reports are about arm64: the same release's other emulators are not flagged
        ("qemu-arm", "qemu-arm version 9.2.0 (v9.2.0)", None),
        ("qemu-s390x", "qemu-s390x version 10.1.3 (v10.1.3)", None),
        ("qemu-aarch64", None, None),
        ("qemu-aarch64", "qemu: uncaught target signal 11 (Segmentation fault)", None),
    ],
)
def test_a_version_falls_in_a_row_only_for_the_emulators_reported(
    entry: str, version: str | None, series: tuple[int, int] | None
) -> None:
    row = known_bad(entry, version)
    assert (row.series if row is not None else None) == series


def test_every_row_names_its_reports_and_says_how_sure_it_is() -> None:
    for row in KNOWN_BAD:
        assert row.issues and all("#" in issue for issue in row.issues)
        assert row.reported.startswith("reported")
        assert "ldconfig" in row.symptom


def test_the_way_around_pins_a_release_and_names_the_other_ways() -> None:
    fix = way_around("linux/arm/v7")
    assert "docker run --privileged --rm tonistiigi/binfmt:qemu-v7.0.0-28 --install arm`" in fix
    assert "--strategy cross" in fix and "buildorch offload" in fix
    assert "trust_emulator: true" in fix and "BUILDORCH_TRUST_EMULATOR=1" in fix


def test_an_emulator_registered_again_is_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tonistiigi/binfmt's interpreter path exists only in its image: the registration tells
    # one release from the next (binfmt_misc gives each a new inode)
    entries = tmp_path / "binfmt_misc"
    entries.mkdir()
    (entries / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64\n")
    monkeypatch.setattr(emulator_probe, "BINFMT_MISC", str(entries))
    releases = iter(["qemu-aarch64 version 9.2.0 (v9.2.0)", "qemu-aarch64 version 10.2.3"])
    asked: list[str] = []

    def version_through_binfmt(code: bytes) -> str:
        asked.append(next(releases))
        return asked[-1]

    monkeypatch.setattr(emulator_probe, "_version_through_binfmt", version_through_binfmt)
    monkeypatch.setattr(emulator_probe, "_run", lambda code: (True, ""))
    cache = tmp_path / "home" / "buildorch" / "emulators.json"
    cache.parent.parent.mkdir(parents=True)
    missing = str(tmp_path / "usr-bin-qemu-aarch64")
    first = emulator_probe.probe("qemu-aarch64", missing, cache)
    assert emulator_probe.probe("qemu-aarch64", missing, cache) == first  # from the cache
    assert len(asked) == 1
    # registered again: a new inode (made while the old one still exists)
    (entries / "qemu-aarch64.new").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64\n")
    (entries / "qemu-aarch64.new").replace(entries / "qemu-aarch64")
    again = emulator_probe.probe("qemu-aarch64", missing, cache)
    assert "version 10.2.3" in again and len(asked) == 2
