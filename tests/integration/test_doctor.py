"""Detection on this real host: engines, emulation, snapshots and a FUSE share."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Engine, _unavailable
from tests.integration.helpers import buildorch, toolchain_args


def test_doctor_sees_both_image_stores(classic: Engine, containerd: Engine, project: Path) -> None:
    stores = {}
    for engine in (classic, containerd):
        run = buildorch("doctor", "-C", str(project), "--json", env=engine.env())
        assert run.code == 0, run.err
        facts = run.json()
        assert facts["docker"]["available"] is True
        assert facts["docker"]["arch"] == "amd64"
        assert facts["emulation"]["linux/amd64"] == "native"
        assert facts["emulation"]["linux/arm64"] == "qemu"  # binfmt with the F flag
        assert any(b["driver"] == "docker" for b in facts["builders"])
        stores[engine.name] = facts["docker"]["image_store"]
    assert stores == {"classic": "classic", "containerd": "containerd"}


def test_snapshot_saved_then_replayed_gives_the_same_doctor(
    classic: Engine, project: Path, tmp_path: Path
) -> None:
    snap = tmp_path / "snap"
    live = buildorch(
        "doctor", "-C", str(project), "--json", "--save-snapshot", str(snap), env=classic.env()
    )
    assert live.code == 0, live.err
    assert (snap / "host.json").is_file() and (snap / "docker" / "info.json").is_file()
    replay = buildorch(
        "doctor", "-C", str(project), "--json", "--snapshot", str(snap), env=classic.env()
    )
    assert replay.code == 0, replay.err
    assert replay.json() == live.json()


@pytest.fixture
def fuse_share(project: Path, tmp_path: Path) -> Iterator[Path]:
    """The example project seen through a real FUSE mount (bindfs), as a share would be."""
    bindfs = shutil.which("bindfs")
    if bindfs is None or not Path("/dev/fuse").exists():
        _unavailable("bindfs and /dev/fuse are needed for the FUSE share")
    assert bindfs is not None
    mount = tmp_path / "share"
    mount.mkdir()
    # no attribute cache, like a 9P share: every stat is a round trip to the FUSE daemon
    subprocess.run(
        [bindfs, "-o", "attr_timeout=0,entry_timeout=0", str(project), str(mount)], check=True
    )
    try:
        yield mount
    finally:
        for _ in range(20):
            if subprocess.run(["fusermount", "-u", str(mount)], check=False).returncode == 0:
                break
            time.sleep(0.2)


def test_fuse_share_is_detected_and_builds(
    classic: Engine, registry: str, fuse_share: Path, tmp_path: Path
) -> None:
    run = buildorch("doctor", "-C", str(fuse_share), "--json", env=classic.env())
    assert run.code == 0, run.err
    source = run.json()["source"]
    assert source["fs"] == "fuse"
    assert source["fs_type"].startswith("fuse")
    assert source["stat_us"] is not None and source["stat_us"] > 0
    out = tmp_path / "out"
    built = buildorch(
        "build", "-C", str(fuse_share), "--target", "amd64", "-o", str(out),
        *toolchain_args(), env=classic.env(),
    )  # fmt: skip
    assert built.code == 0, built.err
    assert (out / "hello").is_file()
    # the sources were only read
    assert sorted(p.name for p in fuse_share.iterdir()) == sorted(
        p.name for p in (tmp_path / "hello-c").iterdir()
    )
