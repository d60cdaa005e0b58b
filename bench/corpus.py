"""Real third-party projects' own Dockerfiles, built for arm64 three ways in one run.

    bench/fetch-sources.sh $(python bench/corpus.py --sources)    # once: Debian's sources
    python bench/corpus.py [--only NAME...] [--ways naive,native,buildorch]
                           [--rounds N] [--rebuild] [--store classic|containerd] [--json]

Each project is a folder of bench/corpus/: its Dockerfile, plain as the project's users write
it (no platform, no cross-compiler: `FROM debian:bookworm`, apt-get, the project's own build),
and corpus.toml: `source` (what bench/fetch-sources.sh fetches), `covers` (what it exercises),
`edit` (the source file a developer would change) and `smoke` (a shell script whose output
proves the program works, with the result's programs on PATH). The engine's build cache, cache
mounts and all, is emptied before each build (and after each project: a cold corpus fills tens
of GB). For each project, from a fresh copy of its sources, cold (`--no-cache`), with
`--network host` (the builds' apt-get reaches the Debian archive that way):

- naive: `docker buildx build --platform linux/arm64` of the Dockerfile, compilers under QEMU;
- native: the same for linux/amd64, the speed a cross-compiled build could reach;
- buildorch: `buildorch build --target arm64`, whichever strategy it plans (reported).

Every way writes the final stage's files (`-o`). buildorch's arm64 result is then compared with
the naive one: the same files (relative paths), the same ELF machine for every ELF file (all
aarch64), and the same smoke output, run under QEMU in an arm64 container (the files on PATH in
debian:bookworm, or a runtime stage's whole file system as the root, through chroot). Each
result also passes its smoke test, and the native one holds x86-64 ELF files only. A failed
build is reported as what happened (its exit code, its last lines, the strategy buildorch
planned), never raised. Exits 1 when a build or a check failed.

A build of a small project moves by a fifth from one run of the bench to the next on these
machines (the apt-get step waits on the network: brotli's native build took 28 s in one run and
21 s in another), less between builds of one run. `--rounds N` builds
native and buildorch N times each, in turns (native first in odd rounds, buildorch first in even
ones), the build cache emptied before each build, and reports each way's median and the range
of the rounds' ratios. naive builds once: it is 4 to 10 times slower, far beyond the noise, and
three rounds of it would take four hours.

`--rebuild` measures a developer's edit-and-rebuild loop: right after its last cold build, each
of native and buildorch is built again after a line is added to the project's `edit` file (a
definition nothing uses), its build cache as the cold build left it (every layer up to the
sources' COPY, and buildorch's compiler caches). The rebuilt program must give its cold build's
smoke output and hold ELF files for its machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "bench" / "corpus"
SOURCES = REPO / "bench" / ".sources"
WAYS = ("naive", "native", "buildorch")
REPEATED = ("native", "buildorch")
PLATFORM = {"naive": "linux/arm64", "native": "linux/amd64", "buildorch": "linux/arm64"}
BUILT_ON = {
    "naive": ("linux/arm64",),
    "native": ("linux/amd64",),
    "buildorch": ("linux/amd64", "linux/arm64"),
}
# the line --rebuild adds to a project's `edit` file, by its language: code, not a comment
# (ccache's preprocessor mode, where a build writes no dependency file, would not see a
# comment), a definition nothing uses and no warning flag names
EDIT_LINES = {
    ".c": 'const char *buildorch_bench_{0} = "{0}";',
    ".cc": 'const char *buildorch_bench_{0} = "{0}";',
    ".rs": '#[allow(dead_code, non_upper_case_globals)] const buildorch_bench_{0}: &str = "{0}";',
    ".go": 'var buildorchBench{0} = "{0}"',
}
ELF_MACHINES = {62: "x86-64", 183: "aarch64"}
# the e_machine of every ELF file each way's result must hold
MACHINE = {"naive": 183, "native": 62, "buildorch": 183}
BASE_IMAGES = ("debian:bookworm", "debian:bookworm-slim")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Project:
    name: str
    source: str
    """What bench/fetch-sources.sh fetches: a Debian source package, or crate:NAME."""
    covers: str
    edit: str
    """The source file a developer would change (relative to the sources)."""
    smoke: str
    dockerfile: Path

    @property
    def sources(self) -> Path:
        return SOURCES / self.source.removeprefix("crate:")

    @property
    def files_only(self) -> bool:
        """The final stage is FROM scratch: the result is files, not a file system to run."""
        froms = [
            line.split()[1]
            for line in self.dockerfile.read_text().splitlines()
            if line.upper().startswith("FROM ")
        ]
        return froms[-1] == "scratch"


@dataclass
class Outcome:
    """What one way did (in its last round)."""

    ok: bool
    seconds: float
    """The median of the rounds' times (a failed build, or a rebuild: its own)."""
    detail: str = ""
    """Why it failed (the command's last lines), or what buildorch planned and why."""
    strategy: str | None = None
    exit_code: int = 0
    rounds: list[float] = field(default_factory=list)
    """Each round's seconds, in order."""


@dataclass
class Check:
    ok: bool
    detail: str


@dataclass
class Result:
    project: Project
    ways: dict[str, Outcome] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    smoke: dict[str, str] = field(default_factory=dict)
    """Each way's smoke output."""
    rebuilt: dict[str, Outcome] = field(default_factory=dict)
    """--rebuild: each way's build after a one-line edit, its cache warm."""

    @property
    def ok(self) -> bool:
        outcomes = [*self.ways.values(), *self.rebuilt.values()]
        return all(outcome.ok for outcome in outcomes) and all(
            check.ok for check in self.checks.values()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project.name,
            "source": self.project.source,
            "covers": self.project.covers,
            "ways": {way: asdict(outcome) for way, outcome in self.ways.items()},
            "rebuilt": {way: asdict(outcome) for way, outcome in self.rebuilt.items()},
            "ratios": ratios(self),
            "buildorch/native by round": paired_ratios(self),
            "checks": {name: asdict(check) for name, check in self.checks.items()},
            "smoke": self.smoke,
            "ok": self.ok,
        }


def load_projects() -> dict[str, Project]:
    projects = {}
    for folder in sorted(path for path in CORPUS.iterdir() if (path / "corpus.toml").is_file()):
        meta = tomllib.loads((folder / "corpus.toml").read_text())
        fields = {key: meta.get(key) for key in ("source", "covers", "edit", "smoke")}
        missing = [key for key, value in fields.items() if not isinstance(value, str)]
        if missing:
            sys.exit(f"{folder / 'corpus.toml'}: no {', '.join(missing)} (a string each)")
        projects[folder.name] = Project(
            name=folder.name,
            source=str(fields["source"]),
            covers=str(fields["covers"]),
            edit=str(fields["edit"]),
            smoke=str(fields["smoke"]).strip(),
            dockerfile=folder / "Dockerfile",
        )
    return projects


def engine_host(store: str) -> str:
    """The store's engine, as scripts/engine-env.sh names it."""
    name = f"BUILDORCH_{store.upper()}_HOST="
    for line in (REPO / "scripts" / "engine-env.sh").read_text().splitlines():
        if line.startswith(name):
            return line.removeprefix(name).strip()
    sys.exit(f"scripts/engine-env.sh names no {name.rstrip('=')}")


TIMED_OUT = -1


def run_logged(
    command: list[str], env: dict[str, str], log: Path, timeout: float, stdout: Path | None = None
) -> tuple[int, float]:
    """Run a build, its output in `log` (its stdout in a file of its own when given): its exit
    code (TIMED_OUT when it ran out of time) and seconds; never an exception."""
    start = time.monotonic()
    with log.open("w") as err, Path(stdout or os.devnull).open("w") as out:
        try:
            done = subprocess.run(
                command,
                env=env,
                stdout=out if stdout else err,
                stderr=err if stdout else subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return TIMED_OUT, time.monotonic() - start
    return done.returncode, time.monotonic() - start


def failure(code: int, log: Path, timeout: float) -> str:
    return f"timed out after {timeout:.0f} s" if code == TIMED_OUT else tail(log.read_text())


def say(text: str, end: str = "\n") -> None:
    """Progress, on stderr (stdout is for the table, or the JSON)."""
    print(text, end=end, file=sys.stderr, flush=True)


def tail(text: str, lines: int = 6) -> str:
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def build_docker(
    way: str, work: Path, out: Path, env: dict[str, str], timeout: float, cold: bool = True
) -> Outcome:
    command = ["docker", "buildx", "build", "--progress=plain", *(["--no-cache"] if cold else []),
               "--network", "host", "--platform", PLATFORM[way], "-o", f"type=local,dest={out}",
               str(work)]  # fmt: skip
    log = out.with_suffix(".log")
    code, seconds = run_logged(command, env, log, timeout)
    if code != 0:
        return Outcome(
            ok=False, seconds=seconds, detail=failure(code, log, timeout), exit_code=code
        )
    return Outcome(ok=True, seconds=seconds)


def build_buildorch(
    work: Path, out: Path, env: dict[str, str], timeout: float, cold: bool = True
) -> Outcome:
    command = [sys.executable, "-m", "buildorch", "build", "-C", str(work), "--target", "arm64",
               "--network", "host", *(["--no-cache"] if cold else []), "-o", str(out),
               "--json"]  # fmt: skip
    log, report = out.with_suffix(".log"), out.with_suffix(".json")
    code, seconds = run_logged(command, env, log, timeout, stdout=report)
    strategy, reasons = planned(report.read_text())
    if code != 0:
        why = failure(code, log, timeout) or tail(report.read_text())
        return Outcome(ok=False, seconds=seconds, detail=why, strategy=strategy, exit_code=code)
    return Outcome(ok=True, seconds=seconds, detail=reasons, strategy=strategy)


def planned(json_text: str) -> tuple[str | None, str]:
    """The strategy buildorch planned for arm64, and its reasons, from `build --json`."""
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError:
        return None, ""
    plan = data.get("plan", data) if isinstance(data, dict) else {}
    steps = plan.get("steps", []) if isinstance(plan, dict) else []
    for step in steps:
        if isinstance(step, dict) and step.get("platform") == "linux/arm64":
            return str(step.get("strategy")), "; ".join(map(str, step.get("reasons", [])))
    return None, ""


def listing(root: Path) -> set[str]:
    """Every path under root (files, folders, links), relative."""
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def elf_machines(root: Path) -> dict[str, int]:
    """The ELF machine (e_machine) of every ELF file under root, by relative path."""
    machines = {}
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as file:
            header = file.read(20)
        if len(header) < 20 or header[:4] != b"\x7fELF":
            continue
        order: Literal["little", "big"] = "little" if header[5] == 1 else "big"
        machines[str(path.relative_to(root))] = int.from_bytes(header[18:20], order)
    return machines


def describe_machines(machines: dict[str, int]) -> str:
    counts: dict[str, int] = {}
    for machine in machines.values():
        name = ELF_MACHINES.get(machine, f"e_machine {machine}")
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "no ELF"


def smoke(project: Project, out: Path, platform: str, image: str, env: dict[str, str]) -> Check:
    """Run the smoke script against a result in a container of its platform; any command of it
    that fails (in a pipe too) fails it."""
    script = ["bash", "-e", "-o", "pipefail", "-c", project.smoke]
    if project.files_only:
        # the files on PATH, in a Debian of the same platform (for the C library they link)
        command = ["docker", "run", "--rm", "--platform", platform, "-v", f"{out}:/out:ro",
                   "-e", f"PATH=/out:{PATH}", image, *script]  # fmt: skip
    else:
        # a runtime stage's file system as the root, as the image would run
        command = ["docker", "run", "--rm", "--platform", platform, "-v", f"{out}:/rootfs",
                   "-e", f"PATH={PATH}", image, "chroot", "/rootfs", *script]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return Check(False, f"exit {done.returncode}: {tail(done.stdout + done.stderr)}")
    return Check(True, done.stdout)


def compare(result: Result, outs: dict[str, Path], image: str, env: dict[str, str]) -> None:
    """The checks of one project's results (with what ran and succeeded)."""
    done = {way for way, outcome in result.ways.items() if outcome.ok}
    project = result.project
    for way in sorted(done):
        ran = smoke(project, outs[way], PLATFORM[way], image, env)
        result.smoke[way] = ran.detail
        if not ran.ok:
            result.checks[f"smoke {way}"] = Check(False, ran.detail)
    if "native" in done:
        machines = elf_machines(outs["native"])
        foreign = [path for path, machine in machines.items() if machine != MACHINE["native"]]
        result.checks["native ELF"] = Check(
            not foreign and bool(machines), describe_machines(machines)
        )
    if "naive" not in result.ways or "buildorch" not in result.ways:
        return
    if not {"naive", "buildorch"} <= done:
        failed = [way for way in ("naive", "buildorch") if way not in done]
        result.checks["equivalence"] = Check(False, f"not compared: {' and '.join(failed)} failed")
        return
    naive, ours = listing(outs["naive"]), listing(outs["buildorch"])
    only = sorted(naive ^ ours)
    result.checks["files"] = Check(
        not only,
        f"{len(ours)} same" if not only else f"{len(only)} differ: " + ", ".join(only[:5]),
    )
    naive_elf, our_elf = elf_machines(outs["naive"]), elf_machines(outs["buildorch"])
    wrong = sorted(path for path, machine in our_elf.items() if machine != MACHINE["buildorch"])
    differ = sorted(
        path
        for path in naive_elf.keys() | our_elf.keys()
        if naive_elf.get(path) != our_elf.get(path)
    )
    result.checks["ELF"] = Check(
        bool(our_elf) and not wrong and not differ,
        describe_machines(our_elf)
        + (f"; not aarch64: {', '.join(wrong[:5])}" if wrong else "")
        + (f"; differ from naive: {', '.join(differ[:5])}" if differ else ""),
    )
    if "smoke naive" in result.checks or "smoke buildorch" in result.checks:
        return
    same = result.smoke["naive"] == result.smoke["buildorch"]
    result.checks["smoke"] = Check(same, "same output" if same else "outputs differ")


def bench(
    project: Project, ways: list[str], env: dict[str, str], scratch: Path, args: argparse.Namespace
) -> Result:
    result = Result(project)
    if not project.sources.is_dir():
        result.checks["sources"] = Check(
            False, f"no sources: run bench/fetch-sources.sh {project.source}"
        )
        return result
    if (
        args.rebuild
        and any(way in REPEATED for way in ways)
        and (
            not (project.sources / project.edit).is_file()
            or Path(project.edit).suffix not in EDIT_LINES
        )
    ):
        result.checks["edit"] = Check(
            False,
            f"corpus.toml's edit names no source file of {', '.join(EDIT_LINES)}: {project.edit}",
        )
        return result
    work = scratch / project.name / "project"
    # the project's copy, with its Dockerfile where its users keep it
    shutil.copytree(project.sources, work, symlinks=True)
    shutil.copyfile(project.dockerfile, work / "Dockerfile")
    outs = {way: scratch / project.name / way for way in ways}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for number, turn in enumerate(turns(ways, args.rounds), start=1):
        failed = {way for way, outcome in result.ways.items() if not outcome.ok}
        for way in [way for way in turn if way not in failed]:
            say(f"  {way}" + (f" (round {number})" if way in REPEATED and args.rounds > 1 else "")
                + " ...", end="")  # fmt: skip
            cold_start(way, env)
            shutil.rmtree(outs[way], ignore_errors=True)
            outcome = build(way, work, outs[way], env, args.timeout)
            times[way].append(outcome.seconds)
            outcome.rounds = list(times[way])
            if outcome.ok:
                outcome.seconds = statistics.median(times[way])
            result.ways[way] = outcome
            plan = f", planned {outcome.strategy}" if outcome.strategy else ""
            report(outcome, times[way][-1], plan)
            if outcome.ok and args.rebuild and way in REPEATED and number == args.rounds:
                rebuild(result, way, work, outs[way], env, args)
    compare(result, outs, args.smoke_image, env)
    for way in result.rebuilt:
        compare_rebuilt(result, way, rebuilt_out(outs[way]), args.smoke_image, env)
    if not args.keep:
        shutil.rmtree(scratch / project.name, ignore_errors=True)
    return result


def build(
    way: str, work: Path, out: Path, env: dict[str, str], timeout: float, cold: bool = True
) -> Outcome:
    if way == "buildorch":
        return build_buildorch(work, out, env, timeout, cold)
    return build_docker(way, work, out, env, timeout, cold)


def rebuilt_out(out: Path) -> Path:
    return out.with_name(f"{out.name}-rebuilt")


def rebuild(
    result: Result, way: str, work: Path, out: Path, env: dict[str, str], args: argparse.Namespace
) -> None:
    """The way's build again after a one-line edit (a definition nothing uses, so the program
    does the same), with the cache its cold build just left; the file as it was afterwards."""
    edited = work / result.project.edit
    original = edited.read_bytes()
    line = EDIT_LINES[edited.suffix].format(uuid.uuid4().hex)
    say(f"  {way} rebuilt after an edit of {result.project.edit} ...", end="")
    try:
        edited.write_bytes(original + f"\n{line}\n".encode())
        outcome = build(way, work, rebuilt_out(out), env, args.timeout, cold=False)
    finally:
        edited.write_bytes(original)
    result.rebuilt[way] = outcome
    report(outcome, outcome.seconds)


def report(outcome: Outcome, seconds: float, plan: str = "") -> None:
    """How a build went, on the line that announced it; a failure's last lines below."""
    say(
        f" {seconds:.1f} s " + ("ok" if outcome.ok else f"FAILED (exit {outcome.exit_code})") + plan
    )
    if not outcome.ok:
        say("    " + outcome.detail.replace("\n", "\n    "))


def compare_rebuilt(result: Result, way: str, out: Path, image: str, env: dict[str, str]) -> None:
    """A rebuilt result is its cold build's program: the same smoke output, ELF files for the
    same machine."""
    if not result.rebuilt[way].ok or way not in result.smoke or f"smoke {way}" in result.checks:
        return
    ran = smoke(result.project, out, PLATFORM[way], image, env)
    machines = elf_machines(out)
    wanted = MACHINE[way]
    wrong = sorted(path for path, machine in machines.items() if machine != wanted)
    problems = [
        *([] if ran.ok else [f"its smoke test failed: {tail(ran.detail)}"]),
        *([] if not ran.ok or ran.detail == result.smoke[way] else ["its smoke output differs"]),
        *([f"not {ELF_MACHINES[wanted]}: {', '.join(wrong[:5])}"] if wrong else []),
        *([] if machines else ["no ELF file"]),
    ]
    result.checks[f"rebuilt {way}"] = Check(
        not problems, "; ".join(problems) or "same smoke output, " + describe_machines(machines)
    )


def turns(ways: list[str], rounds: int) -> list[list[str]]:
    """The builds of each round, in order: every way in the first round, the repeated ones
    after it, their order swapped in every other round (a slower machine late in the run then
    weighs on both)."""
    order = []
    for number in range(rounds):
        turn = ways if number == 0 else [way for way in ways if way in REPEATED]
        order.append(turn if number % 2 == 0 else turn[::-1])
    return order


def empty_build_cache(env: dict[str, str]) -> None:
    """No layers, and no cache mounts (a compiler cache a previous round filled would make
    buildorch's next round a warm one); the base images go too."""
    subprocess.run(
        ["docker", "builder", "prune", "--all", "--force"],
        env=env,
        capture_output=True,
        check=False,
    )


def cold_start(way: str, env: dict[str, str]) -> None:
    """Every build starts cold, but for the base images of the platforms it builds on: a
    cross build's stages run on the build machine and its image on the target."""
    empty_build_cache(env)
    fetch_bases(env, BUILT_ON[way])


def paired_ratios(result: Result) -> list[float]:
    """buildorch's time over native's, round by round."""
    native, ours = result.ways.get("native"), result.ways.get("buildorch")
    if not (native and ours and native.ok and ours.ok):
        return []
    return [round(b / n, 2) for n, b in zip(native.rounds, ours.rounds, strict=False)]


def ratios(result: Result) -> dict[str, float | None]:
    def seconds(way: str) -> float | None:
        outcome = result.ways.get(way)
        return outcome.seconds if outcome and outcome.ok else None

    naive, native, ours = seconds("naive"), seconds("native"), seconds("buildorch")

    def rebuilt(way: str) -> float | None:
        outcome = result.rebuilt.get(way)
        return outcome.seconds if outcome and outcome.ok else None

    native_again, ours_again = rebuilt("native"), rebuilt("buildorch")
    return {
        "buildorch/native": round(ours / native, 2) if ours and native else None,
        "naive/buildorch": round(naive / ours, 2) if naive and ours else None,
        "buildorch/native rebuilt": (
            round(ours_again / native_again, 2) if ours_again and native_again else None
        ),
    }


RATIOS = ("buildorch/native", "naive/buildorch")


def table(results: list[Result], ways: list[str], rounds: int, rebuilds: bool) -> str:
    head = [
        "project",
        *ways,
        "bo/native",
        "naive/bo",
        *(["bo/native by round"] if rounds > 1 else []),
        *(["native rebuilt", "bo rebuilt", "bo/native rebuilt"] if rebuilds else []),
        "strategy",
        "files",
        "ELF",
        "smoke",
        "checks",
    ]
    rows = [head]
    for result in results:
        cells = [result.project.name]
        for way in ways:
            outcome = result.ways.get(way)
            if outcome is None:
                cells.append("-")
            else:
                cells.append(f"{outcome.seconds:.0f}s" + ("" if outcome.ok else " FAILED"))
        ratio = ratios(result)
        cells += [f"{ratio[name]:.2f}x" if ratio[name] else "-" for name in RATIOS]
        if rounds > 1:
            paired = paired_ratios(result)
            cells.append(f"{min(paired):.2f}-{max(paired):.2f}x" if paired else "-")
        if rebuilds:
            for way in REPEATED:
                again = result.rebuilt.get(way)
                cells.append(
                    "-"
                    if again is None
                    else f"{again.seconds:.0f}s" + ("" if again.ok else " FAILED")
                )
            value = ratio["buildorch/native rebuilt"]
            cells.append(f"{value:.2f}x" if value else "-")
        bo = result.ways.get("buildorch")
        cells.append("-" if bo is None else bo.strategy or "?")
        for name in ("files", "ELF", "smoke"):
            check = result.checks.get(name)
            cells.append("-" if check is None else ("same" if check.ok else "DIFFER"))
        cells.append("ok" if result.ok else "FAIL")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def fetch_bases(env: dict[str, str], platforms: Iterable[str]) -> None:
    """The base images in the build cache for these platforms, before the clock starts (as a
    developer's machine has them)."""
    for platform in sorted(platforms):
        for image in BASE_IMAGES:
            done = subprocess.run(
                ["docker", "buildx", "build", "--platform", platform, "-"],
                input=f"FROM {image}\nRUN true\n", text=True, env=env, capture_output=True,
                check=False,
            )  # fmt: skip
            if done.returncode != 0:
                sys.exit(f"cannot fetch {image} for {platform}:\n{tail(done.stderr)}")


def pull_smoke_image(env: dict[str, str], ways: list[str], image: str) -> None:
    """The image the smoke tests run in, for each platform (in the image store, which emptying
    the build cache leaves alone)."""
    for platform in sorted({PLATFORM[way] for way in ways}):
        command = ["docker", "pull", "--platform", platform, image]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"cannot fetch {image} for {platform}:\n{tail(done.stderr)}")


def main() -> int:
    projects = load_projects()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(projects),
        metavar="NAME",
        help=f"these projects only (of {', '.join(projects)})",
    )
    parser.add_argument(
        "--ways",
        default=",".join(WAYS),
        help="comma-separated, of naive, native, buildorch (default: all)",
    )
    parser.add_argument(
        "--store",
        choices=("classic", "containerd"),
        default="classic",
        help="the engine: classic image store, or containerd's",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="build native and buildorch N times each, in turns, and report the medians",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="also time native and buildorch rebuilding after a one-line edit, cache warm",
    )
    parser.add_argument("--json", action="store_true", help="the results as JSON on stdout")
    parser.add_argument(
        "--sources", action="store_true", help="print what bench/fetch-sources.sh needs, and stop"
    )
    # the slowest naive build here takes 11 minutes (capstone-rs); a cargo under QEMU whose forked
    # child hung before its exec (seen once, openssl-rs; the same under QEMU elsewhere:
    # mamba-org/mamba#1611) would otherwise hold the run for hours
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per build")
    parser.add_argument(
        "--smoke-image",
        default="localhost:5000/library/debian:bookworm",
        help="the Debian image smoke tests run in, per platform",
    )
    parser.add_argument("--keep", action="store_true", help="keep the outputs and logs")
    args = parser.parse_args()
    chosen = [projects[name] for name in args.only or projects]
    if args.sources:
        print(" ".join(project.source for project in chosen))
        return 0
    ways = [way for way in WAYS if way in args.ways.split(",")]
    unknown = set(args.ways.split(",")) - set(WAYS)
    if unknown or not ways:
        parser.error(f"--ways: unknown {', '.join(sorted(unknown))}" if unknown else "--ways: none")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    env = {**os.environ, "DOCKER_HOST": engine_host(args.store), "PYTHONPATH": str(REPO)}
    pull_smoke_image(env, ways, args.smoke_image)
    results = []
    scratch = Path(tempfile.mkdtemp(prefix="buildorch-corpus-"))
    try:
        for project in chosen:
            say(f"{project.name}: {project.covers}")
            result = bench(project, ways, env, scratch, args)
            for name, check in result.checks.items():
                if not check.ok:
                    say(f"  {name}: {check.detail}")
            results.append(result)
            # cold builds leave gigabytes of layers behind: the whole corpus filled a 70 GB
            # disk; the next project starts cold anyway
            empty_build_cache(env)
    finally:
        if args.keep:
            say(f"outputs and logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        say("\n" + table(results, ways, args.rounds, args.rebuild))
        print(json.dumps([result.to_json() for result in results], indent=2))
    else:
        print("\n" + table(results, ways, args.rounds, args.rebuild))
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
