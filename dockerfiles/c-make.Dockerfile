# Cross-capable template for C and C++ projects built with make.
#
# The compile stage runs on the machine doing the build ($BUILDPLATFORM) with the cross
# compiler for $TARGETARCH, so an arm64 build on an amd64 host runs at native speed instead
# of running the compiler under QEMU. ccache keeps compiled objects between builds, in a
# cache mount with one folder per platform (shared folders would mix architectures). Only
# the artefact reaches the final stage.
#
# ccache rather than sccache for C and C++: its direct mode answers a hit from the source and
# its headers without running the preprocessor, which Debian 12's sccache (0.4) runs for
# every file: after a one-line edit in Lua, make took 0.3 s instead of 0.7. (A ccache too old
# for --print-stats builds the same, with no hit rate in the summary.)
#
#   TOOLCHAIN_IMAGE  any Debian-based image; missing tools are installed for the target
#   PACKAGES         -dev packages the project links against (installed for the target)
#   MAKE_ARGS        what to pass to make (targets, variables)
#   ARTIFACT         the file or folder (relative to the sources) the final stage keeps
ARG TOOLCHAIN_IMAGE=debian:bookworm

FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS toolchain
ARG TARGETARCH
ARG PACKAGES=""
# the dependency layer: toolchain and libraries, before any source is copied; and since
# Makefiles call plain `ar`, `ranlib` and `strip`, those of the target come first in PATH
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-linux-gnu; deb=amd64 ;; \
      arm64) triple=aarch64-linux-gnu; deb=arm64 ;; \
      arm) triple=arm-linux-gnueabihf; deb=armhf ;; \
      riscv64) triple=riscv64-linux-gnu; deb=riscv64 ;; \
      ppc64le) triple=powerpc64le-linux-gnu; deb=ppc64el ;; \
      s390x) triple=s390x-linux-gnu; deb=s390x ;; \
      *) echo "no cross compiler known for $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    cross="$(echo "$triple" | tr _ -)"; need=""; \
    command -v "$triple-gcc" >/dev/null || need="gcc-$cross g++-$cross libc6-dev-$deb-cross"; \
    command -v make >/dev/null || need="$need make"; \
    command -v ccache >/dev/null || need="$need ccache"; \
    libs=""; for p in $PACKAGES; do libs="$libs $p:$deb"; done; \
    if [ -n "$need$libs" ]; then \
      [ -z "$libs" ] || dpkg --add-architecture "$deb"; \
      apt-get update && apt-get install -y --no-install-recommends $need $libs; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    mkdir -p /opt/buildorch/bin; \
    for tool in ar ranlib strip nm objcopy; do \
      ln -sf "$(command -v "$triple-$tool")" "/opt/buildorch/bin/$tool"; \
    done; \
    echo "$triple" > /etc/buildorch-triple

FROM toolchain AS build
ARG TARGETARCH
ARG MAKE_ARGS=""
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/buildorch \
    set -eu; triple="$(cat /etc/buildorch-triple)"; \
    export PATH="/opt/buildorch/bin:$PATH" CCACHE_DIR=/root/.cache/buildorch/ccache/$TARGETARCH; \
    ccache --zero-stats >/dev/null; \
    make -j"$(nproc)" CC="ccache $triple-gcc" CXX="ccache $triple-g++" $MAKE_ARGS; \
    ccache --print-stats 2>/dev/null | awk -F '\t' '/^(direct|preprocessed)_cache_hit\t/ { h += $2 } \
      /^cache_miss\t/ { m += $2 } END { if (NR) print "ccache: Cache hits " h + 0 "\nccache: Cache misses " m + 0 }'

FROM scratch
ARG ARTIFACT=app
COPY --from=build /src/${ARTIFACT} /
