# Cross-capable template for Go programs.
#
# Go cross-compiles by itself: the compile stage runs on the build machine ($BUILDPLATFORM)
# with GOOS/GOARCH/GOARM of the target, so nothing is emulated. Modules are downloaded in a
# layer of their own from go.mod and go.sum before the sources are copied, so a source edit
# does not fetch them again; Go's build cache keeps one folder per platform in a cache mount.
#
#   GO_IMAGE     an image with the go toolchain (golang:1.22-bookworm, or a Debian one)
#   PACKAGE      what to build (default: every main package, ./...)
#   CGO_ENABLED  0 (default) for static binaries that need no C cross compiler
ARG GO_IMAGE=golang:bookworm

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS TARGETARCH TARGETVARIANT
ARG PACKAGE=./...
ARG CGO_ENABLED=0
ENV GOMODCACHE=/root/go-mod GOFLAGS=-trimpath
# the standard library compiled for the target, once, in a layer of its own: Go before 1.20
# ships it precompiled for the build machine only, so every cross build would compile it
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM="${TARGETVARIANT#v}" CGO_ENABLED=$CGO_ENABLED \
      go install std
WORKDIR /src
# the dependency layer: modules are fetched once, before any source is copied
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
RUN --mount=type=cache,target=/root/.cache/buildorch \
    set -eu; export GOCACHE=/root/.cache/buildorch/go-build/$TARGETARCH$TARGETVARIANT; \
    mkdir -p /out/dist; \
    GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM="${TARGETVARIANT#v}" CGO_ENABLED=$CGO_ENABLED \
      go build -o /out/dist/ $PACKAGE; \
    echo "go: built $(ls /out/dist | tr '\n' ' ')for $TARGETOS/$TARGETARCH$TARGETVARIANT"

FROM scratch
# /out/dist, not /out: BuildKit checksums what is copied by walking its parent folder,
# and the parent of /out is the whole toolchain image (0.5 to 0.9 s each rebuild)
COPY --from=build /out/dist/ /
