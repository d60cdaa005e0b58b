"""Builds from a slow share, side by side: the naive `docker buildx build` and buildorch.

    bench/fetch-sources.sh golang-1.19        # once: Go 1.19's source tree, 11,766 files
    python bench/slow_share.py [--delay-us 100] [--target arm64] [--rounds 3]

The tree is served through tests/slowfs, a FUSE passthrough that waits `--delay-us` before
every operation, as WSL2's 9P and Docker Desktop's file sharing do. Both ways build gofmt from
it with the same Dockerfile (the sources bind-mounted into the compile step, as `docker init`
writes them; the binary taken from `/out/bin/`, not `/out/`, as `buildorch plan` advises, which
spares both ways BuildKit's walk of the whole toolchain image after each compile), first from a
fresh checkout, then again after one file changed:
- naive: `docker buildx build` on the share, which reads the context through it;
- buildorch: `buildorch build`, which mirrors the share to a local disk (walking it with many
  requests in flight) and builds from the mirror. Its times include detection and the sync;
- and, for the second build, the floor: plain `docker buildx build` on the local disk the share
  serves, with nothing to sync at all.

Go's build cache is warmed beforehand by a build from the local disk, so that both ways
measure what the share costs rather than Go compiling its runtime (printed for reference). The
gofmt binaries of both ways must be identical; the arm64 one is run under QEMU. Each round
starts from a fresh copy of the tree and no mirror; the medians of `--rounds` are printed, as
the machines are noisy.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "bench" / ".sources" / "golang-1.19"
SLOWFS = REPO / "tests" / "slowfs" / "slowfs.c"
TOOLCHAIN = "localhost:5000/buildorch/toolchain:bookworm"

DOCKERFILE = """\
ARG TOOLCHAIN_IMAGE=golang:1.19-bookworm
FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS build
ARG TARGETARCH
RUN --mount=type=bind,target=/src --mount=type=cache,target=/root/.cache/go-bench \\
    cd /src/src/cmd/gofmt && CGO_ENABLED=0 GOARCH=$TARGETARCH \\
    GOCACHE=/root/.cache/go-bench/$TARGETARCH go build -trimpath -o /out/bin/gofmt .
FROM scratch
COPY --from=build /out/bin/ /
"""
EDITED = "src/cmd/gofmt/gofmt.go"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    began = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return time.monotonic() - began


def naive(share: Path, out: Path, platform: str, toolchain: str) -> float:
    return timed(
        ["docker", "buildx", "build", "--platform", platform, "--build-arg",
         f"TOOLCHAIN_IMAGE={toolchain}", "-f", str(share / "Dockerfile"),
         "-o", f"type=local,dest={out}", str(share)]
    )  # fmt: skip


def through_buildorch(share: Path, out: Path, target: str, toolchain: str, cache: Path) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return timed(
        [sys.executable, "-m", "buildorch", "build", "-C", str(share), "--target", target,
         "--build-arg", f"TOOLCHAIN_IMAGE={toolchain}", "-o", str(out)],
        env,
    )  # fmt: skip


def edit(tree: Path, way: str) -> None:
    """A one-line change on the host side, as an editor on Windows or macOS makes it: each way
    gets its own, so that none finds its compile in Go's cache from the way before it, and a
    comment, so that all make the same binary."""
    with (tree / EDITED).open("a") as edited:
        edited.write(f"\n// edited for the bench, before the {way} build\n")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(out: Path, target: str) -> None:
    binary = out / "gofmt"
    machine = int.from_bytes(binary.read_bytes()[18:20], "little")
    want = {"arm64": 183, "amd64": 62}[target]
    if machine != want:
        sys.exit(f"{binary}: ELF machine {machine}, not {target}")
    runner = [shutil.which("qemu-aarch64-static") or "qemu-aarch64"] if target == "arm64" else []
    formatted = subprocess.run(
        [*runner, str(binary)], input="package main\nfunc  main( ) {}\n",
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if formatted.stdout != "package main\n\nfunc main() {}\n":
        sys.exit(f"{binary} did not format Go: {formatted.stdout!r} {formatted.stderr!r}")


def bench_round(
    scratch: Path, slowfs: Path, target: str, toolchain: str, delay_us: int
) -> dict[str, float]:
    """Seconds of each build in one round, from a fresh copy of the tree and no mirror."""
    platform = f"linux/{target}"
    tree = scratch / "tree"
    shutil.copytree(SOURCES, tree, symlinks=True)
    (tree / "Dockerfile").write_text(DOCKERFILE)
    # warms Go's build cache (and gives buildx this context, for the floor)
    warm = naive(tree, scratch / "out-warm", platform, toolchain)
    print(f"  Go build cache warmed from the local disk in {warm:.1f}s", flush=True)
    share = scratch / "share"
    share.mkdir()
    subprocess.run(
        [str(slowfs), str(tree), str(share), "-o", f"delay_us={delay_us},fsname=slowfs"],
        check=True,
    )
    times: dict[str, float] = {}
    outs: dict[str, Path] = {}
    try:
        for round_ in ("first", "second"):
            for way in ("naive", "buildorch"):
                if round_ == "second":
                    edit(tree, way)
                out = scratch / f"out-{way}-{round_}"
                if way == "naive":
                    seconds = naive(share, out, platform, toolchain)
                else:
                    seconds = through_buildorch(share, out, target, toolchain, scratch / "cache")
                print(f"  {round_:6} {way:9} {seconds:5.1f}s", flush=True)
                check(out, target)
                times[f"{round_} {way}"] = seconds
                outs[f"{round_} {way}"] = out / "gofmt"
        # the floor: the same build straight from the local disk, whose context buildx
        # holds from the warm-up; no way of taking sources off the share could beat it
        edit(tree, "floor")
        times["floor"] = naive(tree, scratch / "out-floor", platform, toolchain)
        print(f"  floor  {times['floor']:5.1f}s", flush=True)
    finally:
        subprocess.run(["fusermount3", "-u", str(share)], check=False)
    for round_ in ("first", "second"):
        if digest(outs[f"{round_} naive"]) != digest(outs[f"{round_} buildorch"]):
            sys.exit(f"the {round_} builds made different gofmt binaries")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--delay-us", type=int, default=100, help="slowfs wait per operation")
    parser.add_argument("--target", default="arm64", choices=["arm64", "amd64"])
    parser.add_argument("--toolchain", default=TOOLCHAIN, help="an image with Go 1.19")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each build (median)")
    args = parser.parse_args()
    if not SOURCES.is_dir():
        sys.exit("no sources: run bench/fetch-sources.sh golang-1.19")
    # the tree's files and links, and the Dockerfile each round adds
    files = sum(1 for p in SOURCES.rglob("*") if p.is_file() or p.is_symlink()) + 1
    print(f"go 1.19 source tree: {files} files; gofmt for linux/{args.target}", flush=True)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="buildorch-share-") as scratch_name:
        scratch = Path(scratch_name)
        slowfs = scratch / "slowfs"
        flags = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True, text=True,
            check=True,
        ).stdout.split()  # fmt: skip
        subprocess.run(["cc", "-O2", "-o", str(slowfs), str(SLOWFS), *flags], check=True)
        for n in range(args.rounds):
            print(f"round {n + 1}:", flush=True)
            work = scratch / f"round-{n}"
            work.mkdir()
            rounds.append(bench_round(work, slowfs, args.target, args.toolchain, args.delay_us))
    times = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(
        f"\nslow share ({args.delay_us} us per operation), {files} files, "
        f"median seconds of {args.rounds} rounds:"
    )
    for round_ in ("first", "second"):
        ours, theirs = times[f"{round_} buildorch"], times[f"{round_} naive"]
        each = ", ".join(f"{r[f'{round_} naive'] / r[f'{round_} buildorch']:.1f}x" for r in rounds)
        print(
            f"  {round_:6} naive {theirs:6.1f}s  buildorch {ours:6.1f}s  "
            f"buildorch is {theirs / ours:.1f}x faster (rounds: {each})"
        )
    print(
        f"  floor: the second build straight from the local disk takes {times['floor']:.1f}s, "
        f"so no sync could make it more than {times['second naive'] / times['floor']:.1f}x "
        "faster than naive"
    )
    print("  outputs identical (sha256 of gofmt), and the arm64 gofmt formats Go under QEMU")


if __name__ == "__main__":
    main()
