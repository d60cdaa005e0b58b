# Cross-capable template for C and C++ projects built with make.
#
# The compile stage runs on the machine doing the build ($BUILDPLATFORM) with a cross
# compiler for $TARGETARCH, so an arm64 build on an amd64 host runs at native speed instead
# of running the compiler under QEMU. Only the built files reach the final stage.
#
#   TOOLCHAIN_IMAGE  any Debian-based image; the cross compiler is installed when missing
#   MAKE_TARGET      what `make` builds            ARTIFACT  the file the final stage keeps
ARG TOOLCHAIN_IMAGE=debian:bookworm

FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS toolchain
ARG TARGETARCH
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
    if ! command -v "$triple-gcc" >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends make \
        "gcc-$(echo "$triple" | tr _ -)" "g++-$(echo "$triple" | tr _ -)" "libc6-dev-$deb-cross"; \
    fi; \
    echo "$triple" > /triple

FROM toolchain AS build
ARG MAKE_TARGET=all
WORKDIR /src
COPY . .
RUN triple="$(cat /triple)"; \
    make CC="$triple-gcc" CXX="$triple-g++" AR="$triple-ar" STRIP="$triple-strip" "$MAKE_TARGET"

FROM scratch
ARG ARTIFACT=app
COPY --from=build /src/${ARTIFACT} /
