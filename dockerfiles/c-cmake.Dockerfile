# Cross-capable template for C and C++ projects built with CMake.
#
# CMake configures for the target with the cross compilers of $TARGETARCH while running on
# the build machine ($BUILDPLATFORM): no emulation. ccache is CMake's compiler launcher; its
# cache lives in a cache mount with one folder per platform, so after an edit every unchanged
# file is a cache hit. (The build tree itself is not cached: a tree belongs to one project,
# and the cache mount is shared by every project built on this engine.) The installed tree
# (cmake --install) is what the final stage keeps.
#
#   TOOLCHAIN_IMAGE  any Debian-based image; missing tools are installed for the target
#   PACKAGES         -dev packages the project links against (installed for the target)
#   CMAKE_ARGS       extra configure arguments (-DBUILD_TESTING=OFF ...)
ARG TOOLCHAIN_IMAGE=debian:bookworm

FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS toolchain
ARG TARGETARCH
ARG PACKAGES=""
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-linux-gnu; deb=amd64; cpu=x86_64 ;; \
      arm64) triple=aarch64-linux-gnu; deb=arm64; cpu=aarch64 ;; \
      arm) triple=arm-linux-gnueabihf; deb=armhf; cpu=arm ;; \
      riscv64) triple=riscv64-linux-gnu; deb=riscv64; cpu=riscv64 ;; \
      ppc64le) triple=powerpc64le-linux-gnu; deb=ppc64el; cpu=ppc64le ;; \
      s390x) triple=s390x-linux-gnu; deb=s390x; cpu=s390x ;; \
      *) echo "no cross compiler known for $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    cross="$(echo "$triple" | tr _ -)"; need=""; \
    command -v "$triple-gcc" >/dev/null || need="gcc-$cross g++-$cross libc6-dev-$deb-cross"; \
    command -v cmake >/dev/null || need="$need cmake make"; \
    command -v ccache >/dev/null || need="$need ccache"; \
    libs=""; for p in $PACKAGES; do libs="$libs $p:$deb"; done; \
    if [ -n "$need$libs" ]; then \
      [ -z "$libs" ] || dpkg --add-architecture "$deb"; \
      apt-get update && apt-get install -y --no-install-recommends $need $libs; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    printf 'set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR %s)\nset(CMAKE_C_COMPILER %s-gcc)\nset(CMAKE_CXX_COMPILER %s-g++)\nset(CMAKE_C_COMPILER_LAUNCHER ccache)\nset(CMAKE_CXX_COMPILER_LAUNCHER ccache)\nset(CMAKE_FIND_ROOT_PATH /usr/%s)\nset(CMAKE_LIBRARY_ARCHITECTURE %s)\nset(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n' \
      "$cpu" "$triple" "$triple" "$triple" "$triple" > /etc/buildorch-toolchain.cmake

FROM toolchain AS build
ARG TARGETARCH
ARG CMAKE_ARGS=""
WORKDIR /src
COPY . .
# ccache's depend mode: the build's compiles write their dependencies (-MD), so a miss is
# keyed by the headers the compiler read, with no preprocessor run of ccache's own
RUN --mount=type=cache,target=/root/.cache/buildorch \
    set -eu; tree=/tmp/build; \
    export CCACHE_DIR=/root/.cache/buildorch/ccache/$TARGETARCH CCACHE_DEPEND=true; \
    ccache --zero-stats >/dev/null; \
    cmake -S . -B "$tree" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE=/etc/buildorch-toolchain.cmake -DCMAKE_INSTALL_PREFIX=/usr $CMAKE_ARGS; \
    cmake --build "$tree" -j"$(nproc)"; \
    DESTDIR=/out/dist cmake --install "$tree"; \
    ccache --print-stats 2>/dev/null | awk -F '\t' '/^(direct|preprocessed)_cache_hit\t/ { h += $2 } \
      /^cache_miss\t/ { m += $2 } END { if (NR) print "ccache: Cache hits " h + 0 "\nccache: Cache misses " m + 0 }'

FROM scratch
# /out/dist, not /out: BuildKit checksums what is copied by walking its parent folder,
# and the parent of /out is the whole toolchain image (0.5 to 0.9 s each rebuild)
COPY --from=build /out/dist/ /
