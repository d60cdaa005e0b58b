#!/usr/bin/env bash
# Provisions the real engines buildorch's integration tests, benchmarks and CI run against, on a
# Debian (or Ubuntu) x86_64 machine where no container registry is reachable and there may be no
# systemd. Idempotent: a second run only checks, restarts whatever died, and prints "ok" lines.
#
#   classic engine     bookworm's dockerd (20.10, classic image store)  unix:///var/run/docker.sock
#   containerd engine  trixie's dockerd 26 + containerd, containerd image store,
#                      unix:///run/buildorch/containerd-engine/docker.sock, own bridge
#   buildx + compose   trixie's CLI plugins in /usr/libexec/docker/cli-plugins
#   QEMU               qemu-user-static registered in binfmt_misc with the F flag
#   registry           docker-registry on 127.0.0.1:5000 (deletion enabled)
#   base images        localhost:5000/buildorch/busybox:1, localhost:5000/buildorch/debian-gcc:bookworm,
#                      localhost:5000/buildorch/toolchain:bookworm and, for Dockerfiles' own
#                      `FROM debian:bookworm` (the engines' registry mirror), library/debian:bookworm
#                      and :bookworm-slim (linux/amd64 + linux/arm64), built locally, never pulled
#
# Packages come from the Debian archive the machine's own apt sources name (read at run time);
# set BUILDORCH_DEBIAN_MIRROR to a Debian archive URI on a machine whose sources are not Debian's.
# The system is never upgraded: trixie pieces are unpacked into /opt/buildorch/engine-trixie.
# Logs: /var/log/buildorch/. Paths the tests use: scripts/engine-env.sh.
set -Eeuo pipefail

if [[ $(id -u) -ne 0 ]]; then
  exec sudo env "BUILDORCH_DEBIAN_MIRROR=${BUILDORCH_DEBIAN_MIRROR:-}" bash "${BASH_SOURCE[0]}" "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILDORCH_CLASSIC_HOST=unix:///var/run/docker.sock
BUILDORCH_CONTAINERD_HOST=unix:///run/buildorch/containerd-engine/docker.sock
BUILDORCH_REGISTRY=localhost:5000
# shellcheck source=scripts/engine-env.sh
[[ -r $here/engine-env.sh ]] && source "$here/engine-env.sh"

PREFIX=/opt/buildorch/engine-trixie
CACHE=/var/cache/buildorch
LOGS=/var/log/buildorch
ETC=/etc/buildorch
PLUGINS=/usr/libexec/docker/cli-plugins
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

CLASSIC_HOST=$BUILDORCH_CLASSIC_HOST
CLASSIC_CONFIG=/etc/docker/daemon.json
CLASSIC_PIDFILE=/var/run/docker.pid

CD_HOST=$BUILDORCH_CONTAINERD_HOST
CD_RUN=/run/buildorch/containerd-engine
CD_DATA=/var/lib/buildorch/engine-containerd
CD_CONFIG=$ETC/engine-containerd.json
CD_PIDFILE=$CD_RUN/dockerd.pid
CTRD_SOCK=$CD_RUN/containerd.sock
CTRD_CONFIG=$ETC/engine-containerd-containerd.toml
CTRD_PIDFILE=$CD_RUN/containerd.pid
CD_PATH=$PREFIX/usr/sbin:$PREFIX/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin
# two daemons cannot both own docker0: the containerd engine gets a bridge of its own. (No
# "default-address-pools" for it: with that option set, a restarting dockerd deletes docker0.)
BRIDGE=${BUILDORCH_CONTAINERD_BRIDGE:-buildorch0}
BRIDGE_CIDR=${BUILDORCH_CONTAINERD_BRIDGE_CIDR:-10.213.0.1/24}

REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_CONFIG=$ETC/registry.yml
REGISTRY_DATA=/var/lib/buildorch/registry
REGISTRY_PIDFILE=/run/buildorch/registry.pid

BUSYBOX_REF=$BUILDORCH_REGISTRY/buildorch/busybox:1
DEBIAN_GCC_REF=$BUILDORCH_REGISTRY/buildorch/debian-gcc:bookworm
TOOLCHAIN_REF=$BUILDORCH_REGISTRY/buildorch/toolchain:bookworm
DEBIAN_REF=$BUILDORCH_REGISTRY/library/debian:bookworm
DEBIAN_SLIM_REF=$BUILDORCH_REGISTRY/library/debian:bookworm-slim
ARCHES=(amd64 arm64)

export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset DOCKER_HOST DOCKER_CONTEXT

ok() { printf 'ok: %s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
die() {
  printf '\nprovision-engine: FAILED: %s\n' "$*" >&2
  exit 1
}
trap 'printf "\nprovision-engine: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
show_log() { [[ -f $1 ]] && { echo "--- last lines of $1:" >&2; tail -n 25 "$1" >&2; }; return 0; }

[[ $(uname -s) == Linux ]] || die "Linux only"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs a Debian or Ubuntu machine (apt-get, dpkg)"
HOST_ARCH=$(dpkg --print-architecture)
[[ $HOST_ARCH == amd64 ]] || die "the host must be amd64 (it is $HOST_ARCH): the images pair amd64 with arm64 under QEMU"
# shellcheck source=/dev/null
. /etc/os-release
CODENAME=${VERSION_CODENAME:-}
mkdir -p "$LOGS" "$ETC" "$CACHE/rootfs" "$CD_RUN" "$CD_DATA" "$REGISTRY_DATA" /run/buildorch
t0=$SECONDS

# ---------------------------------------------------------------------------------------------
# The Debian archive URI, from the machine's own apt sources (never written into this script).
MIRROR=
mirror() {
  [[ -n $MIRROR ]] && { echo "$MIRROR"; return; }
  local uri=${BUILDORCH_DEBIAN_MIRROR:-} f
  if [[ -z $uri && ${ID:-} == debian ]]; then
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -r $f ]] || continue
      uri=$(awk -v cn="$CODENAME" '
        BEGIN { RS = ""; FS = "\n" }
        {
          u = ""; s = ""; t = ""; en = 1
          for (i = 1; i <= NF; i++) {
            l = $i
            if (l ~ /^[ \t]*#/) continue
            if (l ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l); u = l }
            else if (l ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", l); s = " " l " " }
            else if (l ~ /^Types:/) { t = " " l " " }
            else if (l ~ /^Enabled:[ \t]*[Nn]o/) { en = 0 }
          }
          if (en && t ~ /[ \t]deb[ \t]/ && index(s, " " cn " ") > 0) { split(u, a, /[ \t]+/); print a[1]; exit }
        }' "$f")
      [[ -n $uri ]] && break
    done
    if [[ -z $uri ]]; then
      uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v cn="$CODENAME" '
        $1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
          if ($(i + 1) == cn) { print $i; exit }
        }')
    fi
  fi
  [[ -n $uri ]] || die "cannot find a Debian archive URI in this machine's apt sources (ID=${ID:-?}, codename=$CODENAME); set BUILDORCH_DEBIAN_MIRROR to one"
  MIRROR=${uri%/}
  echo "$MIRROR"
}

# ---------------------------------------------------------------------------------------------
step "packages"
mount_binfmt() {
  if ! mountpoint -q /proc/sys/fs/binfmt_misc 2>/dev/null; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
  fi
}
mount_binfmt # before installing qemu-user-static, so that its registration lands in the kernel
PKGS=(docker.io runc tini containerd qemu-user-static binfmt-support docker-registry debootstrap
  debian-archive-keyring fuse3 bindfs busybox-static iproute2 curl
  libfuse3-dev pkg-config gcc libc6-dev) # the last four build tests/slowfs, the slow share
if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]]; then PKGS+=(apparmor); fi
missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then # no service starts from maintainer scripts
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  { apt-get -qq -oDPkg::Lock::Timeout=300 update &&
    apt-get -y -qq -oDPkg::Lock::Timeout=300 --no-install-recommends install "${missing[@]}"; } \
    >>"$LOGS/apt.log" 2>&1 || rc=$?
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { show_log "$LOGS/apt.log"; die "apt-get install ${missing[*]} failed"; }
fi
ok "packages: ${PKGS[*]}"

# ---------------------------------------------------------------------------------------------
step "QEMU in binfmt_misc"
mount_binfmt
QEMU_ENTRY=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [[ ! -e $QEMU_ENTRY || $(head -n1 "$QEMU_ENTRY") != enabled ]]; then
  update-binfmts --enable >>"$LOGS/binfmt.log" 2>&1 || true
  [[ -e $QEMU_ENTRY ]] || update-binfmts --enable qemu-aarch64 >>"$LOGS/binfmt.log" 2>&1 || true
fi
[[ -e $QEMU_ENTRY && $(head -n1 "$QEMU_ENTRY") == enabled ]] || { show_log "$LOGS/binfmt.log"; die "qemu-aarch64 is not registered in binfmt_misc"; }
QEMU_FLAGS=$(sed -n 's/^flags: *//p' "$QEMU_ENTRY")
[[ $QEMU_FLAGS == *F* ]] || die "qemu-aarch64 is registered without the F flag (flags: $QEMU_FLAGS)"
ok "qemu-aarch64 enabled, flags: $QEMU_FLAGS"

# ---------------------------------------------------------------------------------------------
step "trixie pieces: docker.io + containerd (second engine), buildx and compose plugins"
find_bin() { # find_bin ROOT NAME...: first match under ROOT's usr/{sbin,bin}, bin, sbin
  local root=$1 name d
  shift
  for name; do
    for d in usr/sbin usr/bin sbin bin usr/libexec/docker/cli-plugins usr/lib/docker/cli-plugins; do
      [[ -x $root/$d/$name ]] && { echo "$root/$d/$name"; return 0; }
    done
  done
  return 1
}
have_trixie() {
  find_bin "$PREFIX" dockerd >/dev/null && find_bin "$PREFIX" containerd >/dev/null &&
    find_bin "$PREFIX" containerd-shim-runc-v2 >/dev/null &&
    [[ -x $PLUGINS/docker-buildx && -x $PLUGINS/docker-compose ]]
}
if ! have_trixie; then
  d=$CACHE/apt-trixie
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/debs"
  printf 'deb [signed-by=%s] %s trixie main\n' "$KEYRING" "$(mirror)" >"$d/sources.list"
  o=(-qq "-oDir::Etc::SourceList=$d/sources.list" -oDir::Etc::SourceParts=/dev/null
    "-oDir::State::Lists=$d/lists" "-oDir::Cache=$d/cache" -oDir::Etc::Preferences=/dev/null
    -oDir::Etc::PreferencesParts=/dev/null -oAPT::Architecture=amd64 -oAPT::Architectures=amd64)
  echo "fetching trixie .debs from $(mirror) (system sources untouched)"
  apt-get "${o[@]}" update >>"$LOGS/apt-trixie.log" 2>&1 || { show_log "$LOGS/apt-trixie.log"; die "apt-get update (trixie, private lists) failed"; }
  rm -f "$d/debs"/*.deb
  id _apt >/dev/null 2>&1 && chown _apt "$d/debs"
  (cd "$d/debs" && apt-get "${o[@]}" download docker.io containerd docker-buildx docker-compose) \
    >>"$LOGS/apt-trixie.log" 2>&1 || { show_log "$LOGS/apt-trixie.log"; die "apt-get download (trixie) failed"; }
  rm -rf "$PREFIX.new" "$d/x"
  mkdir -p "$PREFIX.new" "$d/x"
  for deb in "$d/debs"/docker.io_*.deb "$d/debs"/containerd_*.deb; do dpkg -x "$deb" "$PREFIX.new"; done
  for deb in "$d/debs"/docker-buildx_*.deb "$d/debs"/docker-compose_*.deb; do dpkg -x "$deb" "$d/x"; done
  for deb in "$d/debs"/*.deb; do dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"; done >"$PREFIX.new/.buildorch-debs"
  # a running containerd engine keeps its binaries; it is restarted below
  if [[ -d $PREFIX ]]; then rm -rf "$PREFIX.old" && mv "$PREFIX" "$PREFIX.old"; fi
  mv "$PREFIX.new" "$PREFIX"
  rm -rf "$PREFIX.old"
  mkdir -p "$PLUGINS"
  for p in docker-buildx docker-compose; do
    src=$(find_bin "$d/x" "$p") || die "$p not found in its trixie .deb"
    install -m 755 "$src" "$PLUGINS/$p"
  done
  rm -rf "$d/x"
  have_trixie || die "trixie pieces incomplete after unpacking"
fi
CD_DOCKERD=$(find_bin "$PREFIX" dockerd)
CD_CONTAINERD=$(find_bin "$PREFIX" containerd)
CD_CTR=$(find_bin "$PREFIX" ctr)
CD_PROXY=$(find_bin "$PREFIX" docker-proxy || true)
ok "trixie engine in $PREFIX: $(paste -sd';' "$PREFIX/.buildorch-debs" 2>/dev/null | sed 's/;/, /g')"
ok "plugins: $PLUGINS/docker-buildx, $PLUGINS/docker-compose"

# ---------------------------------------------------------------------------------------------
# Background daemons (no systemd): setsid, logs in $LOGS, pid files.
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
start_bg() { # start_bg PIDFILE|- LOG COMMAND...: PIDFILE is written unless the daemon writes its own
  local pidfile=$1 log=$2
  shift 2
  echo "--- $(date -Is) starting: $*" >>"$log"
  if [[ $pidfile == - ]]; then
    setsid -f nohup "$@" >>"$log" 2>&1 </dev/null
  else
    rm -f "$pidfile"
    setsid -f nohup sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null
  fi
}
stop_pidfile() { # stop only the process this script started, by its pid file
  local pidfile=$1 i
  pid_alive "$pidfile" || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}
engine_up() { DOCKER_HOST=$1 timeout 20 docker info >/dev/null 2>&1; }
wait_engine() { # wait_engine HOST PIDFILE LOG NAME
  local i
  for ((i = 0; i < 120; i++)); do
    engine_up "$1" && return 0
    if ((i > 4)) && ! pid_alive "$2"; then break; fi
    sleep 1
  done
  show_log "$3"
  die "$4 did not come up on $1"
}
write_if_changed() { # write_if_changed FILE < content; returns 0 when the file changed
  local f=$1 tmp
  tmp=$(mktemp "$f.XXXX")
  cat >"$tmp"
  if [[ -f $f ]] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; return 1; fi
  [[ -f $f ]] && cp -p "$f" "$f.buildorch-bak"
  chmod 644 "$tmp" && mv "$tmp" "$f"
  return 0
}

# ---------------------------------------------------------------------------------------------
step "classic engine (bookworm dockerd, classic image store) on $CLASSIC_HOST"
mkdir -p "$(dirname "$CLASSIC_CONFIG")"
classic_changed=0
write_if_changed "$CLASSIC_CONFIG" <<EOF && classic_changed=1
{
  "registry-mirrors": ["http://$BUILDORCH_REGISTRY"],
  "iptables": false,
  "ip-forward": false,
  "ip-masq": false
}
EOF
if ((classic_changed)) && pid_alive "$CLASSIC_PIDFILE"; then
  echo "daemon config changed: restarting the classic engine"
  stop_pidfile "$CLASSIC_PIDFILE"
elif pid_alive "$CLASSIC_PIDFILE" && ! ip link show docker0 >/dev/null 2>&1; then
  echo "docker0 is gone (containers would fail): restarting the classic engine"
  stop_pidfile "$CLASSIC_PIDFILE"
fi
if ! engine_up "$CLASSIC_HOST"; then
  if pid_alive "$CLASSIC_PIDFILE"; then # started but not answering: give it time, then restart
    for ((i = 0; i < 20; i++)); do engine_up "$CLASSIC_HOST" && break; sleep 1; done
    engine_up "$CLASSIC_HOST" || stop_pidfile "$CLASSIC_PIDFILE"
  fi
  if ! engine_up "$CLASSIC_HOST"; then
    pid_alive "$CLASSIC_PIDFILE" || rm -f "$CLASSIC_PIDFILE"
    echo "starting the classic engine (log: $LOGS/engine-classic.log)"
    start_bg - "$LOGS/engine-classic.log" env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      dockerd --config-file "$CLASSIC_CONFIG" -H "$CLASSIC_HOST" --pidfile "$CLASSIC_PIDFILE"
    wait_engine "$CLASSIC_HOST" "$CLASSIC_PIDFILE" "$LOGS/engine-classic.log" "the classic engine"
  fi
fi
CLASSIC_VERSION=$(DOCKER_HOST=$CLASSIC_HOST docker version --format '{{.Server.Version}}')
CLASSIC_DRIVER=$(DOCKER_HOST=$CLASSIC_HOST docker info --format '{{.Driver}} {{json .DriverStatus}}')
[[ $CLASSIC_DRIVER != *io.containerd.snapshotter.v1* ]] || die "the classic engine uses the containerd image store ($CLASSIC_DRIVER)"
ok "classic engine $CLASSIC_VERSION, storage ${CLASSIC_DRIVER%% *}, pid $(cat "$CLASSIC_PIDFILE" 2>/dev/null || echo ?)"

# ---------------------------------------------------------------------------------------------
step "containerd engine (trixie dockerd + containerd, containerd image store) on $CD_HOST"
bridge_created=0
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  bridge_created=1
  clash=$(ip -4 route show match "${BRIDGE_CIDR%/*}" | grep -v '^default' || true)
  [[ -z $clash ]] || die "$BRIDGE_CIDR clashes with this machine's routes ($clash); set BUILDORCH_CONTAINERD_BRIDGE_CIDR"
  ip link add "$BRIDGE" type bridge
fi
if ! ip -4 -o addr show dev "$BRIDGE" | grep -q " inet $BRIDGE_CIDR "; then
  ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
fi
ip link set "$BRIDGE" up
ok "bridge $BRIDGE $BRIDGE_CIDR"

ctrd_changed=0
write_if_changed "$CTRD_CONFIG" <<EOF && ctrd_changed=1
version = 2
root = "$CD_DATA/containerd"
state = "$CD_RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$CTRD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
EOF
proxy_line=
[[ -n $CD_PROXY ]] && proxy_line=$'\n  "userland-proxy-path": "'"$CD_PROXY"'",'
cd_changed=0
write_if_changed "$CD_CONFIG" <<EOF && cd_changed=1
{
  "registry-mirrors": ["http://$BUILDORCH_REGISTRY"],
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "bridge": "$BRIDGE",$proxy_line
  "features": {"containerd-snapshotter": true}
}
EOF
ctrd_up() { timeout 10 "$CD_CTR" --address "$CTRD_SOCK" version >/dev/null 2>&1; }
if ((ctrd_changed)) && pid_alive "$CTRD_PIDFILE"; then
  echo "containerd config changed: restarting the containerd engine"
  stop_pidfile "$CD_PIDFILE"
  stop_pidfile "$CTRD_PIDFILE"
elif ((cd_changed || bridge_created)) && pid_alive "$CD_PIDFILE"; then
  echo "daemon config or bridge changed: restarting the containerd engine"
  stop_pidfile "$CD_PIDFILE"
fi
if ! ctrd_up; then
  if pid_alive "$CTRD_PIDFILE"; then
    for ((i = 0; i < 15; i++)); do ctrd_up && break; sleep 1; done
    ctrd_up || stop_pidfile "$CTRD_PIDFILE"
  fi
  if ! ctrd_up; then
    echo "starting the containerd engine's containerd (log: $LOGS/engine-containerd-containerd.log)"
    start_bg "$CTRD_PIDFILE" "$LOGS/engine-containerd-containerd.log" env PATH="$CD_PATH" \
      "$CD_CONTAINERD" --config "$CTRD_CONFIG"
    for ((i = 0; i < 60; i++)); do ctrd_up && break; sleep 0.5; done
    ctrd_up || { show_log "$LOGS/engine-containerd-containerd.log"; die "containerd (containerd engine) did not come up on $CTRD_SOCK"; }
  fi
fi
ok "containerd $("$CD_CTR" --address "$CTRD_SOCK" version 2>/dev/null | awk '/Server:/{s=1} s&&/Version:/{print $2; exit}') on $CTRD_SOCK, pid $(cat "$CTRD_PIDFILE" 2>/dev/null || echo ?)"
if ! engine_up "$CD_HOST"; then
  if pid_alive "$CD_PIDFILE"; then
    for ((i = 0; i < 20; i++)); do engine_up "$CD_HOST" && break; sleep 1; done
    engine_up "$CD_HOST" || stop_pidfile "$CD_PIDFILE"
  fi
  if ! engine_up "$CD_HOST"; then
    pid_alive "$CD_PIDFILE" || rm -f "$CD_PIDFILE"
    echo "starting the containerd engine (log: $LOGS/engine-containerd.log)"
    start_bg - "$LOGS/engine-containerd.log" env PATH="$CD_PATH" \
      "$CD_DOCKERD" --config-file "$CD_CONFIG" -H "$CD_HOST" --containerd "$CTRD_SOCK" \
      --data-root "$CD_DATA" --exec-root "$CD_RUN/exec" --pidfile "$CD_PIDFILE"
    wait_engine "$CD_HOST" "$CD_PIDFILE" "$LOGS/engine-containerd.log" "the containerd engine"
  fi
fi
CD_VERSION=$(DOCKER_HOST=$CD_HOST docker version --format '{{.Server.Version}}')
DOCKER_HOST=$CD_HOST docker info --format '{{json .}}' | grep -q 'io.containerd.snapshotter.v1' ||
  die "the containerd engine does not report driver-type io.containerd.snapshotter.v1"
ok "containerd engine $CD_VERSION, image store io.containerd.snapshotter.v1, pid $(cat "$CD_PIDFILE" 2>/dev/null || echo ?)"

BUILDX_VERSION=$(docker buildx version 2>&1) || die "docker buildx version failed: $BUILDX_VERSION"
COMPOSE_VERSION=$(docker compose version 2>&1) || die "docker compose version failed: $COMPOSE_VERSION"
ok "$BUILDX_VERSION"
ok "$COMPOSE_VERSION"

# ---------------------------------------------------------------------------------------------
step "registry on $REGISTRY_ADDR"
reg_changed=0
write_if_changed "$REGISTRY_CONFIG" <<EOF && reg_changed=1
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_ADDR
EOF
reg_up() { curl -fsS -m 5 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }
if ((reg_changed)) && pid_alive "$REGISTRY_PIDFILE"; then stop_pidfile "$REGISTRY_PIDFILE"; fi
if ! reg_up; then
  pid_alive "$REGISTRY_PIDFILE" && stop_pidfile "$REGISTRY_PIDFILE"
  echo "starting the registry (log: $LOGS/registry.log)"
  start_bg "$REGISTRY_PIDFILE" "$LOGS/registry.log" docker-registry serve "$REGISTRY_CONFIG"
  for ((i = 0; i < 60; i++)); do reg_up && break; sleep 0.5; done
  reg_up || { show_log "$LOGS/registry.log"; die "the registry did not answer on http://$REGISTRY_ADDR/v2/"; }
fi
ok "registry http://$REGISTRY_ADDR/v2/ (storage $REGISTRY_DATA, pid $(cat "$REGISTRY_PIDFILE" 2>/dev/null || echo ?))"

# ---------------------------------------------------------------------------------------------
# Base images: FROM scratch + ADD rootfs.tar per platform, pushed, joined into a manifest list.
image_platforms() { # the platforms of a manifest list in the registry, or nothing
  docker buildx imagetools inspect --raw "$1" 2>/dev/null |
    grep -o '"architecture": *"[a-z0-9]*"' | sed 's/.*"\([a-z0-9]*\)"$/\1/' | sort -u | paste -sd' ' || true
}
has_image() {
  local p
  p=" $(image_platforms "$1") "
  [[ $p == *" amd64 "* && $p == *" arm64 "* ]]
}
release_mounts() { # unmount anything left mounted under a work directory before deleting it
  local m
  awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}
push_image() { # push_image REF ARCH ROOTFS_TAR: builds REF-ARCH on the classic engine and pushes it
  local ref=$1 arch=$2 tar=$3 ctx log=$LOGS/image-build.log
  ctx=$(mktemp -d "$CACHE/ctx.XXXX")
  ln "$tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$tar" "$ctx/rootfs.tar"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
EOF
  echo "--- $(date -Is) $ref-$arch" >>"$log"
  { DOCKER_HOST=$CLASSIC_HOST docker buildx build --progress=plain --platform "linux/$arch" \
      -t "$ref-$arch" --load "$ctx" &&
    DOCKER_HOST=$CLASSIC_HOST docker push "$ref-$arch" &&
    DOCKER_HOST=$CLASSIC_HOST docker rmi "$ref-$arch"; } >>"$log" 2>&1 ||
    { rm -rf "$ctx"; show_log "$log"; die "building or pushing $ref-$arch failed"; }
  rm -rf "$ctx"
}
join_image() { # join_image REF: REF-amd64 + REF-arm64 -> the two-platform REF
  docker buildx imagetools create -t "$1" "$1-amd64" "$1-arm64" >>"$LOGS/image-build.log" 2>&1 ||
    { show_log "$LOGS/image-build.log"; die "imagetools create $1 failed"; }
  has_image "$1" || die "$1 does not list linux/amd64 and linux/arm64 after imagetools create"
}

step "image $BUSYBOX_REF"
if ! has_image "$BUSYBOX_REF"; then
  d=$CACHE/apt-busybox
  printf 'deb [signed-by=%s] %s bookworm main\n' "$KEYRING" "$(mirror)" >"$d.list"
  for arch in "${ARCHES[@]}"; do
    mkdir -p "$d/$arch/lists/partial" "$d/$arch/cache/archives/partial" "$d/$arch/debs"
    o=(-qq "-oDir::Etc::SourceList=$d.list" -oDir::Etc::SourceParts=/dev/null
      "-oDir::State::Lists=$d/$arch/lists" "-oDir::Cache=$d/$arch/cache"
      "-oAPT::Architecture=$arch" "-oAPT::Architectures=$arch")
    rm -f "$d/$arch/debs"/*.deb
    id _apt >/dev/null 2>&1 && chown _apt "$d/$arch/debs"
    { apt-get "${o[@]}" update && (cd "$d/$arch/debs" && apt-get "${o[@]}" download "busybox-static:$arch"); } \
      >>"$LOGS/apt-busybox.log" 2>&1 || { show_log "$LOGS/apt-busybox.log"; die "downloading busybox-static:$arch failed"; }
  done
  work=$CACHE/rootfs/work-busybox
  rm -rf "$work"
  mkdir -p "$work"
  for arch in "${ARCHES[@]}"; do dpkg-deb -x "$d/$arch/debs"/busybox-static_*.deb "$work/deb-$arch"; done
  applets=$("$(find_bin "$work/deb-amd64" busybox)" --list-full)
  for arch in "${ARCHES[@]}"; do
    r=$work/root-$arch
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,proc,sys,dev}
    install -m 755 "$(find_bin "$work/deb-$arch" busybox)" "$r/bin/busybox"
    for a in $applets; do [[ -e $r/$a || -L $r/$a ]] || ln -s /bin/busybox "$r/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    chmod 1777 "$r/tmp" "$r/var/tmp"
    tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$CACHE/rootfs/busybox-$arch.tar" .
    push_image "$BUSYBOX_REF" "$arch" "$CACHE/rootfs/busybox-$arch.tar"
  done
  rm -rf "$work"
  join_image "$BUSYBOX_REF"
fi
ok "$BUSYBOX_REF: $(image_platforms "$BUSYBOX_REF")"

debootstrap_rootfs() { # debootstrap_rootfs NAME INCLUDE_AMD64 INCLUDE_ARM64: $CACHE/rootfs/NAME-ARCH.tar
  # per arch (kept: a later run reuses it), bookworm minbase plus the comma list INCLUDE (may be
  # empty), both arches at once; apt's sources name the archive debootstrap read (mirror())
  local name=$1 arch include out log p pids=()
  shift
  for arch in "${ARCHES[@]}"; do
    include=$1
    shift
    out=$CACHE/rootfs/$name-$arch.tar
    [[ -s $out ]] && { echo "rootfs $out cached"; continue; }
    log=$LOGS/debootstrap-$name-$arch.log
    echo "debootstrap bookworm $arch${include:+ with $include} (log: $log)"
    (
      work=$CACHE/rootfs/work-$name-$arch
      release_mounts "$work"
      rm -rf "$work"
      debootstrap --arch="$arch" --variant=minbase ${include:+"--include=$include"} bookworm "$work" "$(mirror)" >"$log" 2>&1 ||
        { release_mounts "$work"; exit 1; }
      release_mounts "$work"
      rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/cache/apt/*.bin "$work"/var/lib/apt/lists/* \
        "$work"/var/log/*.log "$work"/var/log/apt/* "$work"/debootstrap
      find "$work/dev" -mindepth 1 -delete
      : >"$work/etc/resolv.conf"
      echo localhost >"$work/etc/hostname"
      tar --numeric-owner -C "$work" -cf "$out.tmp" . && mv "$out.tmp" "$out"
      rm -rf "$work"
    ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    wait "$p" || { for arch in "${ARCHES[@]}"; do show_log "$LOGS/debootstrap-$name-$arch.log"; done; die "debootstrap failed"; }
  done
}

step "image $DEBIAN_GCC_REF"
if ! has_image "$DEBIAN_GCC_REF"; then
  debootstrap_rootfs debian-gcc-bookworm gcc,libc6-dev,make,file,gcc-aarch64-linux-gnu,libc6-dev-arm64-cross \
    gcc,libc6-dev,make,file
  for arch in "${ARCHES[@]}"; do
    push_image "$DEBIAN_GCC_REF" "$arch" "$CACHE/rootfs/debian-gcc-bookworm-$arch.tar"
  done
  join_image "$DEBIAN_GCC_REF"
fi
ok "$DEBIAN_GCC_REF: $(image_platforms "$DEBIAN_GCC_REF")"

# what a Dockerfile's `FROM debian:bookworm` gets through the engines' registry mirror: the
# official image's content (minbase, no package added); slim is the same rootfs
for ref in "$DEBIAN_REF" "$DEBIAN_SLIM_REF"; do
  step "image $ref"
  if ! has_image "$ref"; then
    debootstrap_rootfs debian-bookworm "" ""
    for arch in "${ARCHES[@]}"; do push_image "$ref" "$arch" "$CACHE/rootfs/debian-bookworm-$arch.tar"; done
    join_image "$ref"
  fi
  ok "$ref: $(image_platforms "$ref")"
done

step "image $TOOLCHAIN_REF"
# debian-gcc plus what buildorch's templates compile with: C++, CMake, autotools, Go, Rust,
# ccache and sccache, and the other architecture's cross toolchains (Rust's standard library
# through multiarch, so that cargo --target links with <triple>-gcc). Installed from the Debian
# archive the rootfs already points at (debootstrap wrote the mirror() URI into its
# sources.list), so the build needs the host's network (--network host); the arm64 variant
# installs under QEMU (about 3.5 minutes of 6.5 in all). The classic engine's docker driver
# builds one platform at a time: each is pushed as REF-ARCH, then joined. The image carries a
# hash of this recipe (label org.buildorch.recipe): an image built from another recipe is
# rebuilt.
TOOLCHAIN_DOCKERFILE=$(cat <<'EOF'
ARG BASE
FROM ${BASE}
ARG TARGETARCH
# bookworm's libc6-dev-amd64-cross ships libm.a as a linker script naming the native paths
# (/usr/lib/x86_64-linux-gnu/libm-2.36.a), so static links with -lm (any static C++) fail:
# point such scripts at the cross sysroot they live in.
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) other=arm64; cross="gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      arm64) other=amd64; cross="gcc-x86-64-linux-gnu g++-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      *) echo "no toolchain recipe for $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    src=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true); \
    [ -n "$src" ] || { echo "the base image has no apt source" >&2; exit 1; }; \
    echo "apt source: $src"; \
    dpkg --add-architecture "$other"; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc g++ make file cmake autoconf automake libtool pkg-config ca-certificates \
      golang-go rustc cargo ccache sccache $cross "libstd-rust-dev:$other"; \
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log; \
    for f in /usr/*-linux-gnu*/lib/*.a; do \
      [ -f "$f" ] && head -c 64 "$f" | grep -q 'GNU ld script' || continue; \
      t=${f#/usr/}; t=${t%%/*}; \
      grep -q "/usr/lib/$t/" "$f" || continue; \
      sed -i "s#/usr/lib/$t/#/usr/$t/lib/#g" "$f"; echo "fixed linker script $f"; \
    done
ARG RECIPE
LABEL org.buildorch.recipe=${RECIPE}
EOF
)
TOOLCHAIN_RECIPE=$(printf '%s\n%s\n' "$DEBIAN_GCC_REF" "$TOOLCHAIN_DOCKERFILE" | sha256sum | cut -c1-16)
toolchain_current() { # both platforms there, and built from this recipe
  has_image "$TOOLCHAIN_REF" || return 1
  local labels
  labels=$(docker buildx imagetools inspect "$TOOLCHAIN_REF" \
    --format '{{range .Image}}{{index .Config.Labels "org.buildorch.recipe"}} {{end}}' 2>/dev/null) || return 1
  [[ $labels == "$TOOLCHAIN_RECIPE $TOOLCHAIN_RECIPE " ]] && return 0
  echo "$TOOLCHAIN_REF was built from another recipe (${labels% } instead of $TOOLCHAIN_RECIPE): rebuilding"
  return 1
}
if ! toolchain_current; then
  ctx=$(mktemp -d "$CACHE/ctx.XXXX")
  printf '%s\n' "$TOOLCHAIN_DOCKERFILE" >"$ctx/Dockerfile"
  for arch in "${ARCHES[@]}"; do
    log=$LOGS/image-build.log
    echo "building $TOOLCHAIN_REF-$arch (log: $log)"
    echo "--- $(date -Is) $TOOLCHAIN_REF-$arch" >>"$log"
    DOCKER_HOST=$CLASSIC_HOST docker buildx build --progress=plain --network host \
      --platform "linux/$arch" --build-arg "BASE=$DEBIAN_GCC_REF" --build-arg "RECIPE=$TOOLCHAIN_RECIPE" \
      -t "$TOOLCHAIN_REF-$arch" --push "$ctx" >>"$log" 2>&1 ||
      { rm -rf "$ctx"; show_log "$log"; die "building $TOOLCHAIN_REF-$arch failed"; }
    # the docker driver also loads what it pushes: drop the local tag (the registry has it)
    DOCKER_HOST=$CLASSIC_HOST docker rmi "$TOOLCHAIN_REF-$arch" >>"$log" 2>&1 || true
  done
  rm -rf "$ctx"
  join_image "$TOOLCHAIN_REF"
  toolchain_current || die "$TOOLCHAIN_REF does not carry recipe $TOOLCHAIN_RECIPE after the build"
fi
ok "$TOOLCHAIN_REF: $(image_platforms "$TOOLCHAIN_REF"), recipe $TOOLCHAIN_RECIPE"
# an engine prefers its own copy of a tag to the registry's: a copy from an older recipe
# would go on serving builds, so it goes (the next build fetches the current one)
for host in "$CLASSIC_HOST" "$CD_HOST"; do
  held=$(DOCKER_HOST=$host docker image inspect "$TOOLCHAIN_REF" \
    --format '{{index .Config.Labels "org.buildorch.recipe"}}' 2>/dev/null) || continue
  [[ $held == "$TOOLCHAIN_RECIPE" ]] && continue
  DOCKER_HOST=$host docker image rm --force "$TOOLCHAIN_REF" >/dev/null ||
    die "could not drop $host's copy of $TOOLCHAIN_REF (recipe ${held:-none})"
  ok "$host: dropped its copy of $TOOLCHAIN_REF from recipe ${held:-none}"
done

# ---------------------------------------------------------------------------------------------
step "both engines pull from the registry and run arm64 under QEMU"
for host in "$CLASSIC_HOST" "$CD_HOST"; do
  m=$(DOCKER_HOST=$host docker run --rm --pull always --platform linux/arm64 "$BUSYBOX_REF" uname -m 2>&1 | tail -n1) || true
  [[ $m == aarch64 ]] || die "running linux/arm64 $BUSYBOX_REF on $host gave: $m"
  ok "$host: linux/arm64 container says $m"
done

cat <<EOF

== buildorch engines ready ($((SECONDS - t0)) s) ==
classic engine     $CLASSIC_VERSION, storage ${CLASSIC_DRIVER%% *} (classic image store)
                   $CLASSIC_HOST   log $LOGS/engine-classic.log
containerd engine  $CD_VERSION, containerd image store (io.containerd.snapshotter.v1), bridge $BRIDGE $BRIDGE_CIDR
                   $CD_HOST   log $LOGS/engine-containerd.log
buildx             $BUILDX_VERSION
compose            $COMPOSE_VERSION
qemu-aarch64       flags: $QEMU_FLAGS
registry           http://$REGISTRY_ADDR (as $BUILDORCH_REGISTRY)
images             $BUSYBOX_REF ($(image_platforms "$BUSYBOX_REF"))
                   $DEBIAN_GCC_REF ($(image_platforms "$DEBIAN_GCC_REF"))
                   $TOOLCHAIN_REF ($(image_platforms "$TOOLCHAIN_REF"))
                   $DEBIAN_REF ($(image_platforms "$DEBIAN_REF"))
                   $DEBIAN_SLIM_REF ($(image_platforms "$DEBIAN_SLIM_REF"))
environment        source $here/engine-env.sh
EOF
