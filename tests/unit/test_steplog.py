"""Reading buildx's plain progress: steps, cached ones, timings, compiler-cache hit rates."""

from __future__ import annotations

from buildorch.engine import _StepLog

LOG = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#5 [toolchain 1/2] FROM localhost:5000/buildorch/toolchain:bookworm
#5 CACHED
#7 [build 2/3] COPY . .
#7 DONE 0.1s
#8 [build 3/3] RUN --mount=type=cache,target=/root/.cache/buildorch make
#8 0.210 sccache aarch64-linux-gnu-gcc -c -o lapi.o lapi.c
#8 9.870 sccache: Compile requests 34
#8 9.871 sccache: Cache hits 30
#8 9.871 sccache: Cache misses 4
#8 DONE 10.2s
#9 exporting to client
#9 DONE 0.3s
"""


def feed(text: str) -> _StepLog:
    log = _StepLog()
    for line in text.splitlines():
        log.feed(line)
    return log


def test_steps_and_cached_steps() -> None:
    log = feed(LOG)
    assert sorted(log.names) == ["5", "7", "8"]  # internal steps and the export are not steps
    assert log.cached == {"5"}


def test_slowest_steps_leave_out_cached_and_instant_ones() -> None:
    slowest = feed(LOG).slowest()
    assert slowest[0][1] == 10.2
    assert slowest[0][0].startswith("[build 3/3] RUN")
    assert [seconds for _, seconds in slowest] == [10.2, 0.1]


def test_compiler_cache_hit_rate_per_step() -> None:
    (rate,) = feed(LOG).cache_rates()
    assert (rate.hits, rate.misses) == (30, 4)
    assert rate.rate is not None and round(rate.rate, 3) == 0.882
    assert rate.step.startswith("[build 3/3]")


def test_ccache_of_the_c_templates_is_read_too() -> None:
    log = feed(
        "#6 [build 3/3] RUN make CC='ccache aarch64-linux-gnu-gcc'\n"
        "#6 3.104 ccache: Cache hits 33\n#6 3.104 ccache: Cache misses 1\n#6 DONE 3.3s\n"
    )
    (rate,) = log.cache_rates()
    assert (rate.hits, rate.misses, rate.step[:11]) == (33, 1, "[build 3/3]")


def test_no_compiler_cache_no_rate() -> None:
    assert feed("#3 [build 1/1] RUN true\n#3 DONE 0.2s\n").cache_rates() == ()


def test_a_step_is_named_by_its_command_not_its_mounts() -> None:
    log = feed(
        "#9 [build 3/7] RUN --mount=type=cache,id=buildorch-cross,target=/root/.cache/x "
        "--mount=type=secret,id=tok make -j2\n#9 DONE 13.5s\n"
    )
    assert log.slowest() == (("[build 3/7] RUN make -j2", 13.5),)
