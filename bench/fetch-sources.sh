#!/usr/bin/env bash
# Fetches the upstream sources of real third-party projects for the benchmarks from Debian,
# into bench/.sources/NAME (not tracked). Idempotent.
#   bench/fetch-sources.sh lua5.4 golang-toml   source packages: their upstream tarball
#   bench/fetch-sources.sh crate:hexyl          a Rust crate, from Debian's librust-NAME-dev,
#                                               its dependencies vendored (vendor/, .cargo/)
# A crate's dev-dependencies are dropped from its Cargo.toml (as for a build without tests),
# so that cargo resolves it offline; where Debian's packaging turned off its examples
# (`autoexamples = false` and no [[example]]), they are on again: `cargo build --example NAME`
# builds one that needs no dev-dependency.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest="$here/.sources"
mkdir -p "$dest"
state="$dest/.apt"
mkdir -p "$state/lists/partial"

# the archive this machine already uses (never a hard-coded host)
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[[ -n $uri ]] || uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null)
[[ -n $uri ]] || { echo "no Debian archive URI in this machine's apt sources" >&2; exit 1; }
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $codename main" > "$state/sources.list"
apt_opts=(-oDir::Etc::SourceList="$state/sources.list" -oDir::Etc::SourceParts=/dev/null
          -oDir::State::Lists="$state/lists" -oAPT::Sandbox::User=root)

updated=""
for package in "$@"; do
  if [[ $package == crate:* ]]; then
    crate=${package#crate:}
    if [[ -d $dest/$crate ]]; then echo "ok: $crate"; continue; fi
    work=$(mktemp -d "$dest/.fetch-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    # the crate and every crate it may depend on (Debian names each librust-NAME-dev; the
    # `+feature` packages are empty), as cargo vendor would lay them out
    mapfile -t debs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "librust-$crate-dev" |
      sed -n 's/^\(librust-[^+ ]*-dev\)$/\1/p' | sort -u)
    (cd "$work" && apt-get -qq download "${debs[@]}")
    for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/x"; done
    src=$(ls -d "$work"/x/usr/share/cargo/registry/"$crate"-[0-9]*/ | head -n1)
    awk '/^\[dev-dependencies/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$src/Cargo.toml" >"$src/Cargo.toml.new"
    grep -q '^\[\[example\]\]' "$src/Cargo.toml.new" || sed -i '/^autoexamples = false$/d' "$src/Cargo.toml.new"
    mv "$src/Cargo.toml.new" "$src/Cargo.toml"
    rm -f "$src/.cargo-checksum.json"
    mv "$src" "$work/crate"
    if compgen -G "$work/x/usr/share/cargo/registry/*/" >/dev/null; then
      # cargo reads the dependencies from vendor/, offline (`cargo vendor`'s layout)
      mv "$work/x/usr/share/cargo/registry" "$work/crate/vendor"
      mkdir -p "$work/crate/.cargo"
      printf '%s\n' '[source.crates-io]' 'replace-with = "vendored-sources"' '' \
        '[source.vendored-sources]' 'directory = "vendor"' >"$work/crate/.cargo/config.toml"
    fi
    mv "$work/crate" "$dest/$crate"
    rm -rf "$work"; trap - EXIT
    echo "fetched: crate $crate (librust-$crate-dev, ${#debs[@]} crates with what it depends on)"
    continue
  fi
  if [[ -d $dest/$package ]]; then echo "ok: $package"; continue; fi
  if [[ -z $updated ]]; then apt-get "${apt_opts[@]}" -qq update; updated=1; fi
  work=$(mktemp -d "$dest/.fetch-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get "${apt_opts[@]}" -qq source --download-only "$package")
  orig=$(ls "$work"/*.orig.tar.* | head -n1)
  mkdir "$work/src" && tar -xf "$orig" -C "$work/src" --strip-components=1
  mv "$work/src" "$dest/$package"
  rm -rf "$work"; trap - EXIT
  echo "fetched: $package ($(basename "$orig"))"
done
