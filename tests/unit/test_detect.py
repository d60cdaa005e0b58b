"""Detection replayed from recorded hosts, one per host class."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from buildorch.detect import detect_host, load_snapshot
from buildorch.errors import SnapshotError

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"

# name: os, arch, ci, docker available, desktop, engine arch, image store,
#       linux/arm64, linux/amd64, fs class, slow share
EXPECTED = {
    "wsl2-mnt-c-9p": (
        "wsl2", "amd64", None, True, False, "amd64", "classic", "qemu", "native", "9p", True,
    ),
    "wsl2-ext4-desktop": (
        "wsl2", "amd64", None, True, True, "amd64", "classic", "qemu", "native", "ext4", False,
    ),
    "macos-arm64-desktop-virtiofs-rosetta": (
        "macos", "arm64", None, True, True, "arm64", "containerd", "native", "rosetta", "apfs",
        False,
    ),
    "macos-intel-desktop": (
        "macos", "amd64", None, True, True, "amd64", "classic", "qemu", "native", "apfs", False,
    ),
    "linux-amd64-qemu": (
        "linux", "amd64", None, True, False, "amd64", "classic", "qemu", "native", "ext4", False,
    ),
    "linux-amd64-no-qemu": (
        "linux", "amd64", None, True, False, "amd64", "classic", None, "native", "ext4", False,
    ),
    "linux-amd64-qemu-no-F-flag": (
        "linux", "amd64", None, True, False, "amd64", "classic", None, "native", "ext4", False,
    ),
    "linux-arm64": (
        "linux", "arm64", None, True, False, "arm64", "classic", "native", "qemu", "ext4", False,
    ),
    "github-actions-ubuntu": (
        "linux", "amd64", "github", True, False, "amd64", "classic", None, "native", "ext4",
        False,
    ),
    "no-docker": (
        "linux", "amd64", None, False, False, None, None, None, "native", "ext4", False,
    ),
    "daemon-down": (
        "linux", "amd64", None, False, False, None, None, "qemu", "native", "ext4", False,
    ),
    "fuse-slow-share": (
        "linux", "amd64", None, True, False, "amd64", "classic", "qemu", "native", "fuse", True,
    ),
}  # fmt: skip


def test_every_snapshot_is_covered() -> None:
    assert sorted(p.name for p in SNAPSHOTS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detection_of_recorded_hosts(name: str) -> None:
    facts = detect_host(load_snapshot(SNAPSHOTS / name))
    seen = (
        facts.os,
        facts.arch,
        facts.ci,
        facts.docker.available,
        facts.docker.desktop,
        facts.docker.arch,
        facts.docker.image_store,
        facts.emulation_for("linux/arm64"),
        facts.emulation_for("linux/amd64"),
        facts.source.fs,
        facts.source.slow,
    )
    assert seen == EXPECTED[name]
    assert all(why for key, why in facts.reasons if key not in ("image_store",))


def test_wsl2_9p_mount_is_decoded_and_measured() -> None:
    facts = detect_host(load_snapshot(SNAPSHOTS / "wsl2-mnt-c-9p"))
    assert facts.source.mount_point == "/mnt/c"
    assert facts.source.stat_us == 142.0
    assert "142 us" in facts.reason("source") and "30 us threshold" in facts.reason("source")


def test_fuse_share_is_slow_by_measurement_not_by_name(tmp_path: Path) -> None:
    fast = tmp_path / "fast"
    shutil.copytree(SNAPSHOTS / "fuse-slow-share", fast)
    (fast / "probe.json").write_text(json.dumps({"stat_us": 4.0}))
    assert detect_host(load_snapshot(fast)).source.slow is False
    assert detect_host(load_snapshot(SNAPSHOTS / "fuse-slow-share")).source.slow is True
    # and the threshold comes from the caller (the profile)
    assert detect_host(load_snapshot(fast), slow_stat_us=3.0).source.slow is True


def test_unmeasured_share_is_judged_by_its_kind(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOTS / "wsl2-mnt-c-9p", snap)
    (snap / "probe.json").unlink()
    facts = detect_host(load_snapshot(snap))
    assert facts.source.stat_us is None
    assert facts.source.slow is True


def test_binfmt_without_f_flag_is_explained() -> None:
    facts = detect_host(load_snapshot(SNAPSHOTS / "linux-amd64-qemu-no-F-flag"))
    why = facts.reason("emulation")
    assert "without the F flag" in why and "update-binfmts --enable" in why


def test_rosetta_shell_on_apple_silicon_reports_arm64(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOTS / "macos-arm64-desktop-virtiofs-rosetta", snap)
    host = json.loads((snap / "host.json").read_text())
    host["machine"] = "x86_64"
    host["sysctl"]["sysctl.proc_translated"] = "1"
    (snap / "host.json").write_text(json.dumps(host))
    facts = detect_host(load_snapshot(snap))
    assert facts.arch == "arm64"
    assert facts.docker.arch == "arm64"
    assert "Rosetta" in facts.reason("arch")


def test_desktop_builder_without_current_flag_is_the_contexts() -> None:
    facts = detect_host(load_snapshot(SNAPSHOTS / "wsl2-ext4-desktop"))
    assert facts.current_builder is not None
    assert facts.current_builder.name == "desktop-linux"
    assert "desktop-linux" in facts.reason("emulation")


def test_daemon_down_keeps_the_engines_words() -> None:
    facts = detect_host(load_snapshot(SNAPSHOTS / "daemon-down"))
    assert facts.docker.binary is True
    assert facts.docker.error is not None
    assert "Cannot connect to the Docker daemon" in facts.docker.error
    assert facts.buildx.available is False


def test_doctor_json_has_the_stable_keys() -> None:
    data = detect_host(load_snapshot(SNAPSHOTS / "linux-amd64-qemu")).to_json()
    assert set(data) >= {"os", "arch", "ci", "docker", "builders", "emulation", "source"}
    assert set(data["docker"]) >= {"available", "desktop", "version", "arch", "image_store"}
    assert set(data["builders"][0]) >= {"name", "driver", "platforms"}
    assert set(data["source"]) >= {"path", "fs", "slow", "stat_us"}
    assert data["emulation"]["linux/arm64"] == "qemu"


@pytest.mark.parametrize(
    ("write", "message"),
    [
        ({}, "does not exist"),
        ({"host.json": "{not json"}, "not valid JSON"),
        ({"host.json": "[]"}, "not a JSON object"),
        ({"host.json": '{"system": "Linux"}'}, "lacks `machine`"),
        (
            {
                "host.json": '{"system": "Linux", "machine": "x86_64", "project_dir": "/p"}',
                "docker/info.json": "{oops",
            },
            "not valid JSON",
        ),
        (
            {
                "host.json": '{"system": "Linux", "machine": "x86_64", "project_dir": "/p"}',
                "docker/buildx-ls.json": '{"Name": "default"}\nnot json\n',
            },
            "line 2 is not JSON",
        ),
    ],
)
def test_malformed_snapshots_are_refused(
    tmp_path: Path, write: dict[str, str], message: str
) -> None:
    snap = tmp_path / "snap"
    if write:
        for name, text in write.items():
            (snap / name).parent.mkdir(parents=True, exist_ok=True)
            (snap / name).write_text(text)
    with pytest.raises(SnapshotError) as failure:
        detect_host(load_snapshot(snap))
    assert failure.value.exit_code == 8
    assert message in str(failure.value)
    assert "--save-snapshot" in failure.value.fix or "does not exist" in message
