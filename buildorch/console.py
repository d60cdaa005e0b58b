"""Everything buildorch prints for people. Scripts use `--json` instead."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from buildorch.errors import BuildorchError
from buildorch.executor import BuildReport, InvocationResult
from buildorch.facts import HostFacts, ProjectFacts
from buildorch.plan import Invocation, Plan, RunPlan
from buildorch.runner import RunReport

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    # plain print: rich would wrap long strings and break the JSON for `jq`
    print(json.dumps(data, indent=2, sort_keys=False))


def error(exc: BuildorchError) -> None:
    err.print(f"[bold red]error:[/] {escape(exc.what)}")
    if exc.why:
        err.print(f"[red]  why:[/] {escape(exc.why)}")
    if exc.fix:
        err.print(f"[yellow]  fix:[/] {escape(exc.fix)}")


def doctor(host: HostFacts, profile: str) -> None:
    table = Table(title="buildorch doctor", show_lines=False, expand=False)
    table.add_column("fact", style="bold")
    table.add_column("value", overflow="fold")  # endpoints and paths are never cut short
    table.add_column("why / what it means", style="dim", overflow="fold")
    why = dict(host.reasons)
    docker = host.docker
    table.add_row("host", f"{host.os} {host.arch}", why.get("os", "") + " " + why.get("arch", ""))
    table.add_row("ci", host.ci or "-", why.get("ci", ""))
    table.add_row("profile", profile, "thresholds and preferences for this host class")
    if not docker.binary:
        engine = "[red]no docker CLI[/]"
    elif not docker.available:
        engine = "[red]not reachable[/]"
    else:
        kind = "Docker Desktop" if docker.desktop else "engine"
        engine = f"{kind} {docker.version} ({docker.arch})"
    table.add_row("docker", engine, docker.error or why.get("docker", ""))
    table.add_row("image store", docker.image_store or "-", why.get("image_store", ""))
    table.add_row("context", docker.context or "-", "")
    buildx = f"buildx {host.buildx.version}" if host.buildx.available else "[red]missing[/]"
    table.add_row("buildx", buildx, "")
    for builder in host.builders:
        mark = "*" if builder.current else " "
        kind = "context" if builder.is_context else ""
        native = ", ".join(builder.native) or "-"
        others = [p for p in builder.platforms if p not in builder.native]
        table.add_row(
            f"builder{mark}",
            f"{builder.name} ({builder.driver}{', ' + kind if kind else ''}, {builder.status})",
            f"native: {native}"
            + (f"; emulated or declared: {', '.join(others)}" if others else "")
            + (f"; at {builder.endpoint}" if builder.endpoint not in ("", builder.name) else ""),
        )
    natives = {b.name: b.native for b in host.builders}
    for context in host.contexts:
        native = ", ".join(natives.get(context.name, ())) or "-"
        table.add_row(
            "context" + ("*" if context.current else " "),
            f"{context.name} at {context.endpoint or '?'}",
            context.error or f"native: {native}",
        )
    for fact in host.emulation:
        if fact.kind is None and fact.works is None and fact.flagged is None:
            continue  # nothing here runs it, and no emulator was looked at
        checked = {True: ", runs a test program", False: ", [red]broken[/]", None: ""}[fact.works]
        version = f" ({escape(fact.emulator)})" if fact.emulator else ""
        known_bad = f", [red]known-bad[/]: {escape(fact.flagged)}" if fact.flagged else ""
        table.add_row(
            "runs" if fact.kind is not None else "[red]not used[/]",
            fact.platform,
            f"{fact.kind or 'emulator'}{version}{checked}{known_bad}",
        )
    table.add_row("emulation", "", why.get("emulation", ""))
    source = host.source
    stat = f"{source.stat_us:.1f} us/stat" if source.stat_us is not None else "not measured"
    speed = "[red]slow share[/]" if source.slow else "fast"
    table.add_row("sources", f"{source.fs} ({speed}, {stat})", why.get("source", source.path))
    out.print(table)


def plan(plan_: Plan, project: ProjectFacts) -> None:
    for step in plan_.steps:
        table = Table(
            title=f"{step.platform}: [bold green]{step.strategy}[/] (about {step.cost:g}x native)",
            show_header=True,
            title_justify="left",
        )
        table.add_column("", width=12, no_wrap=True)
        table.add_column("why", overflow="fold")
        for reason in step.reasons:
            table.add_row("[green]because[/]", escape(reason))
        for rejected in step.rejected:
            table.add_row(f"[dim]not {rejected.strategy}[/]", f"[dim]{escape(rejected.why)}[/]")
        out.print(table)
    builds = Table(title="builds", title_justify="left")
    for column in ("build", "platforms", "output"):
        builds.add_column(column)
    for inv in plan_.invocations:
        builds.add_row(inv.label, ", ".join(map(str, inv.platforms)), describe_output(inv))
    if plan_.merge is not None:
        builds.add_row("merge", "", "imagetools create " + " ".join(plan_.merge.tags))
    out.print(builds)
    if plan_.cross is not None:
        stages = Table(title="stages, cross-compiling", title_justify="left")
        for column in ("stage", "", "why"):
            stages.add_column(column, overflow="fold")
        for verdict in plan_.cross.stages:
            stages.add_row(
                escape(verdict.label),
                "[green]moves[/]" if verdict.moves else "[dim]stays[/]",
                escape("; ".join((verdict.why, *verdict.changes[:1]))),
            )
        out.print(stages)
    if project.dockerfile is not None:
        derived = any(inv.derived_dockerfile for inv in plan_.invocations)
        written = plan_.cross.file if plan_.cross and plan_.cross.file else None
        written_name = re.split(r"[\\/]", written)[-1] if written else None
        out.print(
            f"[dim]Dockerfile: {escape(project.dockerfile.path)}"
            + (
                (
                    " (built as derived; `buildorch init --cross` writes it to"
                    f" {escape(written_name)})"
                    if written_name
                    else " (built as derived)"
                )
                if derived
                else ""
            )
            + "[/]"
        )
    sources = plan_.steps[0].sources if plan_.steps else None
    out.print(
        f"[dim]sources: {sources}, context {project.context_files} files "
        f"({project.context_bytes / 1e6:.1f} MB), listed in {project.context_walk_seconds:.2f}s"
        + (f"; mirror {escape(plan_.mirror.path)}" if plan_.mirror else "")
        + "[/]"
    )
    for note in plan_.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")


def describe_output(inv: Invocation) -> str:
    output = inv.output
    match output.kind:
        case "dir":
            return f"files -> {output.dest}"
        case "push":
            return "push " + ", ".join(output.tags)
        case "load":
            return "load " + (", ".join(output.tags) or "(untagged)")
        case _:
            return "build cache only"


class LiveProgress:
    """Live view of running builds: a spinner per build and the step buildx is on.

    On a terminal it redraws in place; elsewhere (CI logs, pipes) it prints each buildx line
    with the build's label, so the log reads like `docker buildx build --progress plain`.
    """

    def __init__(self, *, quiet: bool = False) -> None:
        self._quiet = quiet
        self._live: Live | None = None
        self._current: dict[str, _Running] = {}
        self._done: list[InvocationResult] = []

    def __enter__(self) -> LiveProgress:
        if err.is_terminal and not self._quiet:
            self._live = Live(self._render(), console=err, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def note(self, text: str) -> None:
        if not self._quiet:
            (self._live.console if self._live is not None else err).print(f"[dim]{escape(text)}[/]")

    def started(self, invocation: Invocation, strategies: str) -> None:
        self._current[invocation.label] = _Running(time.monotonic(), strategies)
        if self._live is None and not self._quiet:
            platforms = ", ".join(map(str, invocation.platforms))
            err.print(f"[bold]==> build {invocation.label}[/] ({platforms}, {strategies})")
        self._refresh()

    def line(self, invocation: Invocation, text: str) -> None:
        running = self._current.get(invocation.label)
        if running is not None and text.strip():
            if _STEP_NAME.match(text):
                running.step = text.split(" ", 1)[1]
            running.last = text
        if self._live is None and not self._quiet and text.strip():
            # one log line per line, as `--progress plain` prints it: no wrapping
            err.print(f"[dim]{invocation.label}[/] {escape(text)}", soft_wrap=True)
        self._refresh()

    def finished(self, invocation: Invocation, result: InvocationResult) -> None:
        self._current.pop(invocation.label, None)
        self._done.append(result)
        if not self._quiet:
            mark = "[green]done[/]" if result.ok else "[red]failed[/]"
            err.print(f"{mark} {invocation.label} in {result.seconds:.1f}s")
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        rows: list[Any] = []
        now = time.monotonic()
        for label, running in self._current.items():
            title = Text.assemble(
                (f"{label} ", "bold"),
                (f"{running.strategies} ", "cyan"),
                (f"{now - running.began:5.1f}s ", ""),
                (running.step[:100], ""),
            )
            rows.append(Spinner("dots", text=title))
            rows.append(Text(f"    {running.last[:140]}", style="dim"))
        return Group(*rows)


@dataclass
class _Running:
    """A build under way: when it began, the Dockerfile step it is on, its last line."""

    began: float
    strategies: str
    step: str = "starting"
    last: str = ""


_STEP_NAME = re.compile(r"^#\d+ \[")


def summary(report: BuildReport) -> None:
    table = Table(title="build summary", title_justify="left")
    for column in ("platform", "strategy", "time", "steps (cached)", "result", "output"):
        table.add_column(column, overflow="fold")
    if report.mirror is not None:
        m = report.mirror
        table.add_row(
            "all",
            "mirror",
            f"{m.seconds:.1f}s",
            "",
            "[green]ok[/]",
            f"{m.copied} files copied ({m.copied_bytes / 1e6:.1f} MB), {m.removed} removed, "
            f"{m.unchanged} unchanged",
        )
    for r in report.results:
        table.add_row(
            ", ".join(r.platforms),
            r.strategies,
            f"{r.seconds:.1f}s",
            f"{r.steps} ({r.cached})",
            "[green]ok[/]" if r.ok else "[red]failed[/]",
            escape(r.output),
        )
    if report.merge is not None:
        table.add_row(
            "all",
            "merge",
            f"{report.merge.seconds:.1f}s",
            "",
            "[green]ok[/]",
            "manifest list " + ", ".join(report.merge.tags),
        )
    table.add_row("[bold]total[/]", "", f"[bold]{report.seconds:.1f}s[/]", "", "", "")
    out.print(table)
    for r in report.results:
        for cache in r.compiler_cache:
            if cache.rate is not None:
                out.print(
                    f"compiler cache of {r.label}: {cache.hits}/{cache.hits + cache.misses} hits "
                    f"({cache.rate:.0%}) in {escape(cache.step)}",
                    soft_wrap=True,
                )
        if r.slowest:
            out.print(f"[dim]slowest steps of {r.label}:[/]")
            for name, seconds in r.slowest:
                out.print(f"[dim]  {seconds:6.1f}s  {escape(name)}[/]", soft_wrap=True)


def run_plan(plan_: RunPlan) -> None:
    table = Table(
        title=f"run on {plan_.platform}: [bold green]{plan_.sources}[/]"
        + (f" (under {plan_.emulator})" if plan_.emulator else ""),
        title_justify="left",
    )
    table.add_column("", width=12, no_wrap=True)
    table.add_column("why", overflow="fold")
    for reason in plan_.reasons:
        table.add_row("[green]because[/]", escape(reason))
    table.add_row("image", escape(plan_.image))
    table.add_row("command", escape(" ".join(plan_.command)))
    if plan_.volume:
        table.add_row("volume", f"{escape(plan_.volume)} at {plan_.workdir}")
    for path, volume in plan_.keep:
        table.add_row("keeps", f"{escape(path)} in volume {escape(volume)}")
    for path in plan_.collect:
        table.add_row("collects", f"{escape(path)} -> {escape(plan_.output_dir or '')}")
    out.print(table)


class RunOutput:
    """The command's own output goes to stdout as it comes; buildorch's notes to stderr."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet

    def note(self, text: str) -> None:
        if not self._quiet:
            err.print(f"[dim]{escape(text)}[/]")

    def output(self, text: str) -> None:
        if not self._quiet:
            print(text, flush=True)


def run_summary(plan_: RunPlan, report: RunReport) -> None:
    sync = (
        f"copied {report.copied} changed files ({report.copied_bytes / 1e6:.1f} MB), removed "
        f"{report.removed}, in {report.sync_seconds:.1f}s"
        if plan_.volume
        else "the project bind-mounted"
    )
    mark = "[green]ok[/]" if report.exit_code == 0 else f"[red]exit {report.exit_code}[/]"
    out.print(f"run {mark}: sources {sync}; command {report.run_seconds:.1f}s")
    if report.collected:
        out.print(f"collected {', '.join(report.collected)} into {plan_.output_dir}")


def write_raw(text: str) -> None:
    """Text to copy or pipe (a generated file): never wrapped, never styled."""
    sys.stdout.write(text)
