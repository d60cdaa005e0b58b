"""Detection replayed from recorded hosts (one per host class), plus small in-memory hosts."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from buildorch.detect import LiveHost, detect_host, load_snapshot, save_snapshot
from buildorch.detect import view as view_module
from buildorch.engine import EngineProbe
from buildorch.errors import SnapshotError
from buildorch.facts import HostFacts
from buildorch.platforms import KNOWN_PLATFORMS

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
REASON_KEYS = ("os", "arch", "ci", "docker", "image_store", "emulation", "source")

# name: os, arch, ci, docker available, desktop, engine arch, image store,
#       linux/arm64, linux/amd64, fs class, slow
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
    "linux-amd64-qemu-crashing": (
        "linux", "amd64", None, True, False, "amd64", "classic", None, "native", "ext4", False,
    ),
    "linux-amd64-qemu-known-bad": (
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


def replay(name: str, *, slow_stat_us: float = 30.0) -> HostFacts:
    return detect_host(load_snapshot(SNAPSHOTS / name), slow_stat_us=slow_stat_us)


def current_name(facts: HostFacts) -> str | None:
    return facts.current_builder.name if facts.current_builder is not None else None


def copy_snapshot(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(SNAPSHOTS / name, dest)
    return dest


# --- recorded hosts ---------------------------------------------------------------------


def test_every_snapshot_is_covered() -> None:
    assert sorted(p.name for p in SNAPSHOTS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detection_of_recorded_hosts(name: str) -> None:
    facts = replay(name)
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
    assert [key for key, _ in facts.reasons] == list(REASON_KEYS)
    assert all(why for _, why in facts.reasons)
    assert [e.platform for e in facts.emulation] == list(KNOWN_PLATFORMS)


def test_wsl2_9p_mount_is_decoded_and_measured() -> None:
    facts = replay("wsl2-mnt-c-9p")
    assert facts.source.mount_point == "/mnt/c"
    assert facts.source.fs_type == "9p"
    assert facts.source.stat_us == 142.0
    why = facts.reason("source")
    assert "142 us" in why and "30 us threshold" in why
    assert "WSL2 kernel" in facts.reason("os") and "WSLInterop" in facts.reason("os")


def test_fuse_share_is_slow_by_measurement_not_by_name(tmp_path: Path) -> None:
    fast = copy_snapshot("fuse-slow-share", tmp_path)
    (fast / "probe.json").write_text(json.dumps({"stat_us": 4.0}))
    assert detect_host(load_snapshot(fast)).source.slow is False
    slow = replay("fuse-slow-share")
    assert slow.source.slow is True
    assert slow.source.fs_type == "fuse.bindfs"
    assert "180 us" in slow.reason("source")
    # the threshold is the caller's (the profile's)
    assert detect_host(load_snapshot(fast), slow_stat_us=3.0).source.slow is True


def test_unmeasured_share_is_judged_by_its_kind(tmp_path: Path) -> None:
    snap = copy_snapshot("wsl2-mnt-c-9p", tmp_path)
    (snap / "probe.json").unlink()
    facts = detect_host(load_snapshot(snap))
    assert facts.source.stat_us is None
    assert facts.source.slow is True
    assert "not measured" in facts.reason("source")


def test_binfmt_without_f_flag_is_explained() -> None:
    facts = replay("linux-amd64-qemu-no-F-flag")
    # BuildKit lists arm64 there, but RUN steps in arm64 containers would fail
    assert facts.current_builder is not None
    assert "linux/arm64" in facts.current_builder.platforms
    why = facts.reason("emulation")
    assert "without the F flag" in why and "update-binfmts --enable" in why
    assert "tonistiigi/binfmt --install all" in why


def test_a_working_emulator_is_reported_with_its_version() -> None:
    facts = replay("linux-amd64-qemu")
    arm64 = next(e for e in facts.emulation if e.platform == "linux/arm64")
    assert arm64.kind == "qemu" and arm64.works is True
    assert arm64.emulator is not None and arm64.emulator.startswith("qemu-aarch64 version 7.2")
    assert facts.to_json()["emulators"]["linux/arm64"]["works"] is True


def test_an_emulator_that_cannot_run_a_program_is_unavailable_and_says_why() -> None:
    facts = replay("linux-amd64-qemu-crashing")
    arm64 = next(e for e in facts.emulation if e.platform == "linux/arm64")
    assert arm64.kind is None and arm64.works is False
    assert arm64.emulator == "qemu-aarch64 version 8.1.0"
    why = facts.reason("emulation")
    assert "could not run a tiny linux/arm64 program" in why
    assert "uncaught target signal 11" in why and "tonistiigi/binfmt --install all" in why
    # the arm emulator of the same host works: only the broken one is out
    arm = next(e for e in facts.emulation if e.platform == "linux/arm/v7")
    assert arm.kind == "qemu" and arm.works is True


def test_an_emulator_of_a_known_bad_release_is_flagged_and_not_used() -> None:
    # QEMU 9.2.0 from tonistiigi/binfmt runs the probe, then crashes in ldconfig under apt
    facts = replay("linux-amd64-qemu-known-bad")
    arm64 = facts.emulation_fact("linux/arm64")
    assert arm64 is not None and arm64.kind is None and arm64.works is True
    assert arm64.flagged is not None and "QEMU 9.2.x" in arm64.flagged
    assert "reported in 9.2.0 and 9.2.2" in arm64.flagged
    assert "tonistiigi/binfmt#240" in arm64.flagged
    why = facts.reason("emulation")
    assert "qemu-aarch64 (qemu-aarch64 version 9.2.0 (v9.2.0)) is a release known to break" in why
    assert "tonistiigi/binfmt:qemu-v7.0.0-28 --install arm64" in why
    assert facts.to_json()["emulators"]["linux/arm64"]["flagged"] == arm64.flagged
    # the reports name arm64 only: the same release emulating arm is not flagged
    arm = facts.emulation_fact("linux/arm/v7")
    assert arm is not None and arm.kind == "qemu" and arm.flagged is None


def test_a_trusted_known_bad_emulator_is_used_and_still_flagged() -> None:
    facts = detect_host(
        load_snapshot(SNAPSHOTS / "linux-amd64-qemu-known-bad"), trust_emulator=True
    )
    arm64 = facts.emulation_fact("linux/arm64")
    assert arm64 is not None and arm64.kind == "qemu" and arm64.flagged is not None
    assert "known-bad, trusted by trust_emulator" in facts.reason("emulation")


def test_rosetta_shell_on_apple_silicon_reports_arm64(tmp_path: Path) -> None:
    snap = copy_snapshot("macos-arm64-desktop-virtiofs-rosetta", tmp_path)
    host = json.loads((snap / "host.json").read_text())
    host["machine"] = "x86_64"
    host["sysctl"]["sysctl.proc_translated"] = "1"
    (snap / "host.json").write_text(json.dumps(host))
    facts = detect_host(load_snapshot(snap))
    assert facts.arch == "arm64"
    assert facts.docker.arch == "arm64"
    assert "Rosetta" in facts.reason("arch")


def test_desktop_emulation_names_the_builder_and_the_settings_file() -> None:
    mac = replay("macos-arm64-desktop-virtiofs-rosetta")
    assert mac.current_builder is not None and mac.current_builder.name == "desktop-linux"
    why = mac.reason("emulation")
    assert "builder `desktop-linux`" in why and "settings-store.json" in why
    # listed by the arm64 builder, but Apple's M-series have no AArch32: the VM's QEMU runs it
    assert mac.emulation_for("linux/arm/v7") == "qemu"
    assert mac.emulation_for("linux/386") == "qemu"
    # Desktop's emulators cannot be run from here: named by the release that ships them
    emulators = {e.platform: e.emulator for e in mac.emulation}
    assert emulators["linux/386"] == "QEMU of Docker Desktop 4.37.1 (178610)"
    assert emulators["linux/amd64"] == "Rosetta, through Docker Desktop 4.37.1 (178610)"
    assert emulators["linux/arm64"] is None  # native
    assert mac.docker.product == "Docker Desktop 4.37.1 (178610)"
    intel = replay("macos-intel-desktop")
    assert "settings.json" in intel.reason("emulation")
    assert "off" in intel.reason("emulation")
    wsl = replay("wsl2-ext4-desktop")
    assert wsl.current_builder is not None and wsl.current_builder.name == "default"
    assert "Windows side" in wsl.reason("emulation")


def test_daemon_down_keeps_the_engines_words() -> None:
    facts = replay("daemon-down")
    assert facts.docker.binary is True
    assert facts.docker.error is not None
    assert "Cannot connect to the Docker daemon" in facts.docker.error
    assert facts.docker.context == "default"
    assert facts.buildx.available is True and facts.buildx.version == "v0.14.1"
    assert [b.status for b in facts.builders] == ["error"]


def test_no_docker_has_nothing_of_the_engine() -> None:
    facts = replay("no-docker")
    assert facts.docker.binary is False
    assert facts.buildx.available is False
    assert facts.builders == ()


def test_doctor_json_has_the_stable_keys() -> None:
    data = replay("linux-amd64-qemu").to_json()
    assert set(data) >= {"os", "arch", "ci", "docker", "builders", "emulation", "source"}
    assert set(data["docker"]) >= {"available", "desktop", "version", "arch", "image_store"}
    assert data["builders"][0]["platforms"][0] == "linux/amd64"
    assert data["builders"][0]["current"] is True
    assert data["emulation"]["linux/arm64"] == "qemu"
    assert data["emulation"]["linux/386"] == "native"
    assert set(data["reasons"]) == set(REASON_KEYS)


# --- malformed snapshots ----------------------------------------------------------------

GOOD_HOST = '{"system": "Linux", "machine": "x86_64", "project_dir": "/p"}'


@pytest.mark.parametrize(
    ("write", "message"),
    [
        ({}, "does not exist"),
        ({"probe.json": "{}"}, "host.json is missing"),
        ({"host.json": "{not json"}, "not valid JSON"),
        ({"host.json": "[]"}, "not a JSON object"),
        ({"host.json": '{"system": "Linux"}'}, "lacks `machine`"),
        ({"host.json": '{"system": "Linux", "machine": 64, "project_dir": "/p"}'}, "`machine`"),
        ({"host.json": '{"system": "BeOS", "machine": "x86_64", "project_dir": "/p"}'}, "BeOS"),
        (
            {"host.json": GOOD_HOST[:-1] + ', "env": {"CI": true}}'},
            "`env` must map names to strings",
        ),
        ({"host.json": GOOD_HOST, "docker/info.json": "{oops"}, "info.json is not valid JSON"),
        ({"host.json": GOOD_HOST, "docker/version.json": "[1]"}, "not a JSON object"),
        (
            {"host.json": GOOD_HOST, "docker/buildx-ls.json": '{"Name": "default"}\nnot json\n'},
            "line 2 is not JSON",
        ),
        ({"host.json": GOOD_HOST, "probe.json": '{"stat_us": "fast"}'}, "stat_us"),
    ],
)
def test_malformed_snapshots_are_refused(
    tmp_path: Path, write: dict[str, str], message: str
) -> None:
    snap = tmp_path / "snap"
    for name, text in write.items():
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        (snap / name).write_text(text)
    with pytest.raises(SnapshotError) as failure:
        load_snapshot(snap)
    error = failure.value
    assert error.exit_code == 8
    assert message in str(error)
    assert error.why and error.fix


def test_a_file_is_not_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snap"
    path.write_text("{}")
    with pytest.raises(SnapshotError, match="no snapshot"):
        load_snapshot(path)


# --- small in-memory hosts --------------------------------------------------------------


@dataclass
class FakeHost:
    """A HostView built in a test: files by absolute path, a canned engine probe."""

    system: str = "Linux"
    machine: str = "x86_64"
    env: Mapping[str, str] = field(default_factory=lambda: {"HOME": "/home/dev"})
    project_dir: str = "/home/dev/app"
    files: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    mount: str | None = None
    probe: EngineProbe = field(default_factory=lambda: EngineProbe(binary=False))
    measured: float | None = 2.0

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def list_dir(self, path: str) -> tuple[str, ...]:
        prefix = path.rstrip("/") + "/"
        return tuple(
            sorted({p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)})
        )

    def sysctl(self, name: str) -> str | None:
        return self.sysctls.get(name)

    def command_output(self, name: str) -> str | None:
        return self.mount if name == "mount" else None

    def engine(self) -> EngineProbe:
        return self.probe

    def stat_us(self) -> float | None:
        return self.measured


def engine(
    *,
    arch: str = "x86_64",
    desktop: bool = False,
    context: str = "default",
    builders: list[dict[str, Any]] | None = None,
) -> EngineProbe:
    info = {
        "ServerVersion": "27.4.0",
        "Architecture": arch,
        "OperatingSystem": "Docker Desktop" if desktop else "Debian GNU/Linux 12 (bookworm)",
        "KernelVersion": "6.10.14-linuxkit" if desktop else "6.1.0-28-amd64",
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"]],
        "ClientInfo": {"Context": context, "Plugins": [{"Name": "buildx", "Version": "v0.20.0"}]},
    }
    lines = "".join(json.dumps(b) + "\n" for b in builders or [])
    return EngineProbe(
        binary=True, info_json=json.dumps(info), buildx_ls=lines if builders else None
    )


def node_builder(name: str, platforms: list[Any], **extra: Any) -> dict[str, Any]:
    node = {"Name": f"{name}0", "Endpoint": "unix:///var/run/docker.sock", "Status": "running"}
    return {
        "Name": name,
        "Driver": "docker-container",
        "Nodes": [{**node, "Platforms": platforms}],
    } | extra


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("4.4.0-19041-Microsoft", "wsl1"),
        ("5.15.167.4-microsoft-standard-WSL2", "wsl2"),
        ("4.19.128-microsoft-standard", "wsl2"),
        ("6.6.36.6-microsoft-standard-WSL2+", "wsl2"),
        ("6.1.0-28-amd64", "linux"),
    ],
)
def test_wsl_is_told_by_the_kernel(release: str, expected: str) -> None:
    host = FakeHost(files={"/proc/sys/kernel/osrelease": release + "\n"})
    assert detect_host(host).os == expected


def test_wsl_from_proc_version_when_osrelease_is_missing() -> None:
    version = "Linux version 4.4.0-22621-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0)"
    assert detect_host(FakeHost(files={"/proc/version": version})).os == "wsl1"


def test_custom_wsl2_kernel_is_known_by_its_interop() -> None:
    host = FakeHost(
        env={"WSL_INTEROP": "/run/WSL/9_interop", "WSL_DISTRO_NAME": "Arch"},
        files={
            "/proc/sys/kernel/osrelease": "6.9.1-custom\n",
            "/proc/sys/fs/binfmt_misc/WSLInterop": "enabled\ninterpreter /init\nflags: PF\n",
        },
    )
    facts = detect_host(host)
    assert facts.os == "wsl2"
    assert "WSLInterop" in facts.reason("os")


@pytest.mark.parametrize(
    ("env", "ci"),
    [
        ({"GITHUB_ACTIONS": "true", "CI": "true"}, "github"),
        ({"GITLAB_CI": "true", "CI": "true"}, "gitlab"),
        ({"CI": "true"}, "ci"),
        ({"CI": "false"}, None),
        ({}, None),
    ],
)
def test_ci_providers(env: dict[str, str], ci: str | None) -> None:
    assert detect_host(FakeHost(env=env)).ci == ci


def test_buildx_variants_are_accepted() -> None:
    builders = [
        node_builder("default", ["linux/amd64"]),
        # buildx 0.13 printed OCI platform objects; some builds mark the current builder
        node_builder(
            "multi",
            [
                {"os": "linux", "architecture": "arm64"},
                {"os": "linux", "architecture": "arm", "variant": "v7"},
            ],
            Current=True,
        ),
    ]
    facts = detect_host(FakeHost(probe=engine(builders=builders)))
    assert facts.current_builder is not None
    assert facts.current_builder.name == "multi"
    assert facts.current_builder.platforms == ("linux/arm64", "linux/arm/v7")
    assert facts.current_builder.driver == "docker-container"
    assert facts.buildx.version == "v0.20.0"


def test_current_builder_from_buildx_builder_env_and_buildx_use() -> None:
    builders = [node_builder("default", ["linux/amd64"]), node_builder("fast", ["linux/amd64"])]
    by_env = FakeHost(env={"BUILDX_BUILDER": "fast"}, probe=engine(builders=builders))
    assert current_name(detect_host(by_env)) == "fast"
    used = json.dumps({"Key": "unix:///var/run/docker.sock", "Name": "fast", "Global": False})
    by_use = FakeHost(
        files={"/home/dev/.docker/buildx/current": used}, probe=engine(builders=builders)
    )
    facts = detect_host(by_use)
    assert current_name(facts) == "fast"
    assert "buildx use" in facts.reason("docker")
    # a choice stored for another endpoint does not apply here
    other = json.dumps({"Key": "ssh://build@arm-box", "Name": "fast", "Global": False})
    elsewhere = FakeHost(
        files={"/home/dev/.docker/buildx/current": other}, probe=engine(builders=builders)
    )
    assert current_name(detect_host(elsewhere)) == "default"


def test_remote_engine_is_judged_by_its_builder() -> None:
    builders = [node_builder("default", ["linux/arm64", "linux/amd64"])]
    host = FakeHost(
        env={"DOCKER_HOST": "ssh://build@arm-box"},
        probe=engine(arch="aarch64", builders=builders),
        files={
            # this machine's binfmt_misc says nothing about the remote engine
            "/proc/sys/fs/binfmt_misc/qemu-riscv64": "enabled\nflags: PF\n",
        },
    )
    facts = detect_host(host)
    assert facts.emulation_for("linux/arm64") == "native"
    assert facts.emulation_for("linux/amd64") == "qemu"
    assert facts.emulation_for("linux/riscv64") is None
    assert "the engine is remote" in facts.reason("emulation")


def test_engine_on_another_kernel_is_judged_by_its_builder() -> None:
    # `docker context use` to another machine: docker info shows that machine's kernel
    host = FakeHost(
        files={
            "/proc/sys/kernel/osrelease": "6.1.0-28-amd64\n",
            "/proc/sys/fs/binfmt_misc/qemu-aarch64": "enabled\nflags: PF\n",
        },
        probe=engine(builders=[node_builder("default", ["linux/amd64", "linux/s390x"])]),
    )
    host.probe = EngineProbe(
        binary=True,
        info_json=(host.probe.info_json or "").replace("6.1.0-28-amd64", "5.14.0-427.el9"),
        buildx_ls=host.probe.buildx_ls,
    )
    facts = detect_host(host)
    assert facts.emulation_for("linux/arm64") is None
    assert facts.emulation_for("linux/s390x") == "qemu"
    assert "kernel 5.14.0-427.el9" in facts.reason("emulation")


def test_arm32_is_native_on_arm64_only_when_the_builder_lists_it() -> None:
    qemu_arm = {"/proc/sys/fs/binfmt_misc/qemu-arm": "enabled\nflags: POCF\n"}
    listed = FakeHost(
        machine="aarch64",
        files=qemu_arm,
        probe=engine(arch="aarch64", builders=[node_builder("b", ["linux/arm64", "linux/arm/v7"])]),
    )
    facts = detect_host(listed)
    assert facts.emulation_for("linux/arm/v7") == "native"
    assert facts.emulation_for("linux/arm/v6") == "qemu"
    bare = FakeHost(
        machine="aarch64",
        probe=engine(arch="aarch64", builders=[node_builder("b", ["linux/arm64"])]),
    )
    assert detect_host(bare).emulation_for("linux/arm/v7") is None


def test_disabled_binfmt_entry_and_rosetta_entry() -> None:
    host = FakeHost(
        machine="aarch64",
        probe=engine(arch="aarch64", builders=[node_builder("b", ["linux/arm64"])]),
        files={
            # a Linux VM on Apple Silicon (Lima, OrbStack) with Rosetta registered
            "/proc/sys/fs/binfmt_misc/rosetta": (
                "enabled\ninterpreter /mnt/lima-rosetta/rosetta\nflags: OCF\n"
            ),
            "/proc/sys/fs/binfmt_misc/qemu-riscv64": "disabled\nflags: PF\n",
        },
    )
    facts = detect_host(host)
    assert facts.emulation_for("linux/amd64") == "rosetta"
    assert facts.emulation_for("linux/riscv64") is None
    assert "qemu-riscv64 is disabled" in facts.reason("emulation")


@pytest.mark.parametrize(
    ("settings_name", "settings", "kind"),
    [
        ("settings.json", {"useVirtualizationFrameworkRosetta": True}, "rosetta"),
        (
            "settings-store.json",
            {"UseVirtualizationFramework": False, "UseVirtualizationFrameworkRosetta": True},
            "qemu",
        ),
        ("settings-store.json", {"UseVirtualizationFrameworkRosetta": False}, "qemu"),
    ],
)
def test_desktop_rosetta_setting_in_both_casings(
    settings_name: str, settings: dict[str, bool], kind: str
) -> None:
    path = f"/Users/dev/Library/Group Containers/group.com.docker/{settings_name}"
    host = FakeHost(
        system="Darwin",
        machine="arm64",
        env={"HOME": "/Users/dev"},
        project_dir="/Users/dev/app",
        files={path: json.dumps(settings)},
        probe=engine(
            arch="aarch64",
            desktop=True,
            context="desktop-linux",
            builders=[node_builder("desktop-linux", ["linux/arm64", "linux/amd64"])],
        ),
    )
    facts = detect_host(host)
    assert facts.emulation_for("linux/amd64") == kind
    assert settings_name in facts.reason("emulation")


def test_mount_table_escapes_and_longest_prefix() -> None:
    mounts = (
        "/dev/sda1 / ext4 rw 0 0\n"
        "server:/export /home/dev/My\\040Projects nfs4 rw 0 0\n"
        "tmpfs /home/dev/My\\040Projects/app/tmp tmpfs rw 0 0\n"
        "C:\\134 /mnt/c drvfs rw,noatime,uid=1000 0 0\n"
    )
    host = FakeHost(project_dir="/home/dev/My Projects/app", files={"/proc/mounts": mounts})
    source = detect_host(host).source
    assert (source.mount_point, source.fs_type, source.fs) == (
        "/home/dev/My Projects",
        "nfs4",
        "nfs",
    )
    wsl1 = FakeHost(project_dir="/mnt/c/src", files={"/proc/mounts": mounts}, measured=None)
    assert (detect_host(wsl1).source.fs, detect_host(wsl1).source.slow) == ("drvfs", True)


@pytest.mark.parametrize(
    ("fs_type", "fs", "slow"),
    [
        ("fuse.grpcfuse", "grpcfuse", True),
        ("fuse.osxfs", "osxfs", True),
        ("fakeowner", "fakeowner", True),
        ("virtiofs", "virtiofs", True),
        ("cifs", "smb", True),
        ("fuse.sshfs", "fuse", False),
        ("fuseblk", "fuse", False),
        ("xfs", "xfs", False),
    ],
)
def test_unmeasured_mounts_are_classed_by_type(fs_type: str, fs: str, slow: bool) -> None:
    host = FakeHost(
        project_dir="/src/app", files={"/proc/mounts": f"x /src {fs_type} rw 0 0\n"}, measured=None
    )
    source = detect_host(host).source
    assert (source.fs, source.slow) == (fs, slow)


def test_macos_mount_output_and_its_absence() -> None:
    share = "//dev@nas/code on /Volumes/code (smbfs, nodev, nosuid, mounted by dev)\n"
    host = FakeHost(system="Darwin", project_dir="/Volumes/code/app", mount=share, measured=None)
    assert detect_host(host).source.fs == "smb"
    bare = FakeHost(system="Darwin", project_dir="/Users/dev/app", mount=None)
    assert detect_host(bare).source.fs == "apfs"


# --- the live machine, recorded and replayed --------------------------------------------


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    for number in range(20):
        (project / "src" / f"f{number}.c").write_text("int x;\n")
    (project / "Dockerfile").write_text("FROM scratch\n")
    return project


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live view without the docker CLI: these tests are about recording, not docker."""
    monkeypatch.setattr(view_module, "probe_engine", lambda env: EngineProbe(binary=False))


@pytest.mark.subprocesses
def test_live_host_round_trips_through_a_snapshot(tmp_path: Path) -> None:
    live = LiveHost(_project(tmp_path), {**os.environ, "BUILDORCH_TEST_SECRET": "s3cret"})
    first = detect_host(live).to_json()
    snap = tmp_path / "snap"
    save_snapshot(live, snap)
    replayed = detect_host(load_snapshot(snap)).to_json()
    assert replayed == first
    host = json.loads((snap / "host.json").read_text())
    assert "BUILDORCH_TEST_SECRET" not in host["env"]
    assert "PATH" not in host["env"]  # the probe uses it, detection does not read it
    assert first["source"]["stat_us"] is not None
    assert (snap / "docker").is_dir() == first["docker"]["binary"]


@pytest.mark.subprocesses  # the live view runs the emulators binfmt_misc registers here
def test_a_snapshot_keeps_of_docker_info_only_what_detection_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = (SNAPSHOTS / "linux-amd64-qemu" / "docker" / "info.json").read_text()
    info = {
        **json.loads(real),
        "HttpProxy": "http://dev:TOPSECRET1@proxy.internal:3128",
        "RegistryConfig": {"Mirrors": ["https://mirror.internal/"]},
        "Labels": ["team-token=TOPSECRET2"],
    }
    info["ClientInfo"]["Plugins"][0]["Path"] = "/home/dev/.docker/cli-plugins/docker-buildx"
    probe = EngineProbe(binary=True, info_json=json.dumps(info), version_json="{}")
    monkeypatch.setattr(view_module, "probe_engine", lambda env: probe)
    live = LiveHost(_project(tmp_path), {"HOME": "/home/dev"})
    snap = tmp_path / "snap"
    save_snapshot(live, snap)
    recorded = (snap / "docker" / "info.json").read_text()
    assert "TOPSECRET" not in recorded and "internal" not in recorded and "/home" not in recorded
    kept = json.loads(recorded)
    assert kept["ServerVersion"] == info["ServerVersion"]
    assert kept["ClientInfo"]["Plugins"] == [{"Name": "buildx", "Version": "v0.14.1"}]
    assert detect_host(load_snapshot(snap)).docker == detect_host(live).docker


@pytest.mark.subprocesses  # the live view runs the emulators binfmt_misc registers here
def test_snapshot_keeps_only_what_detection_read(tmp_path: Path, no_engine: None) -> None:
    live = LiveHost(
        _project(tmp_path), {"HOME": "/home/dev", "GITHUB_TOKEN": "ghp_x", "CI": "true"}
    )
    snap = tmp_path / "snap"
    save_snapshot(live, snap)  # detection runs inside: nothing needs to be read first
    host = json.loads((snap / "host.json").read_text())
    # HOME too is read only to find buildx's choice of builder, and there is no docker here
    assert host["env"] == {"CI": "true"}
    assert not (snap / "docker").exists()
    replayed = load_snapshot(snap)
    assert replayed.project_dir == live.project_dir
    # a listed directory replays from its recorded entries
    for folder in live.listings:
        assert replayed.list_dir(folder) == live.list_dir(folder)
    assert detect_host(replayed).to_json() == detect_host(live).to_json()


def test_save_refuses_a_folder_that_is_not_a_snapshot(tmp_path: Path, no_engine: None) -> None:
    live = LiveHost(_project(tmp_path), {})
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(SnapshotError) as failure:
        save_snapshot(live, busy)
    assert "not a buildorch snapshot" in str(failure.value)
    assert "new folder" in failure.value.fix
    assert (busy / "notes.txt").read_text() == "mine"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(SnapshotError):
        save_snapshot(live, a_file)


@pytest.mark.subprocesses  # the live view runs the emulators binfmt_misc registers here
def test_save_replaces_an_earlier_snapshot_or_fills_an_empty_folder(
    tmp_path: Path, no_engine: None
) -> None:
    live = LiveHost(_project(tmp_path), {})
    empty = tmp_path / "empty"
    empty.mkdir()
    save_snapshot(live, empty)
    assert (empty / "host.json").is_file()
    (empty / "probe.json").write_text('{"stat_us": 999.0}')
    save_snapshot(live, empty)
    assert json.loads((empty / "probe.json").read_text())["stat_us"] != 999.0
    # nothing is left behind next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "project"]


def test_stat_probe_is_none_for_an_empty_folder(tmp_path: Path) -> None:
    assert view_module.measure_stat_us(tmp_path) is None
    (tmp_path / "a").write_text("x")
    measured = view_module.measure_stat_us(tmp_path)
    assert measured is not None and measured > 0


@pytest.mark.parametrize(
    "printed",
    [
        # docker 25 and later: an object per line
        '{"Current":true,"DockerEndpoint":"unix:///var/run/docker.sock","Error":"","Name":"default"}\n'
        '{"Current":false,"DockerEndpoint":"ssh://dev@arm-box","Error":"","Name":"arm-box"}\n',
        # before: one JSON list
        '[{"Current":true,"DockerEndpoint":"unix:///var/run/docker.sock","Name":"default"},'
        '{"Current":false,"DockerEndpoint":"ssh://dev@arm-box","Name":"arm-box"}]',
    ],
)
def test_docker_contexts_are_read_in_both_forms(printed: str) -> None:
    from buildorch.detect.docker import detect_contexts
    from buildorch.engine import EngineProbe

    contexts = detect_contexts(EngineProbe(binary=True, contexts=printed))
    assert [(c.name, c.endpoint, c.current) for c in contexts] == [
        ("default", "unix:///var/run/docker.sock", True),
        ("arm-box", "ssh://dev@arm-box", False),
    ]
