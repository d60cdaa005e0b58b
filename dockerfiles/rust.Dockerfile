# Cross-capable template for Rust programs.
#
# cargo cross-compiles on the build machine ($BUILDPLATFORM) for the target's Rust triple,
# linking with the C cross compiler of $TARGETARCH (which also builds the C code of -sys
# crates), so nothing is emulated. Dependencies are compiled in a layer of their own from
# Cargo.toml and Cargo.lock alone (a stub main, in the manner of cargo-chef), before the
# sources are copied: a source edit recompiles only the crate (every target the manifest
# names gets a stub, as cargo-chef does; a crate without dependencies skips it; vendored
# dependencies are used offline). rustc goes
# through sccache, with one cache folder per platform.
#
#   RUST_IMAGE  an image with cargo and rustc, and the target's standard library
#               (Debian: libstd-rust-dev:<arch>; rustup: rustup target add)
#   BIN         the binary to keep (default: the package's name)
ARG RUST_IMAGE=rust:bookworm

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS toolchain
ARG TARGETARCH
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-linux-gnu; rust=x86_64-unknown-linux-gnu; deb=amd64 ;; \
      arm64) triple=aarch64-linux-gnu; rust=aarch64-unknown-linux-gnu; deb=arm64 ;; \
      arm) triple=arm-linux-gnueabihf; rust=armv7-unknown-linux-gnueabihf; deb=armhf ;; \
      riscv64) triple=riscv64-linux-gnu; rust=riscv64gc-unknown-linux-gnu; deb=riscv64 ;; \
      *) echo "no Rust cross target known for $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    cross="$(echo "$triple" | tr _ -)"; need=""; \
    command -v "$triple-gcc" >/dev/null || need="gcc-$cross libc6-dev-$deb-cross"; \
    command -v sccache >/dev/null || need="$need sccache"; \
    if [ -n "$need" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $need; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    if command -v rustup >/dev/null; then rustup target add "$rust"; fi; \
    linker="CARGO_TARGET_$(echo "$rust" | tr a-z- A-Z_)_LINKER"; \
    printf 'export CARGO_BUILD_TARGET=%s %s=%s-gcc CC_%s=%s-gcc CXX_%s=%s-g++\n' \
      "$rust" "$linker" "$triple" "$(echo "$rust" | tr - _)" "$triple" \
      "$(echo "$rust" | tr - _)" "$triple" > /etc/buildorch-rust.env

FROM toolchain AS deps
WORKDIR /src
# the dependency layer: only the manifests, with stub sources, so dependencies compile once;
# vendored dependencies (`cargo vendor`: vendor/ and .cargo/config.toml) come along when the
# project has them (a pattern matching nothing copies nothing)
COPY Cargo.toml Cargo.lock* ./
COPY .carg[o] ./.cargo/
COPY vendo[r] ./vendor/
# Each step runs an sccache server of its own, on a port of its own: under --network host every
# step shares the machine's loopback, and on sccache's fixed port 4226 concurrent steps (the
# platforms of one build, other builds, a host's own sccache) would meet one server, which
# compiles in its own container and dies with it (neherlab/treetime#762). sccache's disk cache
# takes one server at a time (its docs/Local.md): a step that finds the platform's folder in
# use (another build of it) compiles without sccache. The server is started before cargo: one
# that takes longer than sccache's 10 s to come up on a loaded machine (mozilla/sccache#317)
# would otherwise fail the step's first rustc; the step compiles without it instead.
RUN --mount=type=cache,target=/root/.cache/buildorch \
    set -eu; . /etc/buildorch-rust.env; \
    export SCCACHE_DIR=/root/.cache/buildorch/sccache/$CARGO_BUILD_TARGET SCCACHE_IGNORE_SERVER_IO_ERROR=1; \
    export SCCACHE_SERVER_PORT=$(( $(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000 )); \
    mkdir -p "$SCCACHE_DIR"; exec 9>"$SCCACHE_DIR.lock"; unset RUSTC_WRAPPER; \
    if command -v flock >/dev/null && flock -n 9; then export RUSTC_WRAPPER=sccache; \
    else echo "another build is using $SCCACHE_DIR: compiling without sccache"; fi; \
    if [ -n "${RUSTC_WRAPPER:-}" ] && ! sccache --start-server >/dev/null 2>&1; then \
      unset RUSTC_WRAPPER; echo "sccache's server did not start: compiling without sccache"; fi; \
    targets="src/main.rs src/lib.rs $(sed -n 's/^path *= *"\(.*\.rs\)"/\1/p' Cargo.toml)"; \
    for stub in $targets; do mkdir -p "$(dirname "$stub")"; echo 'fn main() {}' > "$stub"; done; \
    if grep -q '^\[\(build-\|target\..*\.\)\?dependencies' Cargo.toml; then \
      cargo build --release --locked 2>/dev/null || cargo build --release; \
    fi; \
    echo "$targets" > /etc/buildorch-rust-targets; \
    rm -f $targets; \
    sccache --stop-server >/dev/null 2>&1 || true

FROM deps AS build
ARG BIN=""
COPY . .
RUN --mount=type=cache,target=/root/.cache/buildorch \
    set -eu; . /etc/buildorch-rust.env; \
    export SCCACHE_DIR=/root/.cache/buildorch/sccache/$CARGO_BUILD_TARGET SCCACHE_IGNORE_SERVER_IO_ERROR=1; \
    export SCCACHE_SERVER_PORT=$(( $(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000 )); \
    mkdir -p "$SCCACHE_DIR"; exec 9>"$SCCACHE_DIR.lock"; unset RUSTC_WRAPPER; \
    if command -v flock >/dev/null && flock -n 9; then export RUSTC_WRAPPER=sccache; \
    else echo "another build is using $SCCACHE_DIR: compiling without sccache"; fi; \
    if [ -n "${RUSTC_WRAPPER:-}" ] && ! sccache --start-server >/dev/null 2>&1; then \
      unset RUSTC_WRAPPER; echo "sccache's server did not start: compiling without sccache"; fi; \
    [ -z "${RUSTC_WRAPPER:-}" ] || sccache --zero-stats >/dev/null; \
    for source in $(cat /etc/buildorch-rust-targets); do [ ! -e "$source" ] || touch "$source"; done; \
    cargo build --release; \
    mkdir -p /out/dist; \
    find "target/$CARGO_BUILD_TARGET/release" -maxdepth 1 -type f -perm -u+x \
      ${BIN:+-name "$BIN"} -exec cp {} /out/dist/ \; ; \
    if [ -n "${RUSTC_WRAPPER:-}" ]; then \
      sccache --show-stats | sed -n 's/^\(Compile requests\|Cache hits\|Cache misses\) \+\([0-9]\+\)$/sccache: \1 \2/p'; \
    fi; \
    sccache --stop-server >/dev/null 2>&1 || true

FROM scratch
# /out/dist, not /out: BuildKit checksums what is copied by walking its parent folder,
# and the parent of /out is the whole toolchain image (0.5 to 0.9 s each rebuild)
COPY --from=build /out/dist/ /
