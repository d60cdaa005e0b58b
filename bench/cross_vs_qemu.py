"""Side by side, in one run: the example project built natively, cross-compiled, and emulated.

    python bench/cross_vs_qemu.py [--rounds 3] [--toolchain IMAGE]

Each round copies examples/hello-c to a fresh folder and edits one source line, so every
build recompiles (the toolchain layers stay cached, as on a developer's machine). Prints the
median seconds of each way and its ratio to the native amd64 build. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "hello-c"

WAYS = (
    ("native amd64", ["--target", "amd64"]),
    ("arm64 cross (buildorch's choice)", ["--target", "arm64"]),
    (
        "arm64 under QEMU (Dockerfile.plain)",
        ["--target", "arm64", "-f", "Dockerfile.plain", "--strategy", "qemu"],
    ),
)


def build_seconds(project: Path, extra: list[str], toolchain: str, out: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-m", "buildorch", "build", "-C", str(project), "--json",
         "-o", str(out), "--build-arg", f"TOOLCHAIN_IMAGE={toolchain}", *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"build failed: {' '.join(extra)}\n{result.stderr}")
    report = json.loads(result.stdout)["report"]
    return float(sum(build["seconds"] for build in report["builds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--toolchain", default="localhost:5000/buildorch/debian-gcc:bookworm")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name, _ in WAYS}
    with tempfile.TemporaryDirectory(prefix="buildorch-bench-") as scratch:
        for round_ in range(args.rounds):
            for name, extra in WAYS:
                project = Path(scratch) / f"p{round_}-{len(times[name])}-{uuid.uuid4().hex[:6]}"
                shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("out"))
                with (project / "primes.c").open("a") as source:
                    source.write(f"/* bench edit {uuid.uuid4().hex} */\n")
                times[name].append(build_seconds(project, extra, args.toolchain, project / "out"))
    native = statistics.median(times[WAYS[0][0]])
    print(f"{'way':40} {'median s':>9} {'vs native':>10}   ({args.rounds} rounds)")
    for name, _ in WAYS:
        median = statistics.median(times[name])
        print(f"{name:40} {median:9.2f} {median / native:9.2f}x")
    cross = statistics.median(times[WAYS[1][0]])
    emulated = statistics.median(times[WAYS[2][0]])
    print(f"cross-compiling is {emulated / cross:.1f}x faster than emulating this build")


if __name__ == "__main__":
    main()
