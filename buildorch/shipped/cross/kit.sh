#!/bin/sh
# buildorch's cross-compiling kit: makes a Dockerfile stage that runs on the build machine
# ($BUILDPLATFORM) build for the target ($TARGETPLATFORM) without its commands being edited.
#
#   kit setup           once, before the stage's first step: multiarch for the target's
#                       packages, the cross compilers when the image already has a compiler,
#                       wrappers, env files
#   kit run CMD...      the stage's SHELL prefix: runs CMD with the target's environment
#   kit verify PATH...  fails unless every ELF file under PATH is built for the target
#
# How the project's own commands reach the target (why each layer: the README's
# "Cross-compiling your own Dockerfile"):
#   environment  CC, CXX, AR, PKG_CONFIG, host_alias (autoconf), CMAKE_TOOLCHAIN_FILE,
#                GOOS/GOARCH, CC_<triple> and CARGO_TARGET_<TRIPLE>_LINKER (cargo's cc crate)
#   wrappers     first in PATH, for what reads no environment: a Makefile's plain `gcc`,
#                `ar`, `strip`; apt-get (libraries for the target through multiarch);
#                cargo (--target, with outputs mirrored where the Dockerfile looks); go install;
#                meson (--cross-file); pkg-config (the target's .pc files); qemu-<arch>
#                (a test that runs the target's program by QEMU's name)
#   caches       ccache for C and C++, sccache for cargo's rustc, Go's build cache: folders
#                per target in the cache mount buildorch adds to the stage's RUN steps
# When the target is the build machine itself every command runs unchanged.
set -eu

KIT=/buildorch-cross
say() { printf 'buildorch-cross: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# PATH without the kit's wrappers: what the stage would find on its own. Computed without a
# process: every compile of a build runs this script once, and forks add up over thousands
PLAIN="" sep="" rest=$PATH:
while [ -n "$rest" ]; do
	d=${rest%%:*} rest=${rest#*:}
	[ "$d" = "$KIT/bin" ] || PLAIN=$PLAIN$sep$d sep=:
done
# found=the program NAME in PLAIN; without a subshell, for the compilers' path
find_real() {
	found="" rest=$PLAIN:
	while [ -n "$rest" ]; do
		d=${rest%%:*} rest=${rest#*:}
		if [ -f "${d:-.}/$1" ] && [ -x "${d:-.}/$1" ]; then
			found=${d:-.}/$1
			return 0
		fi
	done
	return 1
}
# the program NAME in PLAIN, printed
real() { find_real "$1" && printf '%s\n' "$found"; }
# found=the stage's own NAME (find_real); a wrapper whose tool the stage lacks stops, naming it
installed() { find_real "$1" || die "$1 is not installed in this stage"; }

# -- the target ------------------------------------------------------------------------------
# TARGETARCH/TARGETVARIANT -> Debian arch, GNU triple, Rust triple, Go arch, ELF class/machine,
# the program loader
target_of() {
	case "$1" in arm) v=${2:-v7} ;; *) v= ;; esac
	case "$1${v:+/$v}" in
	amd64) echo "amd64 x86_64-linux-gnu x86_64-unknown-linux-gnu amd64 2 62 /lib64/ld-linux-x86-64.so.2" ;;
	arm64) echo "arm64 aarch64-linux-gnu aarch64-unknown-linux-gnu arm64 2 183 /lib/ld-linux-aarch64.so.1" ;;
	arm/v7) echo "armhf arm-linux-gnueabihf armv7-unknown-linux-gnueabihf arm 1 40 /lib/ld-linux-armhf.so.3" ;;
	riscv64) echo "riscv64 riscv64-linux-gnu riscv64gc-unknown-linux-gnu riscv64 2 243 /lib/ld-linux-riscv64-lp64d.so.1" ;;
	ppc64le) echo "ppc64el powerpc64le-linux-gnu powerpc64le-unknown-linux-gnu ppc64le 2 21 /lib64/ld64.so.2" ;;
	s390x) echo "s390x s390x-linux-gnu s390x-unknown-linux-gnu s390x 2 22 /lib/ld64.so.1" ;;
	386) echo "i386 i686-linux-gnu i686-unknown-linux-gnu 386 1 3 /lib/ld-linux.so.2" ;;
	*) return 1 ;;
	esac
}

# Debian's packages (busybox has a dpkg of its own, without multiarch)
has_apt() { [ -x /usr/bin/apt-get ] && dpkg --print-architecture >/dev/null 2>&1; }

build_arch() {
	if has_apt; then
		dpkg --print-architecture
		return
	fi
	case "$(uname -m)" in
	x86_64) echo amd64 ;; aarch64) echo arm64 ;; armv7l) echo armhf ;; i686) echo i386 ;;
	*) uname -m ;;
	esac
}

load() {
	[ -r "$KIT/target" ] || die "the kit was not set up in this stage (kit setup)"
	native=0
	# shellcheck disable=SC1091
	. "$KIT/target"
}

# -- setup -----------------------------------------------------------------------------------
setup() { # [rust] [tools]: the stage, or one built on it, runs cargo; installs tools only
	mkdir -p "$KIT/bin"
	rust_steps=0 tools_only=0
	for a in "$@"; do
		case "$a" in rust) rust_steps=1 ;; tools) tools_only=1 ;; *) die "kit setup: unknown word $a" ;; esac
	done
	arch=${TARGETARCH:-}
	[ -n "$arch" ] || die "TARGETARCH is not set: the stage needs ARG TARGETARCH before kit setup"
	build_deb=$(build_arch)
	case "$arch:$build_deb" in amd64:amd64 | arm64:arm64 | riscv64:riscv64 | s390x:s390x | \
		ppc64le:ppc64el | 386:i386)
		echo "native=1" >"$KIT/target"
		say "the target ($arch) is the build machine: nothing to cross"
		return
		;;
	esac
	t=$(target_of "$arch" "${TARGETVARIANT:-}") ||
		die "no cross toolchain is known for $arch${TARGETVARIANT:+/$TARGETVARIANT}: build this platform from the original Dockerfile (emulated), as buildorch build does"
	# shellcheck disable=SC2086
	set -- $t
	deb=$1 gnu=$2 rust=$3 goarch=$4 class=$5 machine=$6 loader=$7
	build_gnu=$(gcc -dumpmachine 2>/dev/null || echo "$(uname -m)-linux-gnu")
	goarm=
	[ "$goarch" = arm ] && goarm=7
	cat >"$KIT/target" <<EOF
native=0
deb=$deb
gnu=$gnu
rust=$rust
goarch=$goarch
goarm=$goarm
class=$class
machine=$machine
loader=$loader
build_gnu=$build_gnu
rust_steps=$rust_steps
EOF
	# wrappers: one script, named for each tool it stands in for (not `as` and `ld`, which
	# the build machine's own gcc finds in PATH when a step compiles for it: CC_FOR_BUILD)
	# (the kit's own names, which the environment gives: always; the others as the stage's
	# steps install them)
	for tool in "$gnu-pkg-config" "$gnu-gcc" "$gnu-g++" "$gnu-cross-exe-wrapper"; do
		ln -sf ../kit "$KIT/bin/$tool"
	done
	link_wrappers
	ln -sf kit "$KIT/rustc-cache"
	# the processor as a build on the target names it (uname -m there): CMake's and meson's own
	# detection starts from it, and projects match it (`MATCHES "^armv7"`)
	case "$deb" in armhf) cpu=armv7l ;; ppc64el) cpu=ppc64le ;; *) cpu=$(echo "$gnu" | cut -d- -f1) ;; esac
	# Debian's folder of the target's libraries (lib/<multiarch>)
	case "$deb" in i386) multiarch=i386-linux-gnu ;; *) multiarch=$gnu ;; esac
	cat >"$KIT/toolchain.cmake" <<EOF
# written by buildorch-cross: CMake reads it through CMAKE_TOOLCHAIN_FILE (CMake >= 3.21)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR $cpu)
# the compilers: CC and CXX, which the kit sets to the target's (a Dockerfile's own win)
set(PKG_CONFIG_EXECUTABLE $KIT/bin/$gnu-pkg-config CACHE FILEPATH "")
# try_run and check_*_source_runs run their programs as a build on the target does, through
# the emulator the builder registered; without one, CMake asks for their answers (its way in a
# cross build). Asked once a process: try_compile reads this file for every check
if(NOT DEFINED ENV{BUILDORCH_CROSS_RUNS})
  execute_process(COMMAND $KIT/kit can-run RESULT_VARIABLE runs OUTPUT_QUIET ERROR_QUIET)
  set(ENV{BUILDORCH_CROSS_RUNS} "\${runs}")
endif()
if("\$ENV{BUILDORCH_CROSS_RUNS}" STREQUAL "0")
  set(CMAKE_CROSSCOMPILING_EMULATOR $KIT/bin/$gnu-cross-exe-wrapper)
endif()
# GNUInstallDirs gives prefix /usr on Debian the libdir lib/<multiarch> in a native build
# only: the target's, as a build there has it (a CMAKE_INSTALL_LIBDIR of the step's own wins)
if(EXISTS /etc/debian_version AND NOT DEFINED CMAKE_INSTALL_LIBDIR
    AND "\${CMAKE_INSTALL_PREFIX}" MATCHES "^/usr/?\$")
  set(CMAKE_INSTALL_LIBDIR lib/$multiarch CACHE PATH "Object code libraries (lib/$multiarch)")
endif()
EOF
	case "$cpu" in i686) family=x86 ;; ppc64le) family=ppc64 ;; armv7l) family=arm ;; *) family=$cpu ;; esac
	endian=little
	[ "$cpu" = s390x ] && endian=big
	cat >"$KIT/meson.cross" <<EOF
[binaries]
c = '$gnu-gcc'
cpp = '$gnu-g++'
ar = '$gnu-ar'
strip = '$gnu-strip'
pkgconfig = '$KIT/bin/$gnu-pkg-config'
pkg-config = '$KIT/bin/$gnu-pkg-config'

[host_machine]
system = 'linux'
cpu_family = '$family'
cpu = '$cpu'
endian = '$endian'
EOF
	# meson's libdir on Debian, lib/<multiarch> where dpkg-architecture names it: the build
	# machine's, which meson makes plain lib in a cross build, so the target's, as there
	cat >"$KIT/meson-libdir.cross" <<EOF
[built-in options]
libdir = 'lib/$multiarch'
EOF
	# meson runs the target's programs (compiler.run(), tests) through an exe_wrapper, named
	# only when the builder runs them: with one, meson's own check of the compiler runs it too
	cat >"$KIT/meson-run.cross" <<EOF
[binaries]
exe_wrapper = '$KIT/bin/$gnu-cross-exe-wrapper'
EOF
	if ! has_apt; then
		# no Debian packages (Alpine, an RPM distribution): no cross compiler or target
		# libraries to install, so only Go, which needs neither, builds for the target here
		for t in $(installed_tools); do
			[ "$t" = go ] || die "this image has $t but not Debian's apt-get, which brings the $deb cross compiler and libraries: build this stage emulated (--strategy qemu), or from a Debian or Ubuntu image"
		done
	elif ubuntu_sources_name "$deb"; then
		# the target's package lists, unless the planner saw only tools installed (apt-get
		# fetches them when a package turns out to be the target's): half as much to fetch
		# and read for a stage that installs a compiler and make
		[ $tools_only = 1 ] || dpkg --add-architecture "$deb"
		# a compiler already in the image (gcc:12, rust:1, golang:1.22 are Debian with gcc):
		# its cross twin now; otherwise apt-get adds it when the stage installs one
		tools=$(installed_tools)
		need=$(toolchain_for "$tools")
		std=""
		if rust_std_for "$tools"; then std=$(dpkg-query -W -f '${Version}' rustc 2>/dev/null || true); fi
		if [ -n "$need$std" ]; then
			apt_real update -qq
			info=$(package_info sccache)
			need=$(toolchain_for "$tools")
			if [ -n "$need" ]; then
				say "installing the $deb toolchain: $need"
				apt_real install -y --no-install-recommends --no-remove $need
			fi
			if [ -n "$std" ]; then
				dir=$(std_dir)
				rust_std_fetch "$std" "$dir" ||
					die "NO TARGET BUILD: the $deb Rust standard library (libstd-rust-dev $std) could not be fetched"
				rust_std_unpack "$std" "$dir"
			fi
			rm -rf /var/lib/apt/lists/*
		fi
	fi
	# rustup's target now, while the setup runs as root; where root has no toolchain (rustup in
	# the home of the user the stage builds as), each cargo step adds it as that user
	if command -v rustup >/dev/null 2>&1; then
		rustup target add "$rust" || say "rustup could not add $rust for root: cargo's steps add it"
	fi
	say "set up to build for $deb ($gnu) on $build_deb"
}

# whether the target's architecture is one of dpkg's, and so in the stage's package lists
target_arch_added() { dpkg --print-foreign-architectures | grep -qx "$deb"; }

# the target's package lists where setup left them out: added, and fetched (fetched=1)
target_lists() {
	if ! target_arch_added; then
		dpkg --add-architecture "$deb"
		say "fetching the $deb package lists: a package is the target's"
		apt_real update -qq
		fetched=1
	fi
}

# Ubuntu serves the other architectures from a second archive (ubuntu-ports) that an image's
# sources do not name: false there, and apt-get says so when the stage installs packages
ubuntu_sources_name() {
	[ -r /etc/os-release ] && grep -q '^ID=ubuntu' /etc/os-release || return 0
	case "$1" in amd64 | i386) return 0 ;; esac
	grep -rqs "ubuntu-ports" /etc/apt/sources.list /etc/apt/sources.list.d/
}

installed_tools() {
	for t in gcc g++ cc c++ clang cargo rustc go; do
		if real "$t" >/dev/null; then printf '%s ' "$t"; fi
	done
}

# the cross packages a list of native tools calls for
toolchain_for() {
	pkgs=""
	c=0
	cxx=0
	rs=0
	for t in $1; do
		case "${t%%[:=/]*}" in
		g++ | c++ | build-essential | g++-[0-9]* | clang | clang-[0-9]* | clang++*) c=1 cxx=1 ;;
		gcc | cc | gcc-[0-9]*) c=1 ;;
		# rustc links through the C compiler; Go uses one (cgo) only where the stage has one,
		# as natively: a Go without gcc builds static programs, and so must its cross build
		cargo | rustc) c=1 rs=1 ;;
		esac
	done
	[ $c = 1 ] || return 0
	tp=$(echo "$gnu" | tr _ -)
	# the target's C library as the cross compiler's own (libc6-dev-<arch>-cross: without the
	# multiarch libc6-dev:<arch>'s krb5, tirpc and OpenSSL for the target; a -dev:<arch> that
	# needs it brings it), and the build machine's headers: a stage that installs a compiler
	# still compiles build-time helpers for the build machine (CC_FOR_BUILD)
	real "$gnu-gcc" >/dev/null || pkgs="gcc-$tp libc6-dev-$deb-cross libc6-dev"
	[ $cxx = 0 ] || real "$gnu-g++" >/dev/null || pkgs="$pkgs g++-$tp"
	# a compiler named by its version (gcc-13 beside the default): its cross twin, when the
	# lists have one (the stage then finds gcc-13 missing for the target, by name)
	for p in $(versioned_cross "$1"); do
		real "$gnu-${p%-"$tp"}" >/dev/null || ! in_lists "$p" || pkgs="$pkgs $p"
	done
	real ccache >/dev/null || pkgs="$pkgs ccache"
	# sccache is packaged from Debian 12 and Ubuntu 24.04 on: asked for when the lists have it
	[ $rs = 0 ] || real sccache >/dev/null || ! in_lists sccache || pkgs="$pkgs sccache"
	echo "$pkgs"
}

versioned_cross() { # LIST: the cross packages of the versioned GNU compilers LIST names
	for t in $1; do
		case "${t%%[:=/]*}" in gcc-[0-9]* | g++-[0-9]*)
			echo "${t%%[:=/]*}-$(echo "$gnu" | tr _ -)"
			;;
		esac
	done
}

sole_provider() { # NAME: the one package that provides a virtual NAME, if there is one
	providers=$(apt-cache showpkg "$1" 2>/dev/null |
		awk '/^Reverse Provides:/ { f = 1; next } f && NF { sub(/:.*/, "", $1); print $1 }' | sort -u)
	[ -n "$providers" ] && [ "$(printf '%s\n' "$providers" | wc -l)" = 1 ] && echo "$providers"
}

in_lists() { # NAME: true when $info (package_info) has a build-machine candidate for NAME
	printf '%s\n' "${info:-}" | awk -v p="$1" -v t="$deb" '$1 == p && $2 != t { f = 1 } END { exit !f }'
}

# Debian's rustc (not rustup's, which adds the target in setup) needs the target's standard
# library in /usr/lib/rustlib/<triple>/lib. Its package, libstd-rust-dev:<arch>, depends on the
# target's whole compiler (LLVM, ICU, z3: some 60 MB that only a rustc running on the target
# loads), so the kit unpacks just the library's two packages, of the build machine's rustc
# version, while apt-get installs the rest
rust_std_for() { # LIST: true when LIST names Debian's cargo or rustc and the library is missing
	for t in $1; do
		case "${t%%[:=/]*}" in cargo | rustc) ;; *) continue ;; esac
		! real rustup >/dev/null || return 1
		for f in /usr/lib/rustlib/"$rust"/lib/libstd-*.rlib; do [ ! -e "$f" ] || return 1; done
		return 0
	done
	return 1
}

# a folder for the library's packages and lists: in /tmp, whatever TMPDIR says, since its
# path goes unquoted into the options of the library's own apt
std_dir() { mktemp -d /tmp/buildorch-cross-std.XXXXXX; }

rust_std_fetch() { # VERSION DIR: libstd-rust-dev:<arch> of rustc VERSION and the libstd it links
	if target_arch_added; then
		own="" std_pkg="libstd-rust-dev:$deb" suffix=":$deb"
	else
		# a stage that installs only tools has the build machine's lists alone: the target's
		# are fetched into DIR, for these two packages, and the stage's apt reads one
		# architecture's lists as before (a second one costs every apt-get a second to read)
		mkdir -p "$2/lists/partial" "$2/cache/archives/partial"
		: >"$2/status"
		# and none of the image's hooks, which name the stage's own folders: Debian's images
		# delete /var/cache/apt/archives/*.deb after every update (docker-clean), which would
		# take the packages the stage's apt-get is fetching beside this one
		printf '#clear %s;\n' APT::Update::Pre-Invoke APT::Update::Post-Invoke \
			APT::Update::Post-Invoke-Success DPkg::Pre-Invoke DPkg::Post-Invoke >"$2/apt.conf"
		own="-c $2/apt.conf -o Dir::State::Lists=$2/lists -o Dir::Cache=$2/cache"
		own="$own -o Dir::State::status=$2/status -o APT::Architecture=$deb"
		own="$own -o APT::Architectures::=$deb -o APT::Sandbox::User=root"
		std_pkg=libstd-rust-dev suffix=""
		# shellcheck disable=SC2086
		apt_real $own -qq update >&2 || return 1
	fi
	# shellcheck disable=SC2086
	abi=$(apt-cache $own show "$std_pkg=$1" 2>/dev/null |
		sed -n 's/^Depends:.*\(libstd-rust-[0-9.]*\) (.*/\1/p')
	if [ -z "$abi" ]; then
		say "libstd-rust-dev $1 has no $deb build in the package lists"
		return 1
	fi
	# shellcheck disable=SC2086
	(cd "$2" && apt_real $own download -q -o APT::Sandbox::User=root "$std_pkg=$1" "$abi$suffix=$1") >&2
}

rust_std_unpack() { # VERSION DIR: what rust_std_fetch downloaded, into /usr/lib
	dpkg-deb -x "$2"/libstd-rust-dev_*.deb /
	# of the second package only the libraries rustc links (not the 60 MB rustc_driver)
	for f in "$2"/*.deb; do
		case "$f" in */libstd-rust-dev_*) continue ;; esac
		dpkg-deb --fsys-tarfile "$f" | tar -x -C / --wildcards './usr/lib/*/libstd-*' './usr/lib/*/libtest-*'
	done
	rm -rf "$2"
	say "unpacked the $deb Rust standard library ($1) for /usr/lib/rustlib/$rust"
}

# the compilers a stage names by version (`CC=gcc-12`, `clang-16`), each a wrapper as its
# unversioned name is, where the target has one (clang's own, gcc's cross twin; without it
# the build machine's stays, and the check names what it built): linked when a step starts,
# and after apt-get installs one
# the tools the kit stands in for, wrapped where the stage has them: a wrapper of a tool it
# lacks would answer `command -v gcc` (`command -v gcc || apt-get install gcc`). Kept up to
# date by each step and by apt-get, where the step's user may (a stage's own USER may not)
WRAPPED="cc gcc c++ g++ cpp ar ranlib nm strip objcopy objdump readelf clang clang++ pkg-config
pkgconf apt-get apt cargo go meson npm npx yarn pnpm bun pip pip3 python python3 sudo"
link_wrappers() {
	if [ -w "$KIT/bin" ]; then
		for tool in $WRAPPED; do
			if find_real "$tool"; then
				[ -e "$KIT/bin/$tool" ] || ln -s ../kit "$KIT/bin/$tool" 2>/dev/null || true
			else
				rm -f "$KIT/bin/$tool"
			fi
		done
	fi
	for f in /usr/bin/gcc-[0-9]* /usr/bin/g++-[0-9]* /usr/bin/cpp-[0-9]* /usr/bin/clang-[0-9]* \
		/usr/bin/clang++-[0-9]*; do
		n=${f##*/}
		[ -x "$f" ] && [ ! -e "$KIT/bin/$n" ] || continue
		case "$n" in clang*) ;; *) [ -x "/usr/bin/$gnu-$n" ] || continue ;; esac
		ln -s ../kit "$KIT/bin/$n" 2>/dev/null || true
	done
}

# -- run: the target's environment -----------------------------------------------------------
export_unset() { # NAME VALUE: a value the stage set itself wins
	eval "[ -n \"\${$1+x}\" ]" || export "$1=$2"
}

# NAME TOOL: a value the stage set that names the build machine's tool by its path
# (`ENV CC=/usr/bin/gcc`), which no wrapper first in PATH would reach: the kit's wrapper of
# that name instead, or the target's TOOL (ld, which has none), its arguments kept
by_path() {
	value=
	eval "value=\${$1-}"
	first=${value%% *}
	case "$first" in /*) ;; *) return 0 ;; esac
	n=${first##*/}
	find_real "$n" && [ "$first" -ef "$found" ] || return 0
	if [ -e "$KIT/bin/$n" ]; then
		export "$1=$KIT/bin/$n${value#"$first"}"
	elif [ "$n" = "$2" ]; then
		export "$1=$gnu-$2${value#"$first"}"
	fi
}

run() {
	load
	if [ "$native" = 1 ]; then exec "$@"; fi
	# rustup's folder, which its `. "$HOME/.cargo/env"` puts before the kit's wrappers unless
	# PATH has it: after them, so that its cargo is the kit's to wrap
	cargo_bin=${CARGO_HOME:-${HOME:-/root}/.cargo}/bin
	case ":$PLAIN:" in *":$cargo_bin:"*) ;; *) PLAIN=$PLAIN:$cargo_bin ;; esac
	link_wrappers
	build_cc=$(real gcc || real cc || echo /usr/bin/cc)
	build_cxx=$(real g++ || real c++ || echo /usr/bin/c++)
	for pair in CC:gcc CXX:g++ CPP:cpp AR:ar RANLIB:ranlib NM:nm STRIP:strip OBJCOPY:objcopy \
		OBJDUMP:objdump READELF:readelf LD:ld; do
		by_path "${pair%%:*}" "${pair#*:}"
		export_unset "${pair%%:*}" "$gnu-${pair#*:}"
	done
	export_unset PKG_CONFIG "$KIT/bin/$gnu-pkg-config"
	export_unset CC_FOR_BUILD "$build_cc"
	export_unset CXX_FOR_BUILD "$build_cxx"
	export_unset BUILD_CC "$build_cc"
	export_unset HOSTCC "$build_cc"
	# autoconf's configure reads these from the environment as --build and --host. With the
	# host alone (xx's `--host`), it checks whether it runs what it builds, through the emulator
	# the builder registered, and then runs its test programs as a build on the target does;
	# with both (Debian's way), where nothing runs them, it takes the answers their authors
	# wrote for a cross build, or stops ("cannot run test program while cross compiling")
	export_unset host_alias "$gnu"
	# and the build machine's triple as configure's cache holds it, so that no config.guess
	# (an old one may not know this machine) is needed to name it: in config.sub's form, which
	# configure splits into $build_cpu, $build_vendor and $build_os without reading it again
	runs=0
	if can_run; then
		runs=1
		export_unset ac_cv_build "$(canonical_triple "$build_gnu")"
	else
		export_unset build_alias "$build_gnu"
	fi
	link_qemu $runs
	export_unset CMAKE_TOOLCHAIN_FILE "$KIT/toolchain.cmake"
	export_unset GOOS linux
	export_unset GOARCH "$goarch"
	[ -z "$goarm" ] || export_unset GOARM "$goarm"
	# cgo stays on, as natively, when there is a C compiler (the cross one comes with it)
	if real "$gnu-gcc" >/dev/null; then export_unset CGO_ENABLED 1; fi
	r=$(echo "$rust" | tr - _)
	R=$(echo "$r" | tr '[:lower:]' '[:upper:]')
	# the kit's own compilers by path (and so ccache): cargo runs with the stage's own PATH
	export_unset "CC_$r" "$KIT/bin/$gnu-gcc"
	export_unset "CXX_$r" "$KIT/bin/$gnu-g++"
	export_unset "AR_$r" "$gnu-ar"
	export_unset "PKG_CONFIG_$r" "$KIT/bin/$gnu-pkg-config"
	export_unset "CARGO_TARGET_${R}_LINKER" "$gnu-gcc"
	# `cargo test` runs the target's tests through the emulator, with its loader and libraries
	[ $runs = 0 ] || export_unset "CARGO_TARGET_${R}_RUNNER" "$KIT/bin/$gnu-cross-exe-wrapper"
	export_unset "BINDGEN_EXTRA_CLANG_ARGS_$r" "--target=$gnu"
	export_unset PKG_CONFIG_ALLOW_CROSS 1
	# a target program the step runs (a test, a generator built with $(CC)) runs as natively
	# built ones do, through the emulator binfmt_misc registers (QEMU, which reads this):
	# with the cross compiler's loader and C library, unless the target's own are installed
	# (decided before the step installs the cross compiler: a prefix QEMU finds empty is ignored)
	target_loader
	[ -z "$libs" ] || export_unset QEMU_LD_PREFIX "/usr/$gnu"
	# the compiler caches: a cache mount buildorch adds to the stage's steps. ccache, a folder
	# per target; Go's own build cache, whose entries name their GOARCH, where the target's
	# standard library is compiled once instead of by every build (Go ships it precompiled for
	# the build machine at most)
	if [ -w /root/.cache/buildorch-cross ]; then
		export_unset CCACHE_DIR "/root/.cache/buildorch-cross/ccache-$deb"
		# ccache's depend mode: a compile that writes its dependencies (-MD: automake's,
		# CMake's, meson's) is keyed by the headers the compiler read, without a preprocessor
		# run of its own, which a cold build pays for nothing (brotli's compile: 8% over the
		# bare compiler, 2% in depend mode); a compile without -MD is cached as before
		export_unset CCACHE_DEPEND true
		export_unset GOCACHE /root/.cache/buildorch-cross/go-build
	fi
	PATH="$KIT/bin:$PLAIN"
	export PATH
	exec "$@"
}

# -- wrappers --------------------------------------------------------------------------------
target_tool() { # TOOL ARGS...: the target's own TOOL, its compilers through ccache
	tool=$1
	shift
	find_real "$gnu-$tool" ||
		die "$gnu-$tool is not installed: install $tool (or build-essential) in this stage before using it"
	case "$tool" in gcc | g++ | gcc-[0-9]* | g++-[0-9]*) compile cached "$found" "$@" ;; esac
	exec "$found" "$@"
}

# cached|plain COMPILER ARGS...: the target's compiler, without -march=native, -mcpu=native
# and -mtune=native: `native` names the processor the compiler runs on, this machine's, which
# the target's compiler does not know (a native build under QEMU finds no processor it knows
# in /proc/cpuinfo and builds for the target's baseline, as this does)
compile() {
	how=$1
	shift
	case " $* " in *" -march=native "* | *" -mcpu=native "* | *" -mtune=native "*)
		for a do
			shift
			case "$a" in -march=native | -mcpu=native | -mtune=native) ;; *) set -- "$@" "$a" ;; esac
		done
		;;
	esac
	[ "$how" = cached ] || exec "$@"
	# a configure step's probes (autoconf's conftest, CMake's try_compile, meson's checks)
	# compile faster than ccache stores them: cold, they cost a configure a quarter more
	case " $* " in *" conftest."* | */CMakeScratch/* | */CMakeTmp/* | */meson-private/*) exec "$@" ;; esac
	if [ -n "${CCACHE_DIR:-}" ] && [ -z "${BUILDORCH_CROSS_GO:-}" ] && find_real ccache; then
		ccache_compile "$found" "$@"
	fi
	exec "$@"
}

# CCACHE COMPILER ARGS...: through ccache in its depend mode, also where the build writes no
# dependency file (a plain Makefile's `$(CC) -c`, the cc crate): the compiler then writes one
# the kit throws away, and ccache keys the compile by the headers it names instead of running
# the preprocessor a second time, which a cold build pays for nothing (a fifth of Lua's
# compile). ccache leaves the file's name out of its key; what the build asks for is unchanged
ccache_compile() {
	case " $* " in *" -c "*) ;; *) exec "$@" ;; esac
	# GCC's own ways to ask for dependencies, which an added -MD would override
	[ -z "${DEPENDENCIES_OUTPUT:-}${SUNPRO_DEPENDENCIES:-}" ] || exec "$@"
	for a in "$@"; do
		case "$a" in
		# the build's own dependency file, arguments the kit cannot read (a response file),
		# and inputs the preprocessor never sees, for which GCC writes no dependency file
		-M* | -E | -Wp,-M* | @* | *.s | *.i | *.ii | assembler | cpp-output | c++-cpp-output) exec "$@" ;;
		esac
	done
	tmp=${TMPDIR:-/tmp}
	case "$tmp" in /*) ;; *) tmp=/tmp ;; esac
	deps=$(mktemp "$tmp/buildorch-cross-XXXXXX" 2>/dev/null) || exec "$@"
	trap 'rm -f "$deps"; exit 130' INT
	trap 'rm -f "$deps"; exit 143' TERM
	status=0
	"$@" -MD -MF "$deps" || status=$?
	rm -f "$deps"
	exit $status
}

# the folders a native pkg-config reads, in its order, with the target's triple. Debian's
# cross pkg-config leaves out /usr/lib/pkgconfig, where a package that is not multiarch puts
# its build machine's files; in a moved stage it also holds what the project installs with
# prefix /usr (a library built from source), cross-compiled, and a link with one of those
# few packages' files fails in any case (the linker skips another machine's library; where the
# project's build finds such an optional library, it then fails at the link, not quietly)
pkg_config() {
	libdir=/usr/local/lib/$gnu/pkgconfig:/usr/local/lib/pkgconfig:/usr/local/share/pkgconfig
	PKG_CONFIG_LIBDIR=$libdir:/usr/lib/$gnu/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig
	export PKG_CONFIG_LIBDIR
	unset PKG_CONFIG_SYSROOT_DIR
	p=$(real pkgconf || real pkg-config) ||
		die "pkg-config is not installed in this stage (apt-get install pkg-config)"
	status=0
	"$p" "$@" || status=$?
	[ $status = 0 ] || only_for_build_machine "$@"
	exit $status
}

# MODULE...: say which of them the build machine has and the target lacks: a -dev package
# the image came with (rust:1, gcc:12) or a native install, which the target needs too
only_for_build_machine() {
	for m in "$@"; do
		m=${m%% *}
		case "$m" in "" | -* | *[\<\>=]* | [0-9]*) continue ;; esac
		pc=/usr/lib/$build_gnu/pkgconfig/$m.pc
		[ -f "$pc" ] && [ ! -f "/usr/lib/$gnu/pkgconfig/$m.pc" ] || continue
		owner=$(dpkg -S "$pc" 2>/dev/null | sed -n '1s/:.*//p') || owner=""
		say "$m is installed for the build machine only${owner:+ ($owner)}: name ${owner:-its -dev package} in this stage's apt-get install, which installs it for $deb too"
	done
}

# apt-get install: libraries for the target (from each package's Multi-Arch and Section, as
# Debian's own cross builds decide), tools for the build machine, and the cross compiler when
# the stage installs a compiler. Every choice is printed.
# dpkg syncs every file it unpacks to disk, for a machine that may lose power mid-upgrade. A
# build step's files reach the image only when the step has ended, and a failed step leaves
# none, so the syncs buy nothing here and cost a seventh of the cross toolchain's install
# (Docker's Debian images once set this for every build: docker-apt-speedup)
UNSAFE_IO="-o DPkg::Options::=--force-unsafe-io"
apt_real() { PATH=$PLAIN /usr/bin/apt-get $UNSAFE_IO "$@"; }

# NAME...: a line per candidate (the build machine's and the target's): name, Architecture,
# Multi-Arch, Section, Source, Version
package_info() {
	targeted=""
	for p in "$@"; do targeted="$targeted $p:$deb"; done
	# shellcheck disable=SC2086
	apt-cache show --no-all-versions "$@" $targeted 2>/dev/null | awk '
		function out() { if (p != "") print p, a, (m == "" ? "-" : m), (c == "" ? "-" : c), (src == "" ? p : src), v; p = a = m = c = src = v = "" }
		/^Package:/ { p = $2 } /^Architecture:/ { a = $2 } /^Multi-Arch:/ { m = $2 }
		/^Section:/ { n = split($2, s, "/"); c = s[n] } /^Source:/ { src = $2 } /^Version:/ { v = $2 }
		/^$/ { out() } END { out() }' || true
}

# the lines of $info (package_info) for the build machine's candidates
build_machine_info() { printf '%s\n' "$info" | awk -v t="$deb" '$2 != t'; }

# NAME: verdict (target or native) and why, from NAME's metadata in $native_info, as Debian's
# own cross builds decide
decide() {
	pkg=$1
	# shellcheck disable=SC2046
	set -- $(printf '%s\n' "$native_info" | awk -v p="$pkg" '$1 == p { print $2, $3, $4, $5; exit }')
	arch_of=${1:-} ma=${2:-} sec=${3:-} src=${4:-$pkg}
	[ "$ma" != - ] || ma=""
	verdict=native
	why="a tool for the build machine"
	if [ "$pkg" = libc6-dev ] && { [ -n "$extra" ] || real "$gnu-gcc" >/dev/null; }; then
		# the target's C library is the cross compiler's own (libc6-dev-<arch>-cross): this
		# one serves the build machine's compiler (a -dev:<arch> that needs it still brings it)
		why="the $deb C library comes with the cross compiler"
	elif [ -z "$arch_of" ]; then
		why="not in the package lists (apt-get decides)"
	elif [ "$arch_of" = all ]; then
		why="Architecture: all"
	elif [ "$ma" = foreign ] || [ "$ma" = allowed ]; then
		why="Multi-Arch: $ma"
	elif [ "$ma" = same ] && case "$sec:$pkg" in libdevel:* | libs:* | oldlibs:*) true ;; *:librust-* | *:golang-*) false ;; *:*-dev) true ;; *) false ;; esac then
		# a library by its section, or by Debian's -dev naming in another one
		# (default-libmysqlclient-dev in database, libpython3-dev in python); not the sources
		# of Rust's and Go's registries (librust-clang-sys-dev needs the build machine's libclang)
		verdict=target
		why="Multi-Arch: same, Section: $sec"
	elif [ -z "$ma" ] && [ "$sec" = libdevel ]; then
		if [ "${rust_stage:-0}" = 1 ] && case "$pkg" in libclang-dev | libclang-[0-9]*-dev) true ;; *) false ;; esac then
			# a Rust stage's libclang is bindgen's, which -sys crates' build scripts load on
			# the build machine (clang-sys); nothing in a Rust build links it into the target
			why="bindgen loads it on the build machine (the stage builds Rust)"
		elif printf '%s\n' "$tool_sources" | grep -qx "$src"; then
			why="Section: libdevel, built from $src like a tool installed beside it"
		else
			verdict=target
			why="Section: libdevel, Multi-Arch: none (the build machine's copy cannot be installed beside it)"
		fi
	fi
}

apt_get() {
	case " $* " in *" install "*) ;; *) PATH=$PLAIN exec "/usr/bin/$called" "$@" ;; esac
	args=""
	names=""
	fetched=0
	takes_value=0
	for a in "$@"; do
		if [ $takes_value = 1 ]; then
			args="$args $a"
			takes_value=0
			continue
		fi
		case "$a" in
		-o | -t | -c | --option | --target-release | --default-release | --config-file) args="$args $a" takes_value=1 ;;
		-* | install) args="$args $a" ;;
		*) names="$names $a" ;;
		esac
	done
	# decided on the bare name: `libssl-dev=3.0.11-1` and `foo/bookworm-backports` keep their
	# version or release after the architecture (`libssl-dev:arm64=3.0.11-1`)
	bare=""
	for p in $names; do
		case "${p%%[=/]*}" in *:*) ;; *) bare="$bare ${p%%[=/]*}" ;; esac
	done
	# one look at the package lists (each apt-cache start costs a third of a second): every
	# name's candidate for the build machine and for the target, rustc's version, sccache, and
	# the cross twins of compilers named by version
	# shellcheck disable=SC2046
	info=$(package_info $bare rustc sccache $(versioned_cross "$bare"))
	native_info=$(build_machine_info)
	extra=$(toolchain_for "$names")
	# a stage whose steps run cargo (the planner's word, from the whole Dockerfile: rustup may
	# install it in a later step), or one that installs or has it
	rust_stage=${rust_steps:-0}
	case " $names " in *" cargo"[\ :=/]* | *" rustc"[\ :=/]*) rust_stage=1 ;; esac
	if [ $rust_stage = 0 ] && { real cargo || real rustc; } >/dev/null; then rust_stage=1; fi
	# a -dev library built from the same source as a tool the stage installs, now or in an
	# earlier step, serves that tool (libclang-dev beside clang): it stays native
	tool_sources=$(
		printf '%s\n' "$native_info" | awk '$4 != "libdevel" && $4 != "libs" { print $5 }'
		dpkg-query -W -f '${Section} ${source:Package}\n' 2>/dev/null |
			awk '$1 != "libdevel" && $1 != "libs" && $1 != "oldlibs" { print $2 }'
	)
	out=""
	crossed=""
	for p in $names; do
		# an architecture named already (`libfoo-dev:arm64`, not a version's epoch `=1:2.3`)
		name=${p%%[=/]*}
		pin=${p#"$name"}
		case "$name" in *:*)
			out="$out $p"
			[ "${name#*:}" != "$deb" ] || target_lists
			continue
			;;
		esac
		decide "$name"
		if [ -z "$arch_of" ] && provider=$(sole_provider "$name"); then
			# a virtual name (libz-dev): decided as the one package that provides it
			more=$(package_info "$provider")
			info="$info
$more"
			native_info=$(build_machine_info)
			decide "$provider"
			if [ $verdict = target ]; then
				out="$out $provider:$deb"
				crossed="$crossed $provider"
				say "$p -> $provider:$deb (it provides $name; $why)"
				continue
			fi
		fi
		if [ $verdict = target ]; then
			out="$out $name:$deb$pin"
			crossed="$crossed $name"
			say "$p -> $name:$deb$pin ($why)"
		else
			out="$out $p"
			say "$p -> $p, native ($why)"
		fi
	done
	# what the kit named for the target, the target must have (an architecture the Dockerfile
	# wrote itself is apt-get's to check)
	[ -z "$crossed" ] || target_lists
	if [ "$fetched" = 1 ]; then
		# shellcheck disable=SC2086
		info="$info
$(package_info $crossed)"
	fi
	for p in $crossed; do
		ubuntu_sources_name "$deb" ||
			die "NO TARGET BUILD: Ubuntu publishes $deb packages in its ubuntu-ports archive, which this image's apt sources do not name: add it for [arch=$deb] (and limit the others to the build machine's architecture) before apt-get, or use a Debian base"
		printf '%s\n' "$info" | awk -v p="$p" -v t="$deb" '$1 == p && $2 == t { f = 1 } END { exit !f }' ||
			die "NO TARGET BUILD: $p has no $deb build in the package lists (apt-get update first?); build the stage emulated (--strategy qemu), or drop the package"
	done
	[ -z "$extra" ] || say "adding the $deb toolchain: $extra"
	# --no-remove: apt fails rather than remove a build-machine package to make room
	[ -z "$extra$crossed" ] || args="$args --no-remove"
	args="$UNSAFE_IO$args"
	std=""
	# a simulation or a download installs nothing: nor does the kit
	case " $args " in
	*" -s "* | *" --simulate "* | *" --dry-run "* | *" --just-print "* | *" --no-act "* | \
		*" --recon "* | *" -d "* | *" --download-only "*) ;;
	*)
		if rust_std_for "$names"; then
			std=$(printf '%s\n' "$info" | awk -v t="$deb" '$1 == "rustc" && $2 != t { print $6; exit }')
		fi
		;;
	esac
	if [ -z "$std" ]; then
		# shellcheck disable=SC2086
		PATH=$PLAIN "/usr/bin/$called" $args $out $extra || exit $?
		link_wrappers
		return
	fi
	# fetched and unpacked beside apt-get's own work: the fetch waits on the network, and on
	# the target's lists where the stage has none (dpkg's unpacking keeps both cores busy)
	dir=$(std_dir)
	(rust_std_fetch "$std" "$dir" && rust_std_unpack "$std" "$dir") &
	unpacking=$!
	# shellcheck disable=SC2086
	PATH=$PLAIN "/usr/bin/$called" $args $out $extra || {
		status=$?
		wait "$unpacking" || true
		rm -rf "$dir"
		exit $status
	}
	wait "$unpacking" || std=""
	rm -rf "$dir"
	# the version apt-get chose (a pinned cargo can hold rustc back): the library must match it
	have=$(dpkg-query -W -f '${Version}' rustc 2>/dev/null || true)
	if [ -n "$have" ] && [ "$have" != "$std" ]; then
		say "rustc $have: the $deb standard library through apt-get (libstd-rust-dev:$deb=$have)"
		# not beside the library of another version, which rustc would find twice (E0464)
		[ -z "$std" ] || rm -rf "/usr/lib/rustlib/$rust"
		target_lists
		apt_real install -y --no-install-recommends --no-remove "libstd-rust-dev:$deb=$have"
	fi
	link_wrappers
}

# cargo build: for the target's triple, with the build machine's compilers for build scripts
# and proc-macros, and the outputs also where a native build puts them (target/release/app)
cargo_tool() {
	installed cargo && c=$found
	# the subcommand: the first word that is neither an option nor an option's value
	sub=""
	skip=0
	for a in "$@"; do
		if [ $skip = 1 ]; then
			skip=0
			continue
		fi
		case "$a" in
		--config | --color | -Z | -C | --manifest-path) skip=1 ;;
		+* | -*) ;;
		*)
			sub=$a
			break
			;;
		esac
	done
	case " $* " in *" --target "* | *" --target="*) sub=user-target ;; esac
	# `cargo install NAME` (not --path) installs a tool this build runs: the build machine's
	case "$sub $*" in install*--path*) ;; install*) sub=tool ;; esac
	build_machine_env
	# cargo-chef cooks the dependencies: for the target, so that the build reuses them
	after=$sub
	case "$sub" in
	chef) after=cook ;;
	# cargo-auditable builds through cargo build, with its dependency list embedded
	auditable)
		after=$(for a in "$@"; do
			case "${seen:-}:$a" in 1:-*) ;; 1:*)
				echo "$a"
				break
				;;
			esac
			[ "$a" != auditable ] || seen=1
		done)
		case "$after $*" in build* | b\ * | rustc*) ;; install*--path*) ;; *) exec "$c" "$@" ;; esac
		;;
	# and its tests, run as on the target (through the emulator), as a build there runs them;
	# where nothing runs the target's programs, for the build machine, as before
	test | t | bench) can_run || exec "$c" "$@" ;;
	build | b | rustc | install | doc | check | clippy) ;;
	*) exec "$c" "$@" ;;
	esac
	# a toolchain pinned by rust-toolchain.toml needs the target too (rustup's images)
	if r=$(real rustup); then "$r" target add "$rust" >/dev/null 2>&1 || true; fi
	profile=debug
	dir=${CARGO_TARGET_DIR:-${CARGO_BUILD_TARGET_DIR:-}}
	manifest=""
	prev=""
	inserted=0
	first=1
	for a in "$@"; do
		if [ $first = 1 ]; then
			set --
			first=0
		fi
		case "$prev" in
		--profile) profile=$a ;;
		--target-dir) dir=$a ;;
		--manifest-path) manifest=$a ;;
		esac
		prev=$a
		case "$a" in
		--release | -r) profile=release ;;
		--profile=*) profile=${a#--profile=} ;;
		--target-dir=*) dir=${a#--target-dir=} ;;
		--manifest-path=*) manifest=${a#--manifest-path=} ;;
		esac
		set -- "$@" "$a"
		[ "$a" = "$after" ] && [ $inserted = 0 ] && set -- "$@" --target "$rust" && inserted=1
	done
	case "$profile" in dev | test) profile=debug ;; bench) profile=release ;; esac
	case "$after" in build | b | rustc | test | t | bench) ;; *)
		with_sccache "$c" "$@"
		return 0
		;;
	esac
	if [ -z "$dir" ]; then
		dir=$("$c" metadata --no-deps --format-version 1 --offline ${manifest:+--manifest-path "$manifest"} 2>/dev/null |
			sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || true
	fi
	[ -n "$dir" ] || dir=target
	# a target folder an older kit mirrored .cargo-lock in (kept by a cache mount): one lock
	# again, or cargo waits on itself
	[ ! "$dir/$profile/.cargo-lock" -ef "$dir/$rust/$profile/.cargo-lock" ] ||
		rm -f "$dir/$profile/.cargo-lock"
	with_sccache "$c" "$@"
	mirror_outputs "$dir/$rust/$profile" "$dir/$profile"
	mirror_outputs "$dir/$rust/$profile/examples" "$dir/$profile/examples"
}

# sudo runs its command with a PATH of its own (secure_path) and a fresh environment, around
# the wrappers: `sudo apt-get install libfoo-dev` would install the build machine's library,
# `sudo make install` compile for it. The command runs through `kit run` instead, which sets
# the target's environment up again for the user it runs as
sudo_tool() {
	installed sudo && s=$found
	# sudo's own words: options (a value after those that take one), VAR=value settings
	own=0 skip=0
	for a in "$@"; do
		if [ $skip = 1 ]; then
			skip=0 own=$((own + 1))
			continue
		fi
		case "$a" in
		--)
			own=$((own + 1))
			break
			;;
		# editing, listing, validating, the version or help: no command to run
		-e | --edit | -l | --list | -v | --validate | -V | --version | --help | -K | \
			--remove-timestamp) exec "$s" "$@" ;;
		--user | --group | --other-user | --host | --prompt | --chdir | --chroot | --role | \
			--type | --command-timeout | --close-from) skip=1 ;;
		--*) ;;
		-*)
			# a cluster of letters (-nE), the last of which may take the next word (-Hu)
			rest=${a#-}
			while [ -n "$rest" ]; do
				c=${rest%"${rest#?}"} rest=${rest#?}
				case "$c" in
				[elvVK]) exec "$s" "$@" ;;
				[CDghpRrtTUu])
					[ -n "$rest" ] || skip=1
					break
					;;
				esac
			done
			;;
		*=*) ;;
		*) break ;;
		esac
		own=$((own + 1))
	done
	[ $own -lt $# ] || exec "$s" "$@"
	# a sudoers rule that allows some commands only (`builder ALL=(root) NOPASSWD:
	# /usr/bin/apt-get`) does not allow the kit: the command runs as written, and says so
	if ! "$s" -n -l "$KIT/kit" run >/dev/null 2>&1; then
		say "sudo lets this user run its command only as written: it runs without the $deb environment (add USER root before the step, or allow $KIT/kit in the sudoers rule)"
		exec "$s" "$@"
	fi
	i=0
	for a in "$@"; do
		[ $i != 0 ] || set --
		i=$((i + 1))
		set -- "$@" "$a"
		[ $i != "$own" ] || set -- "$@" "$KIT/kit" run
	done
	[ "$own" != 0 ] || set -- "$KIT/kit" run "$@"
	exec "$s" "$@"
}

# Node's and Python's installers, and the scripts npm runs (`npm run build`), work for the
# build machine, whose node and python load the native modules they compile (node-gyp and
# setuptools find compilers in PATH and CC): the stage moves only when none of their packages
# leave it
build_machine_tool() {
	installed "$called" && t=$found
	build_machine_env
	exec "$t" "$@"
}

build_machine_env() { # the step's environment as the stage set it, without the target's
	for v in CC CXX CPP AR RANLIB NM STRIP OBJCOPY OBJDUMP READELF LD PKG_CONFIG CMAKE_TOOLCHAIN_FILE \
		build_alias host_alias ac_cv_build CC_FOR_BUILD CXX_FOR_BUILD BUILD_CC HOSTCC GOOS GOARCH GOARM \
		CGO_ENABLED QEMU_LD_PREFIX; do
		unset "$v"
	done
	PATH=$PLAIN
	export PATH
}

# CMD...: CMD with rustc through sccache, its cache a folder per target in the steps' cache
# mount, unless the stage names a wrapper of its own. The server runs on a port of its own and
# stops with the step: on sccache's fixed port 4226 of a shared loopback (--network host)
# concurrent steps would meet one server, which compiles in another container and dies with it
# (neherlab/treetime#762)
with_sccache() {
	if own_rustc_wrapper "$@" || [ ! -w /root/.cache/buildorch-cross ] || ! find_real sccache; then
		"$@"
		return
	fi
	sccache=$found
	# sccache's disk cache takes one server at a time ("concurrent servers will race",
	# sccache's docs/Local.md): a step that finds the folder in use compiles without it
	lock=/root/.cache/buildorch-cross/sccache-$deb.lock
	if ! find_real flock; then
		"$@"
		return
	fi
	exec 9>"$lock"
	if ! "$found" -n 9; then
		say "another step is using the $deb sccache folder: this one compiles without it"
		exec 9>&-
		"$@"
		return
	fi
	SCCACHE_DIR=/root/.cache/buildorch-cross/sccache-$deb
	SCCACHE_SERVER_PORT=$(($(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000))
	# a server lost on the way leaves rustc to compile on its own
	SCCACHE_IGNORE_SERVER_IO_ERROR=1
	export SCCACHE_DIR SCCACHE_SERVER_PORT SCCACHE_IGNORE_SERVER_IO_ERROR
	# started before the step: one that takes longer than sccache's 10 s to come up on a loaded
	# machine fails the first rustc instead (mozilla/sccache#317), where the step can go without
	if ! "$sccache" --start-server >/dev/null 2>&1; then
		say "sccache's server did not start: this step compiles without it"
		"$sccache" --stop-server >/dev/null 2>&1 || true
		exec 9>&-
		"$@"
		return
	fi
	# through a name of the kit's: the cc crate sends C compiles through a RUSTC_WRAPPER named
	# sccache too, and those are ccache's (whose direct mode skips the preprocessor)
	RUSTC_WRAPPER=$KIT/rustc-cache
	export RUSTC_WRAPPER
	status=0
	"$@" || status=$?
	# the step's figures, as the templates print them (buildorch reports the hit rate)
	"$sccache" --show-stats 2>/dev/null |
		sed -n 's/^\(Cache hits\|Cache misses\) \+\([0-9]\+\)$/sccache: \1 \2/p' >&2 || true
	"$sccache" --stop-server >/dev/null 2>&1 || true
	exec 9>&-
	return $status
}

# CARGO ARGS...: true when the stage chose its rustc wrapper itself (environment, an argument,
# or cargo's config: the project's, from the working folder up, and cargo's home)
own_rustc_wrapper() {
	[ -z "${RUSTC_WRAPPER+x}${CARGO_BUILD_RUSTC_WRAPPER+x}${RUSTC_WORKSPACE_WRAPPER+x}${CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER+x}" ] ||
		return 0
	case " $* " in *rustc-wrapper* | *rustc-workspace-wrapper*) return 0 ;; esac
	d=$PWD
	while :; do
		for f in "$d/.cargo/config.toml" "$d/.cargo/config"; do
			! grep -qs 'rustc-\(workspace-\)\?wrapper' "$f" || return 0
		done
		[ -n "$d" ] && [ "$d" != / ] || break
		d=${d%/*}
	done
	home=${CARGO_HOME:-${HOME:-/root}/.cargo}
	grep -qs 'rustc-\(workspace-\)\?wrapper' "$home/config.toml" "$home/config"
}

# FROM TO: the top-level files (binaries, libraries), hard-linked. Not the hidden ones: cargo
# locks .cargo-lock in both folders, and a hard link makes them one lock it then waits on
# itself for, in the step's next cargo run (a cache mount on target/ keeps it for the next build)
mirror_outputs() {
	[ -d "$1" ] || return 0
	mkdir -p "$2"
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		ln -f "$f" "$2/" 2>/dev/null || cp -p "$f" "$2/"
	done
}

# go install: cross-compiled binaries land in bin/<os>_<arch>/ (and GOBIN is refused,
# golang/go#57485); put them where a native install would
go_tool() {
	installed go && g=$found
	# the compiles Go runs itself (cgo's and its probes) skip ccache: Go's build cache keeps
	# their results with the package's, so ccache would store each a second time, which costs
	# a cold cgo package a third more. Not for `go generate` or `go run`, whose programs may
	# compile C of their own
	case "${1:-}" in
	-C | --C) sub=${3:-} ;;
	-C=* | --C=*) sub=${2:-} ;;
	*) sub=${1:-} ;;
	esac
	case "$sub" in build | install | test | vet)
		BUILDORCH_CROSS_GO=1
		export BUILDORCH_CROSS_GO
		;;
	esac
	[ "$sub" = install ] || exec "$g" "$@"
	for a in "$@"; do
		# `go install tool@version` installs a tool this build runs: the build machine's, with
		# its own compilers for cgo (not an option's value: `-ldflags=-X main.mail=a@b`)
		case "$a" in -* | *=*) ;; *@*)
			unset GOOS GOARCH GOARM CGO_ENABLED CC CXX PKG_CONFIG
			PATH=$PLAIN
			export PATH
			exec "$g" "$@"
			;;
		esac
	done
	gobin=${GOBIN:-}
	unset GOBIN
	"$g" "$@"
	gopath=$("$g" env GOPATH | cut -d: -f1)
	[ -n "$gobin" ] || gobin=$gopath/bin
	mirror_outputs "$gopath/bin/${GOOS}_$GOARCH" "$gobin"
	# and only there: a native install leaves no such folder for `COPY --from=... bin/` to ship
	rm -rf "$gopath/bin/${GOOS:?}_$GOARCH"
}

meson_tool() {
	installed meson && m=$found
	case "${1:-}" in
	compile | install | test | configure | introspect | dist | subprojects | wrap | init | rewrite | devenv | env2mfile | \
		-v | --version | -h | --help)
		exec "$m" "$@" ;;
	"") exec "$m" ;;
	esac
	cross="--cross-file $KIT/meson.cross"
	! can_run || cross="$cross --cross-file $KIT/meson-run.cross"
	# the libdir meson gives a native build there (its own test: Debian, dpkg-architecture),
	# unless the project's meson.build sets one, which a machine file would override; a
	# --libdir the step gives wins
	if [ -f /etc/debian_version ] && find_real dpkg-architecture && ! grep -qs "libdir=" meson.build; then
		cross="$cross --cross-file $KIT/meson-libdir.cross"
	fi
	# shellcheck disable=SC2086
	case "$1" in
	setup) shift && exec "$m" setup $cross "$@" ;;
	*) exec "$m" $cross "$@" ;; # `meson builddir`, `meson --prefix=/usr builddir`
	esac
}

# -- the target's programs -------------------------------------------------------------------
# the target's program loader: its own, else the cross compiler's (and its C library)
target_loader() {
	if [ -e "$loader" ]; then l=$loader libs=""; else l=/usr/$gnu/lib/${loader##*/} libs=/usr/$gnu/lib; fi
}

# TRIPLE: as config.sub writes it, its vendor named (Debian's x86_64-linux-gnu is
# x86_64-pc-linux-gnu, aarch64-linux-gnu aarch64-unknown-linux-gnu)
canonical_triple() {
	case "$1" in
	x86_64-linux* | i?86-linux*) echo "${1%%-*}-pc-${1#*-}" ;;
	s390*-linux*) echo "${1%%-*}-ibm-${1#*-}" ;;
	*-linux*) case "${1#*-}" in linux*) echo "${1%%-*}-unknown-${1#*-}" ;; *) echo "$1" ;; esac ;;
	*) echo "$1" ;;
	esac
}

# true when this builder runs the target's programs (an emulator registered through
# binfmt_misc, or a processor that runs them): the loader the wrapper uses, with --version
can_run() {
	target_loader
	[ -x "$l" ] && "$l" --version >/dev/null 2>&1
}

# RUNS: QEMU's user-mode emulator by the names a cross-aware build calls it (brotli's tests
# run `qemu-aarch64 PROGRAM` when the compiler's path names aarch64): where the builder runs
# the target's programs (RUNS=1; a build that asks `command -v qemu-aarch64` before its tests
# finds none where none would run) and the stage has no QEMU of its own
link_qemu() {
	[ -w "$KIT/bin" ] || return 0
	q=$(qemu_name "$deb")
	for tool in "qemu-$q" "qemu-$q-static"; do
		if [ "$1" = 1 ] && ! find_real "$tool"; then
			[ -e "$KIT/bin/$tool" ] || ln -s ../kit "$KIT/bin/$tool" 2>/dev/null || true
		else
			rm -f "$KIT/bin/$tool"
		fi
	done
}

# DEB: the target's name in QEMU's programs (qemu-aarch64)
qemu_name() {
	case "$1" in
	arm64) echo aarch64 ;; armhf) echo arm ;; ppc64el) echo ppc64le ;; amd64) echo x86_64 ;;
	*) echo "$1" ;;
	esac
}

# QEMU's options that take a value, each with the variable it reads instead (qemu-user's
# linux-user/main.c): -E and -U add to theirs
QEMU_OPTIONS="L:LD_PREFIX cpu:CPU E:SET_ENV U:UNSET_ENV s:STACK_SIZE g:GDB d:LOG D:LOG_FILENAME
B:GUEST_BASE R:RESERVED_VA p:PAGESIZE seed:RAND_SEED"

# [OPTION...] PROGRAM ARGS...: as qemu-<arch>, the program through the emulator the builder
# registered (binfmt_misc, which takes no options): QEMU's options as the environment it reads
qemu_stand_in() {
	# a QEMU the stage installed after the link was made (by a step that could not remove it)
	if find_real "$called"; then exec "$found" "$@"; fi
	while [ $# -gt 0 ]; do
		# QEMU takes -option and --option alike
		o=$1
		case "$o" in --?*) o=${o#-} ;; *) ;; esac
		case "$o" in
		-strace)
			export QEMU_STRACE=1
			shift
			continue
			;;
		--)
			shift
			break
			;;
		-*) ;;
		*) break ;;
		esac
		var="" known=""
		for pair in $QEMU_OPTIONS; do
			known="$known -${pair%%:*}"
			[ "-${pair%%:*}" != "$o" ] || var=QEMU_${pair#*:}
		done
		[ -n "$var" ] || die "$called $1: not an option this stand-in passes on to the emulator the builder registered (it takes -strace$known); run the program as it is (binfmt_misc runs it through QEMU)"
		[ $# -ge 2 ] || die "$called $1: the option needs a value"
		eval "old=\${$var:-}"
		case "$var" in QEMU_SET_ENV | QEMU_UNSET_ENV) value=${old:+$old,}$2 ;; *) value=$2 ;; esac
		export "$var=$value"
		shift 2
	done
	[ $# -gt 0 ] || die "usage: $called [-L PREFIX] [-cpu CPU] [-E VAR=VALUE] [-U VAR] [OPTION VALUE...] PROGRAM [ARG...]"
	can_run || die "$called: no emulator for $gnu is registered with this builder (docker run --privileged --rm tonistiigi/binfmt --install all)"
	# QEMU opens the program by its path, also a bare name (not through PATH)
	program=$1
	shift
	case "$program" in */*) ;; *) program=./$program ;; esac
	exe_wrapper "$program" "$@"
}

# PROGRAM ARGS...: run through that loader, named: the program's own interpreter path may not
# exist here, and QEMU_LD_PREFIX serves only QEMU (not a processor running i386 natively)
exe_wrapper() {
	target_loader
	if [ -n "$libs" ]; then
		# and the programs it starts (a test running the program it tests) through QEMU, as
		# the steps' own environment gives them (cargo's is the build machine's)
		export_unset QEMU_LD_PREFIX "/usr/$gnu"
		exec "$l" --library-path "$libs" "$@"
	fi
	exec "$@"
}

# -- verify ----------------------------------------------------------------------------------
verify() {
	load
	[ "$native" = 0 ] || return 0
	# a path a later stage copies that the stage did not make: the COPY would stop on it,
	# saying only "not found"; a build can make less when it cross-compiles (it asked)
	for top in "$@"; do
		case "$top" in *[*?[]*) continue ;; esac
		# under a folder the stage's user cannot enter (USER app, /root/...): COPY reads as root
		d=${top%/*}
		while [ -n "$d" ] && [ ! -e "$d" ]; do d=${d%/*}; done
		[ -z "$d" ] || [ -x "$d" ] || continue
		[ -e "$top" ] || [ -L "$top" ] ||
			die "NOT BUILT: $top, which a later stage copies, is not there after the cross-compiled steps: the build made less than a native one would (a meson.build that asks meson.is_cross_build(), a CMakeLists.txt that asks CMAKE_CROSSCOMPILING), or the project builds it for other machines only, or the step did not build it at all; build the stage emulated (--strategy qemu) to compare"
	done
	report=$(for top in "$@"; do
		[ -e "$top" ] || continue
		find -H "$top" -type f 2>/dev/null | while IFS= read -r f; do
			head=$(od -An -tu1 -N20 "$f" 2>/dev/null | tr -s ' \n' '  ')
			# shellcheck disable=SC2086
			set -- $head
			[ $# -ge 20 ] && [ "$1" = 127 ] && [ "$2" = 69 ] && [ "$3" = 76 ] && [ "$4" = 70 ] || continue
			if [ "$6" = 1 ]; then m=$((${19} + 256 * ${20})); else m=$((${19} * 256 + ${20})); fi
			# a processor's machine only (not eBPF objects and the like)
			case "$m" in 2 | 3 | 8 | 20 | 21 | 22 | 40 | 62 | 183 | 243 | 258) ;; *) continue ;; esac
			if [ "$m" = "$machine" ] && [ "$5" = "$class" ]; then echo ok; else echo "bad $m $5 $f"; fi
		done
	done)
	count=$(printf '%s\n' "$report" | grep -c . || true)
	bad=$(printf '%s\n' "$report" | grep '^bad ' || true)
	if [ -n "$bad" ]; then
		printf '%s\n' "$bad" | while read -r _ m c f; do
			case "$m" in 62) m=x86-64 ;; 183) m=aarch64 ;; 40) m=arm ;; 3) m=i386 ;; 243) m=riscv ;;
			21) m=ppc64 ;; 22) m=s390 ;; *) m="machine $m" ;; esac
			# what installs there builds a tool for this stage to run, so the build machine's
			case "$f" in
			*/cargo/bin/* | */.cargo/bin/*) why=" (\`cargo install NAME\` builds a tool this stage runs, for the build machine; \`cargo install --path\` builds for the target)" ;;
			*/go/bin/*) why=" (\`go install PACKAGE@VERSION\` builds a tool this stage runs, for the build machine; without @VERSION it builds for the target)" ;;
			*) why="" ;;
			esac
			say "WRONG ARCHITECTURE: $f is $m ($((c * 32))-bit), not $gnu$why"
		done
		die "files the later stages copy were not built for $gnu (see above)"
	fi
	say "verified $count ELF file(s) for $gnu"
}

called=${0##*/}
case "$called" in
kit | kit.sh)
	cmd=${1:-}
	[ $# = 0 ] || shift
	case "$cmd" in
	setup) setup "$@" ;;
	run) run "$@" ;;
	verify) verify "$@" ;;
	can-run)
		load
		[ "$native" = 0 ] || exit 0
		can_run
		;;
	*) die "usage: kit setup [rust] [tools] | kit run CMD... | kit verify PATH... | kit can-run" ;;
	esac
	;;
*)
	load
	case "$called" in
	cc | gcc | *-gcc) target_tool gcc "$@" ;;
	c++ | g++ | *-g++) target_tool g++ "$@" ;;
	cpp | ar | ranlib | nm | strip | objcopy | objdump | readelf | gcc-[0-9]* | g++-[0-9]* | cpp-[0-9]*)
		target_tool "$called" "$@"
		;;
	clang | clang++ | clang-[0-9]* | clang++-[0-9]*)
		installed "$called"
		compile plain "$found" --target="$gnu" "$@"
		;;
	pkg-config | pkgconf | *-pkg-config) pkg_config "$@" ;;
	apt-get | apt) apt_get "$@" ;;
	cargo) cargo_tool "$@" ;;
	go) go_tool "$@" ;;
	npm | npx | yarn | pnpm | bun | pip | pip3) build_machine_tool "$@" ;;
	# `python3 -m pip` installs for the interpreter that runs it, the build machine's, as pip
	# does; any other use runs as it is
	python | python3)
		case "${1:-} ${2:-}" in "-m pip" | "-m pip3" | "-m ensurepip") build_machine_tool "$@" ;; esac
		installed "$called"
		exec "$found" "$@"
		;;
	meson) meson_tool "$@" ;;
	sudo) sudo_tool "$@" ;;
	# as Debian's cross-exe-wrapper (trixie on): the target's program, through the emulator
	*-cross-exe-wrapper) exe_wrapper "$@" ;;
	qemu-*) qemu_stand_in "$@" ;;
	rustc-cache)
		installed sccache
		exec "$found" "$@"
		;;
	*) die "no wrapper for $called" ;;
	esac
	;;
esac
