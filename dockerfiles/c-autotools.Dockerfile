# Cross-capable template for C and C++ projects built with autotools (./configure && make).
#
# configure --host=<target triple> cross-compiles on the build machine ($BUILDPLATFORM):
# nothing runs under emulation. The compiler goes through ccache, whose cache keeps one
# folder per platform in a cache mount. `make install` into /out/dist is what the final stage
# keeps.
#
#   TOOLCHAIN_IMAGE  any Debian-based image; missing tools are installed for the target
#   PACKAGES         -dev packages the project links against (installed for the target)
#   CONFIGURE_ARGS   extra ./configure arguments
ARG TOOLCHAIN_IMAGE=debian:bookworm

FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS toolchain
ARG TARGETARCH
ARG PACKAGES=""
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
    command -v autoreconf >/dev/null || need="$need autoconf automake libtool make pkg-config"; \
    command -v ccache >/dev/null || need="$need ccache"; \
    libs=""; for p in $PACKAGES; do libs="$libs $p:$deb"; done; \
    if [ -n "$need$libs" ]; then \
      [ -z "$libs" ] || dpkg --add-architecture "$deb"; \
      apt-get update && apt-get install -y --no-install-recommends $need $libs; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    echo "$triple" > /etc/buildorch-triple

FROM toolchain AS build
ARG TARGETARCH
ARG CONFIGURE_ARGS=""
WORKDIR /src
COPY . .
# ccache's depend mode: the build's compiles write their dependencies (-MD), so a miss is
# keyed by the headers the compiler read, with no preprocessor run of ccache's own
RUN --mount=type=cache,target=/root/.cache/buildorch \
    set -eu; triple="$(cat /etc/buildorch-triple)"; \
    export CCACHE_DIR=/root/.cache/buildorch/ccache/$TARGETARCH CCACHE_DEPEND=true; \
    ccache --zero-stats >/dev/null; \
    [ -x configure ] || autoreconf -fi; \
    ./configure --host="$triple" --prefix=/usr CC="ccache $triple-gcc" CXX="ccache $triple-g++" \
      PKG_CONFIG_PATH="/usr/lib/$triple/pkgconfig" $CONFIGURE_ARGS; \
    make -j"$(nproc)"; \
    make install DESTDIR=/out/dist; \
    ccache --print-stats 2>/dev/null | awk -F '\t' '/^(direct|preprocessed)_cache_hit\t/ { h += $2 } \
      /^cache_miss\t/ { m += $2 } END { if (NR) print "ccache: Cache hits " h + 0 "\nccache: Cache misses " m + 0 }'

FROM scratch
# /out/dist, not /out: BuildKit checksums what is copied by walking its parent folder,
# and the parent of /out is the whole toolchain image (0.5 to 0.9 s each rebuild)
COPY --from=build /out/dist/ /
