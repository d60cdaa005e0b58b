"""The planner over hand-made facts: every strategy, every refusal, every grouping."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from buildorch.config import NativeBuilder, Options, RunSettings
from buildorch.errors import PlanError
from buildorch.facts import (
    BuilderFacts,
    BuildxFacts,
    DockerFacts,
    DockerfileFacts,
    EmulationFact,
    HeavyTree,
    HostFacts,
    ProjectFacts,
    Reason,
    SourceFacts,
    StageFacts,
)
from buildorch.plan import RunPlan, Sources, Strategy
from buildorch.planner import plan_build, plan_run
from buildorch.platforms import parse_targets
from buildorch.profiles import Cost, Costs


def host(
    *,
    arch: str = "amd64",
    store: str = "classic",
    emulation: Mapping[str, str | None] | None = None,
    driver: str = "docker",
    slow: bool = False,
) -> HostFacts:
    emulation = emulation if emulation is not None else {f"linux/{arch}": "native"}
    return HostFacts(
        os="linux",
        arch=arch,
        ci=None,
        docker=DockerFacts(
            binary=True,
            available=True,
            version="26.1.5",
            arch=arch,
            image_store=store,  # type: ignore[arg-type]
        ),
        buildx=BuildxFacts(available=True, version="0.13.1"),
        builders=(
            BuilderFacts(
                name="default",
                driver=driver,
                status="running",
                platforms=tuple(emulation),
                current=True,
            ),
        ),
        emulation=tuple(
            EmulationFact(platform=p, kind=k)  # type: ignore[arg-type]
            for p, k in emulation.items()
        ),
        source=SourceFacts(
            path="/src/app",
            mount_point="/",
            fs_type="9p" if slow else "ext4",
            fs="9p" if slow else "ext4",
            slow=slow,
            stat_us=120.0 if slow else 3.0,
        ),
        reasons=(Reason("emulation", "read from /proc/sys/fs/binfmt_misc"),),
    )


def stage(index: int, *, build_platform: bool, targets: bool, runs: int = 1) -> StageFacts:
    return StageFacts(
        index=index,
        name=f"s{index}",
        base="debian:bookworm",
        platform="$BUILDPLATFORM" if build_platform else None,
        on_build_platform=build_platform,
        run_steps=runs,
        uses_target_args=targets,
        depends_on=(index - 1,) if index else (),
    )


def project(*, cross: bool, emulated_runs: int = 0) -> ProjectFacts:
    stages: tuple[StageFacts, ...]
    if cross:
        stages = (
            stage(0, build_platform=True, targets=True, runs=2),
            stage(1, build_platform=False, targets=False, runs=emulated_runs),
        )
    else:
        stages = (stage(0, build_platform=False, targets=False, runs=3),)
    return ProjectFacts(
        dir="/src/app",
        context="/src/app",
        dockerfile=DockerfileFacts(
            path="/src/app/Dockerfile",
            stages=stages,
            target_stage=len(stages) - 1,
            cross_capable=cross,
            emulated_run_steps=emulated_runs if cross else 3,
        ),
    )


def options(targets: tuple[str, ...] = ("arm64",), **changes: Any) -> Options:
    base = Options(
        project_dir=Path("/src/app"),
        targets=parse_targets(targets),
        dockerfile=None,
        context=".",
        build_target=None,
        tags=(),
        output="none",
        output_dir=None,
        strategy=None,
        prefer=(Strategy.NATIVE, Strategy.CROSS, Strategy.QEMU),
        build_args=(),
        builder=None,
        use_template=False,
        origins=(),
    )
    return dataclasses.replace(base, **changes)


def costs(**factors: float) -> Costs:
    """linux-amd64's figures, or these."""
    figures = {"cross": 1.05, "qemu": 13.5, "rosetta": 1.6, "remote": 1.15, **factors}
    return Costs(
        **{name: Cost(factor, "profile linux-amd64's figure") for name, factor in figures.items()},
        mirror_min_seconds=1.0,
    )


COSTS = costs()


QEMU_ARM64 = {"linux/amd64": "native", "linux/arm64": "qemu"}


def test_native_target_builds_natively() -> None:
    plan = plan_build(host(), project(cross=False), options(("amd64",)), COSTS)
    (step,) = plan.steps
    assert step.strategy is Strategy.NATIVE
    assert step.cost == 1.0


def test_cross_capable_dockerfile_cross_compiles_instead_of_emulating() -> None:
    plan = plan_build(host(emulation=QEMU_ARM64), project(cross=True), options(), COSTS)
    (step,) = plan.steps
    assert step.strategy is Strategy.CROSS
    assert step.emulator is None
    rejected = {r.strategy: r.why for r in step.rejected}
    assert "pins its compile stages" in rejected[Strategy.QEMU]
    assert "not linux/arm64" in rejected[Strategy.NATIVE]


def test_plain_dockerfile_falls_back_to_qemu_with_the_cost() -> None:
    plan = plan_build(host(emulation=QEMU_ARM64), project(cross=False), options(), COSTS)
    (step,) = plan.steps
    assert step.strategy is Strategy.QEMU
    assert step.cost == 13.5
    assert step.emulator == "qemu"


def test_cross_with_final_stage_run_steps_needs_an_emulator() -> None:
    with pytest.raises(PlanError) as failure:
        plan_build(host(), project(cross=True, emulated_runs=2), options(), COSTS)
    assert failure.value.exit_code == 6
    assert "RUN step(s) run on linux/arm64" in failure.value.why
    plan = plan_build(
        host(emulation=QEMU_ARM64), project(cross=True, emulated_runs=2), options(), COSTS
    )
    assert plan.steps[0].strategy is Strategy.CROSS
    assert plan.steps[0].emulator == "qemu"


def test_no_way_to_build_says_what_to_do() -> None:
    with pytest.raises(PlanError) as failure:
        plan_build(host(), project(cross=False), options(), COSTS)
    message = str(failure.value)
    assert "no way to build linux/arm64" in message
    assert "binfmt" in message and "$BUILDPLATFORM" in message and "ubuntu-24.04-arm" in message


def test_forced_strategy_that_cannot_apply_is_refused() -> None:
    with pytest.raises(PlanError) as failure:
        plan_build(
            host(emulation=QEMU_ARM64),
            project(cross=False),
            options(strategy=Strategy.CROSS),
            COSTS,
        )
    assert "--strategy cross" in failure.value.what
    assert "--strategy qemu" in failure.value.fix


def test_cross_on_apple_silicon_emulates_the_final_stage_with_rosetta() -> None:
    apple = {"linux/arm64": "native", "linux/amd64": "rosetta"}
    plan = plan_build(
        host(arch="arm64", emulation=apple),
        project(cross=True, emulated_runs=1),
        options(("amd64",)),
        COSTS,
    )
    assert plan.steps[0].strategy is Strategy.CROSS
    assert plan.steps[0].emulator == "rosetta"


def test_rosetta_is_cheaper_than_qemu_for_a_plain_dockerfile() -> None:
    apple = {"linux/arm64": "native", "linux/amd64": "rosetta"}
    plan = plan_build(
        host(arch="arm64", emulation=apple),
        project(cross=False),
        options(("amd64",)),
        COSTS,
    )
    assert plan.steps[0].strategy is Strategy.QEMU
    assert plan.steps[0].cost == 1.6


def test_classic_store_builds_one_platform_per_call_and_merges_pushes() -> None:
    plan = plan_build(
        host(emulation=QEMU_ARM64),
        project(cross=True),
        options(("arm64", "amd64"), output="push", tags=("localhost:5000/app:1",)),
        COSTS,
    )
    assert [inv.label for inv in plan.invocations] == ["linux-arm64", "linux-amd64"]
    # the docker driver cannot push by digest: one tag per platform, then one manifest list
    assert [inv.output.tags for inv in plan.invocations] == [
        ("localhost:5000/app:1-linux-arm64",),
        ("localhost:5000/app:1-linux-amd64",),
    ]
    assert plan.merge is not None
    assert plan.merge.tags == ("localhost:5000/app:1",)
    assert plan.merge.sources == (
        "localhost:5000/app:1-linux-arm64",
        "localhost:5000/app:1-linux-amd64",
    )
    assert any("one build per platform" in note for note in plan.notes)


def test_containerd_store_builds_all_platforms_at_once() -> None:
    plan = plan_build(
        host(emulation=QEMU_ARM64, store="containerd"),
        project(cross=True),
        options(("arm64", "amd64"), output="dir", output_dir="/tmp/out"),
        COSTS,
    )
    (invocation,) = plan.invocations
    assert [str(p) for p in invocation.platforms] == ["linux/arm64", "linux/amd64"]
    assert plan.merge is None


def test_classic_store_per_platform_folders_and_tags() -> None:
    facts, proj = host(emulation=QEMU_ARM64), project(cross=True)
    dirs = plan_build(
        facts, proj, options(("arm64", "amd64"), output="dir", output_dir="/o"), COSTS
    )
    assert [inv.output.dest for inv in dirs.invocations] == ["/o/linux_arm64", "/o/linux_amd64"]
    loads = plan_build(
        facts, proj, options(("arm64", "amd64"), output="load", tags=("app:1",)), COSTS
    )
    assert [inv.output.tags for inv in loads.invocations] == [
        ("app:1-linux-arm64",),
        ("app:1-linux-amd64",),
    ]


def test_no_targets_means_the_engines_own_platform() -> None:
    plan = plan_build(host(arch="arm64"), project(cross=False), options(()), COSTS)
    assert [str(s.platform) for s in plan.steps] == ["linux/arm64"]


def test_slow_share_is_noted() -> None:
    plan = plan_build(host(slow=True), project(cross=False), options(("amd64",)), COSTS)
    assert any("slow share (9p, 120 us per stat)" in note for note in plan.notes)


def test_plan_json_has_the_stable_keys() -> None:
    data = plan_build(host(emulation=QEMU_ARM64), project(cross=True), options(), COSTS).to_json()
    (step,) = data["steps"]
    assert set(step) >= {"platform", "strategy", "sources", "reasons", "rejected"}
    assert step["sources"] == "direct"
    assert {r["strategy"] for r in step["rejected"]} == {"native", "qemu", "remote", "offload"}


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("app", "app:latest-linux-arm64"),
        ("app:1.0", "app:1.0-linux-arm64"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest-linux-arm64"),
        ("localhost:5000/app:dev", "localhost:5000/app:dev-linux-arm64"),
    ],
)
def test_platform_tags_keep_the_registry_port(tag: str, expected: str) -> None:
    plan = plan_build(
        host(emulation=QEMU_ARM64),
        project(cross=True),
        options(("arm64", "amd64"), output="load", tags=(tag,)),
        COSTS,
    )
    assert plan.invocations[0].output.tags == (expected,)


# --- how the build reaches the sources ---


def test_slow_share_with_many_files_is_mirrored() -> None:
    facts = dataclasses.replace(project(cross=True), context_files=10_000)
    plan = plan_build(host(slow=True), facts, options(), COSTS, "/cache/mirror")
    assert plan.mirror is not None
    assert plan.mirror.path == "/cache/mirror"
    assert {step.sources.value for step in plan.steps} == {"mirror"}
    # 10,000 files x 6.5 trips x 120 us: what reading them through the share would cost
    assert "about 7.8 s per build through the share" in plan.steps[0].reasons[2]
    assert plan.invocations[0].context == "/cache/mirror"
    assert plan.invocations[0].dockerfile == "/cache/mirror/Dockerfile"
    assert not any("slow share" in note for note in plan.notes)


def test_slow_share_with_few_files_is_read_directly() -> None:
    facts = dataclasses.replace(project(cross=True), context_files=40)
    plan = plan_build(host(slow=True), facts, options(), COSTS, "/cache/mirror")
    assert plan.mirror is None
    assert plan.steps[0].sources.value == "direct"
    assert "under the profile's 1 s threshold" in plan.steps[0].reasons[2]
    assert plan.invocations[0].context == "/src/app"


def test_fast_disk_is_read_directly_and_mirror_can_be_forced() -> None:
    facts = dataclasses.replace(project(cross=True), context_files=10_000)
    assert plan_build(host(), facts, options(), COSTS, "/cache/mirror").mirror is None
    forced = plan_build(host(), facts, options(sources=Sources.MIRROR), COSTS, "/cache/mirror")
    assert forced.mirror is not None
    assert "as asked" in forced.steps[0].reasons[2]


def test_a_build_cannot_read_a_volume() -> None:
    with pytest.raises(PlanError, match="cannot read its sources from a volume"):
        plan_build(host(), project(cross=True), options(sources=Sources.VOLUME), COSTS)


def test_mirror_needs_a_home() -> None:
    with pytest.raises(PlanError, match="no folder to keep a mirror in"):
        plan_build(host(), project(cross=True), options(sources=Sources.MIRROR), COSTS, None)


def test_heavy_folders_are_reported_with_the_ignore_line() -> None:
    heavy = HeavyTree(path="web/node_modules", files=4000, bytes=52_300_000, ignore_line="x")
    facts = dataclasses.replace(project(cross=True), heavy=(heavy,))
    plan = plan_build(host(), facts, options(), COSTS)
    assert any(
        "web/node_modules/ (4000 files, 52.3 MB)" in note and "add `x`" in note
        for note in plan.notes
    )


# --- buildorch run ---


def run_plan(
    hosted: HostFacts | None = None, *, keep: tuple[str, ...] | None = None, **changes: Any
) -> RunPlan:
    return plan_run(
        hosted or host(),
        options(run=RunSettings(image="debian:bookworm", keep=keep), **changes),
        command=("make", "-j2"),
        source_dir="/src/app",
        project_id="app-123",
        languages=("rust", "c"),
    )


def test_run_copies_sources_into_a_volume_per_platform() -> None:
    plan = run_plan(host(emulation=QEMU_ARM64))
    assert plan.sources.value == "volume"
    assert plan.volume == "buildorch-app-123-linux-arm64"
    assert plan.emulator == "qemu"
    assert plan.keep == (("target", "buildorch-app-123-linux-arm64-target"),)
    assert "cannot touch the sources" in plan.reasons[1]


def test_run_on_a_slow_share_says_so() -> None:
    plan = run_plan(host(slow=True), targets=())
    assert "9p is a slow share (120 us per stat)" in plan.reasons[1]
    assert plan.emulator is None


def test_run_direct_binds_the_project_and_keeps_nothing_apart() -> None:
    plan = run_plan(host(), targets=(), sources=Sources.DIRECT, keep=("target",))
    assert plan.volume is None
    assert plan.keep == ()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run": RunSettings(image=None)}, "no image to run the command in"),
        ({"targets": parse_targets(["arm64", "amd64"])}, "one platform at a time"),
        ({"run": RunSettings(image="img", collect=("build/app",))}, "--collect needs a folder"),
        ({"sources": Sources.MIRROR}, "works in a volume, not a mirror"),
    ],
)
def test_run_refuses_what_it_cannot_do(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_run(
            host(emulation=QEMU_ARM64),
            dataclasses.replace(options(run=RunSettings(image="img")), **changes),
            command=("make",),
            source_dir="/src/app",
            project_id="app-123",
            languages=(),
        )


def test_run_without_an_emulator_for_the_target_fails() -> None:
    with pytest.raises(PlanError, match="nothing here can run linux/arm64 programs"):
        run_plan(host())


def with_arm64_box(facts: HostFacts, *, driver: str = "docker-container") -> HostFacts:
    """An ssh-reached arm64 machine as a second builder, as `buildx ls` reports it."""
    box = BuilderFacts(
        name="arm-box",
        driver=driver,
        status="running",
        platforms=("linux/arm64", "linux/arm/v7"),
        endpoint="ssh://dev@arm-box",
        native=("linux/arm64",),
    )
    return dataclasses.replace(facts, builders=(*facts.builders, box))


def test_a_native_remote_node_beats_qemu_but_not_cross_compiling() -> None:
    facts = with_arm64_box(host(emulation=QEMU_ARM64))
    plan = plan_build(facts, project(cross=False), options(), COSTS)
    (step,) = plan.steps
    assert (step.strategy, step.builder) == (Strategy.REMOTE, "arm-box")
    assert "builder `arm-box` (docker-container driver, ssh://dev@arm-box)" in step.reasons[1]
    assert plan.invocations[0].builder == "arm-box"
    # a Dockerfile that cross-compiles is cheaper here than sending the context away
    cross = plan_build(facts, project(cross=True), options(), COSTS)
    assert cross.steps[0].strategy is Strategy.CROSS
    assert (
        "costs about 1.15x native"
        in {r.strategy: r.why for r in cross.steps[0].rejected}[Strategy.REMOTE]
    )


def test_a_declared_native_builder_counts_and_a_docker_context_builds_in_its_context() -> None:
    facts = with_arm64_box(host(emulation={"linux/amd64": "native"}), driver="docker")
    facts = dataclasses.replace(
        facts,
        builders=tuple(dataclasses.replace(b, native=("linux/amd64",)) for b in facts.builders),
    )
    undeclared = options()
    with pytest.raises(PlanError, match="no other buildx builder has a native linux/arm64"):
        plan_build(facts, project(cross=False), undeclared, COSTS)
    declared = dataclasses.replace(
        undeclared, native_builders=(NativeBuilder("arm-box", ("linux/arm64",)),)
    )
    plan = plan_build(facts, project(cross=False), declared, COSTS)
    assert plan.steps[0].strategy is Strategy.REMOTE
    assert "buildorch.yaml's `builders:` says so" in plan.steps[0].reasons[1]
    (invocation,) = plan.invocations
    assert (invocation.builder, invocation.docker_context) == (None, "arm-box")
    # --load from another context's docker driver would land in that engine
    loading = dataclasses.replace(declared, output="load", tags=("app:dev",))
    with pytest.raises(PlanError) as refused:
        plan_build(facts, project(cross=False), loading, COSTS)
    assert "--load would leave the image in its engine" in str(refused.value)


def test_a_remote_platform_and_a_local_one_are_built_apart() -> None:
    facts = with_arm64_box(host(store="containerd", emulation=QEMU_ARM64))
    plan = plan_build(facts, project(cross=False), options(("amd64", "arm64")), COSTS)
    assert [(str(i.platforms[0]), i.builder) for i in plan.invocations] == [
        ("linux/amd64", None),
        ("linux/arm64", "arm-box"),
    ]
